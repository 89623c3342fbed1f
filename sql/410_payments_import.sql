-- Bank statement import (issue 7): the one write path for bank_statements and bank_transactions. Both ways in
-- parse the file into the same document (src/bank/document.ts) and end in internal.bank_import_staged, which
-- validates everything again before it stores anything — one transaction, nothing partial, the file hash makes a
-- re-import for the same ESCO a no-op — and stores the lines of all the file's statements with one INSERT:
--   * the CLI (`flows bank import`, src/bank/import.ts) COPYs the lines into this session's
--     pg_temp.bank_line_staging (internal.open_bank_staging) and passes the document without them;
--   * integrations (service role, POST /rpc/bank_import_statement) post the whole document as JSON, and
--     public.bank_import_statement stages its lines in the same table.
-- Document shape and rules: docs/payments.md.

drop function if exists internal.bank_import(uuid, jsonb, text);

-- No `set search_path` (it is not SECURITY DEFINER and qualifies what it calls), so that it is inlined.
create or replace function internal.is_iso_date(value text) returns boolean
language sql immutable
as $$
  select case
    when value is null then false
    when value !~ '^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' then false
    else pg_catalog.substr(value, 9, 2)::int <= extract(day from (pg_catalog.make_date(pg_catalog.substr(value, 1, 4)::int,
           pg_catalog.substr(value, 6, 2)::int, 1) + interval '1 month' - interval '1 day'))
  end
$$;
comment on function internal.is_iso_date(text) is 'Whether the text is a real calendar date written YYYY-MM-DD.';
revoke all on function internal.is_iso_date(text) from public;

-- This session's staging table for statement lines, emptied; the caller fills it (COPY or INSERT). Every value is
-- text, so that internal.bank_import_staged can name a bad one instead of failing on a cast. Like
-- pg_temp.interval_hh_staging (sql/120_flows_intervals.sql): owned by the definer, insert granted to PUBLIC,
-- harmless since only this session can reach it.
create or replace function internal.open_bank_staging() returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  staging regclass := pg_catalog.to_regclass('pg_temp.bank_line_staging');
begin
  if staging is null then
    create temporary table pg_temp.bank_line_staging (
      statement_position integer,  -- the statement's position in the document's statements (1-based)
      position integer,            -- the line's position in its statement (1-based)
      path text,
      entry_reference text,
      booking_date text,
      value_date text,
      booked text,
      amount text,
      currency text,
      reversal text,
      bank_transaction_code text,
      counterparty_name text,
      counterparty_account text,
      remittance_information text,
      end_to_end_id text
    );
    grant insert on pg_temp.bank_line_staging to public;
  elsif not exists (select 1 from pg_catalog.pg_class c
                     where c.oid = staging and c.relkind = 'r'
                       and c.relowner = (select o.oid from pg_catalog.pg_roles o where o.rolname = current_user)) then
    raise exception 'pg_temp.bank_line_staging was not created by internal.open_bank_staging'
      using errcode = '42501', hint = 'Drop your own pg_temp.bank_line_staging and call internal.open_bank_staging().';
  end if;
  truncate pg_temp.bank_line_staging;
end
$$;
comment on function internal.open_bank_staging() is
  'Creates or empties this session''s staging table pg_temp.bank_line_staging for internal.bank_import_staged.';
revoke all on function internal.open_bank_staging() from public;

-- The importing caller's ESCO by code: an operator's or a service token's ESCOs; the worker and the owner (CLI)
-- any. Raises 42501 for other roles and PT404 for an ESCO the caller may not import for.
create or replace function internal.bank_import_esco(esco_code text) returns uuid
language plpgsql stable security definer
set search_path = ''
as $$
declare
  -- The role the request runs as (SET ROLE survives SECURITY DEFINER), else the login.
  caller text := coalesce(nullif(current_setting('role', true), 'none'), session_user);
  allowed uuid[];  -- null: every ESCO
  esco_id uuid;
begin
  if caller = 'operator' then
    allowed := internal.operator_escos();
  elsif caller = 'service' then
    allowed := internal.service_escos();
  elsif caller <> 'worker' and not pg_catalog.pg_has_role(caller, 'flows_owner', 'usage') then
    raise exception 'role % may not import bank statements', caller
      using errcode = '42501', hint = 'Statements are imported by operators, services and the CLI.';
  end if;
  select e.id into esco_id from flows.escos e
   where e.code = esco_code and (allowed is null or e.id = any (allowed));
  if not found then
    raise exception 'no ESCO % among the caller''s ESCOs', coalesce(esco_code, 'null')
      using errcode = 'PT404', hint = 'Check the ESCO code (flows.escos.code).';
  end if;
  return esco_id;
end
$$;
comment on function internal.bank_import_esco(text) is
  'The id of the ESCO a caller imports a bank statement for (by code), or raises 42501 / PT404.';
revoke all on function internal.bank_import_esco(text) from public;

-- Validates and stores the document's statements with the lines staged in pg_temp.bank_line_staging (the
-- document's own `entries` are not read). Every check runs over all lines at once; the first problem is raised,
-- naming its XML path or line, and nothing is stored.
create or replace function internal.bank_import_staged(esco_id uuid, document jsonb, imported_by text)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over arrays and fresh rows without statistics
as $$
declare
  sha text := document ->> 'file_sha256';
  staging regclass := pg_catalog.to_regclass('pg_temp.bank_line_staging');
  st jsonb;
  st_path text;
  st_position integer := 0;
  acct public.esco_bank_accounts;
  -- per statement, by position in the document
  paths text[] := '{}';
  accounts uuid[] := '{}';
  currencies text[] := '{}';
  periods_to date[] := '{}';
  statement_ids uuid[] := '{}';
  bad record;
  results jsonb;
  total_stored integer;
begin
  if document is null or jsonb_typeof(document) <> 'object' then
    raise exception 'the statement document must be a JSON object' using errcode = '22023';
  end if;
  if sha is null or sha !~ '^[0-9a-f]{64}$' then
    raise exception 'file_sha256 must be the SHA-256 of the file, 64 lower-case hex digits'
      using errcode = '22023', hint = 'Hash the file exactly as received.';
  end if;
  if coalesce(document ->> 'format', '') not in ('camt.053', 'csv', 'ofx') then
    raise exception 'format must be camt.053, csv or ofx' using errcode = '22023';
  end if;
  if jsonb_typeof(document -> 'statements') is distinct from 'array' or jsonb_array_length(document -> 'statements') = 0 then
    raise exception 'the file holds no statement' using errcode = '22023', hint = 'statements must be a non-empty array.';
  end if;
  if staging is null or not exists (
       select 1 from pg_catalog.pg_class c
        where c.oid = staging and c.relkind = 'r'
          and c.relowner = (select o.oid from pg_catalog.pg_roles o where o.rolname = current_user)) then
    raise exception 'no staged statement lines in this session'
      using errcode = '55000', hint = 'Call internal.open_bank_staging() and fill pg_temp.bank_line_staging first.';
  end if;

  -- Each statement: the account (one of this ESCO's — never say whose it is otherwise), currency, period, balances.
  for st in select value from jsonb_array_elements(document -> 'statements') loop
    st_position := st_position + 1;
    st_path := coalesce(st ->> 'path', format('statements[%s]', st_position));
    select a.* into acct from public.esco_bank_accounts a
     where a.esco = esco_id
       and ((st ->> 'iban' is not null and a.iban = upper(replace(st ->> 'iban', ' ', '')))
         or (st ->> 'iban' is null and a.sort_code = st ->> 'sort_code' and a.account_number = st ->> 'account_number')
         -- a file that names no account (bank CSV) goes to the ESCO's only account
         or (st ->> 'iban' is null and st ->> 'sort_code' is null
             and (select count(*) from public.esco_bank_accounts o where o.esco = esco_id) = 1));
    if not found then
      raise exception '%: the statement''s account is not a bank account of this ESCO', st_path
        using errcode = 'PT403',
              hint = 'Add the account to public.esco_bank_accounts of the ESCO that owns it; a statement is never booked to another ESCO.';
    end if;
    if st ->> 'currency' is distinct from acct.currency then
      raise exception '%: statement currency % differs from the account currency %', st_path,
          coalesce(st ->> 'currency', 'null'), acct.currency
        using errcode = '22023', hint = 'One currency per account.';
    end if;
    if (st ->> 'period_from' is not null and not internal.is_iso_date(st ->> 'period_from'))
       or (st ->> 'period_to' is not null and not internal.is_iso_date(st ->> 'period_to')) then
      raise exception '%: the statement period is not a valid date range', st_path using errcode = '22007';
    end if;
    if coalesce(st ->> 'opening_balance', '0') !~ '^-?[0-9]{1,12}(\.[0-9]{1,2})?$'
       or coalesce(st ->> 'closing_balance', '0') !~ '^-?[0-9]{1,12}(\.[0-9]{1,2})?$' then
      raise exception '%: a balance is not an exact amount with at most 2 decimals', st_path using errcode = '22023';
    end if;
    paths := paths || st_path;
    accounts := accounts || acct.id;
    currencies := currencies || acct.currency;
    periods_to := periods_to || (st ->> 'period_to')::date;
  end loop;

  -- The same file twice for this ESCO (even concurrently): the second import waits for the first, then is a no-op.
  -- Only after every statement's account proved to be this ESCO's, and only this ESCO's imports count: the hash is
  -- the caller's word (a service posts it), so another ESCO's file with the same hash neither blocks this import nor
  -- is revealed by it (bank_statements is unique on (esco, file_sha256, file_position)).
  perform pg_catalog.pg_advisory_xact_lock(hashtext('bank_import'), hashtext(esco_id::text || ':' || sha));
  if exists (select 1 from public.bank_statements s where s.esco = esco_id and s.file_sha256 = sha) then
    return jsonb_build_object('status', 'duplicate', 'lines', 0, 'statements',
      (select jsonb_agg(jsonb_build_object('id', s.id, 'position', s.file_position, 'lines', s.entry_count)
                        order by s.file_position)
         from public.bank_statements s where s.esco = esco_id and s.file_sha256 = sha));
  end if;

  -- Every line, before anything is stored: the first bad one is named.
  select x.path, x.problem into bad
    from (select s.statement_position, s.position,
                 coalesce(s.path, format('%s.entries[%s]', paths[s.statement_position], s.position)) as path,
                 case
                   when s.statement_position is null or s.statement_position not between 1 and st_position
                        or s.position is null or s.position < 1
                     then format('a staged line belongs to no statement of the document (statement %s, line %s)',
                                 coalesce(s.statement_position::text, 'null'), coalesce(s.position::text, 'null'))
                   when coalesce(s.amount, '') !~ '^-?[0-9]{1,12}(\.[0-9]{1,2})?$'
                     then format('amount %s is not an exact amount with at most 2 decimals', coalesce(s.amount, 'null'))
                   when s.amount::numeric = 0 then 'amount is zero'
                   when s.currency is distinct from currencies[s.statement_position]
                     then format('currency %s differs from the account currency %s', coalesce(s.currency, 'null'),
                                 currencies[s.statement_position])
                   when s.booking_date is null and s.value_date is null then 'no booking or value date'
                   when s.booking_date is not null and not internal.is_iso_date(s.booking_date)
                     then format('booking date %s is not a valid date', s.booking_date)
                   when s.value_date is not null and not internal.is_iso_date(s.value_date)
                     then format('value date %s is not a valid date', s.value_date)
                   when coalesce(s.booked, 'true') not in ('true', 'false') or coalesce(s.reversal, 'false') not in ('true', 'false')
                     then 'booked and reversal must be true or false'
                 end as problem
            from pg_temp.bank_line_staging s) x
   where x.problem is not null
   order by x.statement_position, x.position
   limit 1;
  if found then
    raise exception '%: %', bad.path, bad.problem using errcode = '22023', hint = 'The whole file was rejected; nothing was stored.';
  end if;
  select format('%s: line %s is staged twice', paths[s.statement_position], s.position) as problem into bad
    from pg_temp.bank_line_staging s
   group by s.statement_position, s.position having count(*) > 1
   order by s.statement_position, s.position
   limit 1;
  if found then
    raise exception '%', bad.problem using errcode = '22023', hint = 'Each line of a statement has its own position.';
  end if;

  -- Balances reconcile: opening booked balance + booked entries = closing booked balance. Pending entries
  -- and entries value-dated after the statement are left out, as banks leave them out of the closing balance.
  -- A statement without an opening or a closing balance (OFX, a CSV without a balance column) is not checked.
  select b.path, b.opening, b.booked_sum, b.closing into bad
    from (select p.ord, p.path, (st.value ->> 'opening_balance')::numeric as opening,
                 (st.value ->> 'closing_balance')::numeric as closing,
                 coalesce((select sum(s.amount::numeric) from pg_temp.bank_line_staging s
                            where s.statement_position = p.ord and coalesce(s.booked, 'true') = 'true'
                              and not coalesce(s.value_date::date > periods_to[p.ord], false)), 0) as booked_sum
            from unnest(paths) with ordinality p(path, ord)
            join jsonb_array_elements(document -> 'statements') with ordinality st(value, ord) on st.ord = p.ord) b
   where b.opening + b.booked_sum <> b.closing
   order by b.ord
   limit 1;
  if found then
    raise exception '%: balances do not reconcile: opening % + booked entries % = %, but the closing balance is %',
        bad.path, bad.opening, bad.booked_sum, bad.opening + bad.booked_sum, bad.closing
      using errcode = '22023', hint = 'The file is incomplete or altered; nothing was stored.';
  end if;

  with stored as (
    insert into public.bank_statements (esco, bank_account, format, format_version, file_sha256, file_position,
                                        file_name, statement_ref, period_from, period_to, currency,
                                        opening_balance, closing_balance, imported_by)
    select esco_id, accounts[st.ord], document ->> 'format', document ->> 'format_version', sha, st.ord,
           left(document ->> 'file_name', 255), left(st.value ->> 'statement_ref', 140), (st.value ->> 'period_from')::date,
           periods_to[st.ord], currencies[st.ord], (st.value ->> 'opening_balance')::numeric,
           (st.value ->> 'closing_balance')::numeric, imported_by
      from jsonb_array_elements(document -> 'statements') with ordinality st(value, ord)
    returning id, file_position
  )
  select array_agg(s.id order by s.file_position) into statement_ids from stored s;

  -- All the lines in one INSERT. Identity: the bank's reference where it is unique in the statement, else a
  -- fingerprint of the statement, the position and the contents. A line already known for the account
  -- (overlapping statements) is skipped.
  with lines as (
    select s.*, nullif(btrim(s.entry_reference), '') as ref,
           count(*) over (partition by s.statement_position, nullif(btrim(s.entry_reference), '')) as ref_uses,
           coalesce(s.booked, 'true') = 'true'
             and not coalesce(s.value_date::date > periods_to[s.statement_position], false) as is_booked
      from pg_temp.bank_line_staging s
  ), inserted as (
    insert into public.bank_transactions (esco, statement, bank_account, identity, position, entry_reference,
                                          booking_date, value_date, booked, amount, currency, reversal,
                                          bank_transaction_code, counterparty_name, counterparty_account,
                                          remittance_information, end_to_end_id, status)
    select esco_id, statement_ids[l.statement_position], accounts[l.statement_position],
           case when l.ref is not null and l.ref_uses = 1 then 'ref:' || l.ref
                else 'fp:' || encode(extensions.digest(concat_ws('/', statement_ids[l.statement_position], l.position,
                                       l.entry_reference, l.booking_date, l.value_date, l.booked, l.amount, l.currency,
                                       l.reversal, l.bank_transaction_code, l.counterparty_name, l.counterparty_account,
                                       l.remittance_information, l.end_to_end_id), 'sha256'), 'hex')
           end,
           l.position, l.ref, l.booking_date::date, l.value_date::date, l.is_booked, l.amount::numeric,
           currencies[l.statement_position], coalesce(l.reversal, 'false') = 'true',
           left(l.bank_transaction_code, 140), left(l.counterparty_name, 140), left(l.counterparty_account, 70),
           left(l.remittance_information, 1000), left(l.end_to_end_id, 70),
           case when not l.is_booked then 'pending'
                when l.amount::numeric < 0 then 'debit'
                else 'unmatched' end
      from lines l
     order by l.statement_position, l.position
    on conflict (bank_account, identity) do nothing
    returning statement
  ), counts as (
    select p.ord, statement_ids[p.ord] as id,
           (select count(*) from inserted i where i.statement = statement_ids[p.ord]) as stored,
           (select count(*) from pg_temp.bank_line_staging s where s.statement_position = p.ord) as staged
      from generate_subscripts(statement_ids, 1) p(ord)
  ), counted as (
    update public.bank_statements b set entry_count = c.stored from counts c where b.id = c.id
  )
  select sum(c.stored),
         jsonb_agg(jsonb_build_object('id', c.id, 'position', c.ord, 'lines', c.stored, 'skipped', c.staged - c.stored)
                   order by c.ord)
    into total_stored, results
    from counts c;

  truncate pg_temp.bank_line_staging;
  perform internal.enqueue('bank__reconcile', json_build_object('esco', esco_id), 'bank__reconcile:' || esco_id);
  return jsonb_build_object('status', 'imported', 'lines', total_stored, 'statements', results);
end
$$;
comment on function internal.bank_import_staged(uuid, jsonb, text) is
  'Validates and stores a bank statement file for an ESCO, its lines staged in pg_temp.bank_line_staging (all or nothing), then enqueues bank__reconcile.';
revoke all on function internal.bank_import_staged(uuid, jsonb, text) from public;

create or replace function public.bank_import_statement(esco_code text, document jsonb)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  esco_id uuid := internal.bank_import_esco(esco_code);
  bad text;
begin
  -- The document's lines go to the staging table the CLI COPYs into; internal.bank_import_staged checks the rest.
  perform internal.open_bank_staging();
  if jsonb_typeof(document -> 'statements') = 'array' then
    select coalesce(s.value ->> 'path', format('statements[%s]', s.ord)) into bad
      from jsonb_array_elements(document -> 'statements') with ordinality s(value, ord)
     where jsonb_typeof(s.value -> 'entries') is distinct from 'array'
     order by s.ord
     limit 1;
    if bad is not null then
      raise exception '%: entries must be an array', bad using errcode = '22023';
    end if;
    insert into pg_temp.bank_line_staging (statement_position, position, path, entry_reference, booking_date,
                                           value_date, booked, amount, currency, reversal, bank_transaction_code,
                                           counterparty_name, counterparty_account, remittance_information,
                                           end_to_end_id)
    select s.ord, e.ord, e.value ->> 'path', e.value ->> 'entry_reference', e.value ->> 'booking_date',
           e.value ->> 'value_date', e.value ->> 'booked', e.value ->> 'amount', e.value ->> 'currency',
           e.value ->> 'reversal', e.value ->> 'bank_transaction_code', e.value ->> 'counterparty_name',
           e.value ->> 'counterparty_account', e.value ->> 'remittance_information', e.value ->> 'end_to_end_id'
      from jsonb_array_elements(document -> 'statements') with ordinality s(value, ord)
     cross join lateral jsonb_array_elements(s.value -> 'entries') with ordinality e(value, ord);
  end if;
  return internal.bank_import_staged(esco_id, document, coalesce(internal.jwt_sub(), session_user::text));
end
$$;
comment on function public.bank_import_statement(text, jsonb) is $$Imports a parsed bank statement file (camt.053, bank CSV, OFX) for one of the caller's ESCOs.
All or nothing: a bad file is rejected whole, naming the line or XML path. The file hash makes a repeat a no-op. Ends in the bank__reconcile job. Document format: docs/payments.md.$$;
revoke all on function public.bank_import_statement(text, jsonb) from public;
grant execute on function public.bank_import_statement(text, jsonb) to operator, service;
