-- Bank statement import (issue 7): the one write path for bank_statements and bank_transactions. The CLI
-- (`flows bank import`) and integrations (service role, POST /rpc/bank_import_statement) parse the file into the
-- same JSON document (src/bank/document.ts) and call public.bank_import_statement, which validates everything
-- again before it stores anything: one transaction, nothing partial, the file hash makes a re-import a no-op.
-- Document shape and rules: docs/payments.md.

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

create or replace function internal.bank_import(esco_id uuid, document jsonb, imported_by text)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  sha text := document ->> 'file_sha256';
  st jsonb;
  st_path text;
  st_position integer := 0;
  acct public.esco_bank_accounts;
  statement_id uuid;
  bad record;
  opening numeric;
  closing numeric;
  booked_sum numeric;
  period_to date;
  stored integer;
  skipped integer;
  total_stored integer := 0;
  results jsonb := '[]';
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
  if jsonb_typeof(document -> 'statements') <> 'array' or jsonb_array_length(document -> 'statements') = 0 then
    raise exception 'the file holds no statement' using errcode = '22023', hint = 'statements must be a non-empty array.';
  end if;

  -- The same file twice (even concurrently): the second import waits for the first, then is a no-op.
  perform pg_catalog.pg_advisory_xact_lock(hashtext('bank_import'), hashtext(sha));
  if exists (select 1 from public.bank_statements s where s.file_sha256 = sha) then
    if exists (select 1 from public.bank_statements s where s.file_sha256 = sha and s.esco <> esco_id) then
      raise exception 'this file was already imported for another ESCO' using errcode = 'PT409';
    end if;
    return jsonb_build_object('status', 'duplicate', 'lines', 0, 'statements',
      (select jsonb_agg(jsonb_build_object('id', s.id, 'position', s.file_position, 'lines', s.entry_count)
                        order by s.file_position)
         from public.bank_statements s where s.file_sha256 = sha));
  end if;

  for st in select value from jsonb_array_elements(document -> 'statements') loop
    st_position := st_position + 1;
    st_path := coalesce(st ->> 'path', format('statements[%s]', st_position));

    -- The account: one of this ESCO's (never say whose it is otherwise).
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
    period_to := (st ->> 'period_to')::date;
    if coalesce(st ->> 'opening_balance', '0') !~ '^-?[0-9]{1,12}(\.[0-9]{1,2})?$'
       or coalesce(st ->> 'closing_balance', '0') !~ '^-?[0-9]{1,12}(\.[0-9]{1,2})?$' then
      raise exception '%: a balance is not an exact amount with at most 2 decimals', st_path using errcode = '22023';
    end if;
    if jsonb_typeof(st -> 'entries') is distinct from 'array' then
      raise exception '%: entries must be an array', st_path using errcode = '22023';
    end if;

    -- Every line, before anything is stored: the first bad one is named.
    select e.ord, coalesce(e.value ->> 'path', format('%s.entries[%s]', st_path, e.ord)) as path,
           case
             when coalesce(e.value ->> 'amount', '') !~ '^-?[0-9]{1,12}(\.[0-9]{1,2})?$'
               then format('amount %s is not an exact amount with at most 2 decimals', coalesce(e.value ->> 'amount', 'null'))
             when (e.value ->> 'amount')::numeric = 0 then 'amount is zero'
             when e.value ->> 'currency' is distinct from acct.currency
               then format('currency %s differs from the account currency %s', coalesce(e.value ->> 'currency', 'null'), acct.currency)
             when e.value ->> 'booking_date' is null and e.value ->> 'value_date' is null then 'no booking or value date'
             when e.value ->> 'booking_date' is not null and not internal.is_iso_date(e.value ->> 'booking_date')
               then format('booking date %s is not a valid date', e.value ->> 'booking_date')
             when e.value ->> 'value_date' is not null and not internal.is_iso_date(e.value ->> 'value_date')
               then format('value date %s is not a valid date', e.value ->> 'value_date')
           end as problem
      into bad
      from jsonb_array_elements(st -> 'entries') with ordinality e(value, ord)
     where coalesce(e.value ->> 'amount', '') !~ '^-?[0-9]{1,12}(\.[0-9]{1,2})?$'
        or (e.value ->> 'amount')::numeric = 0
        or e.value ->> 'currency' is distinct from acct.currency
        or (e.value ->> 'booking_date' is null and e.value ->> 'value_date' is null)
        or (e.value ->> 'booking_date' is not null and not internal.is_iso_date(e.value ->> 'booking_date'))
        or (e.value ->> 'value_date' is not null and not internal.is_iso_date(e.value ->> 'value_date'))
     order by e.ord
     limit 1;
    if found then
      raise exception '%: %', bad.path, bad.problem using errcode = '22023', hint = 'The whole file was rejected; nothing was stored.';
    end if;

    -- Balances reconcile: opening booked balance + booked entries = closing booked balance. Pending entries
    -- and entries value-dated after the statement are left out, as banks leave them out of the closing balance.
    opening := (st ->> 'opening_balance')::numeric;
    closing := (st ->> 'closing_balance')::numeric;
    select coalesce(sum((e.value ->> 'amount')::numeric), 0) into booked_sum
      from jsonb_array_elements(st -> 'entries') e
     where coalesce((e.value ->> 'booked')::boolean, true)
       and not coalesce((e.value ->> 'value_date')::date > period_to, false);
    if opening is not null and closing is not null and opening + booked_sum <> closing then
      raise exception '%: balances do not reconcile: opening % + booked entries % = %, but the closing balance is %',
          st_path, opening, booked_sum, opening + booked_sum, closing
        using errcode = '22023', hint = 'The file is incomplete or altered; nothing was stored.';
    end if;

    insert into public.bank_statements (esco, bank_account, format, format_version, file_sha256, file_position,
                                        file_name, statement_ref, period_from, period_to, currency,
                                        opening_balance, closing_balance, imported_by)
    values (esco_id, acct.id, document ->> 'format', document ->> 'format_version', sha, st_position,
            left(document ->> 'file_name', 255), left(st ->> 'statement_ref', 140), (st ->> 'period_from')::date,
            period_to, acct.currency, opening, closing, imported_by)
    returning id into statement_id;

    -- Identity: the bank's reference where it is unique in the statement, else a fingerprint of the statement,
    -- the position and the contents. A line already known for this account (overlapping statements) is skipped.
    with entries as (
      select e.ord, e.value,
             nullif(btrim(e.value ->> 'entry_reference'), '') as ref,
             count(*) over (partition by nullif(btrim(e.value ->> 'entry_reference'), '')) as ref_uses
        from jsonb_array_elements(st -> 'entries') with ordinality e(value, ord)
    ), ins as (
      insert into public.bank_transactions (esco, statement, bank_account, identity, position, entry_reference,
                                            booking_date, value_date, booked, amount, currency, reversal,
                                            bank_transaction_code, counterparty_name, counterparty_account,
                                            remittance_information, end_to_end_id, status)
      select esco_id, statement_id, acct.id,
             case when x.ref is not null and x.ref_uses = 1 then 'ref:' || x.ref
                  else 'fp:' || encode(extensions.digest(statement_id::text || '/' || x.ord || '/' || x.value::text, 'sha256'), 'hex')
             end,
             x.ord, x.ref, (x.value ->> 'booking_date')::date, (x.value ->> 'value_date')::date, x.booked,
             (x.value ->> 'amount')::numeric, acct.currency, coalesce((x.value ->> 'reversal')::boolean, false),
             left(x.value ->> 'bank_transaction_code', 140), left(x.value ->> 'counterparty_name', 140),
             left(x.value ->> 'counterparty_account', 70), left(x.value ->> 'remittance_information', 1000),
             left(x.value ->> 'end_to_end_id', 70),
             case when not x.booked then 'pending'
                  when (x.value ->> 'amount')::numeric < 0 then 'debit'
                  else 'unmatched' end
        from (select entries.*, coalesce((entries.value ->> 'booked')::boolean, true)
                     and not coalesce((entries.value ->> 'value_date')::date > period_to, false) as booked
                from entries) x
       order by x.ord
      on conflict (bank_account, identity) do nothing
      returning 1
    )
    select count(*) into stored from ins;
    skipped := jsonb_array_length(st -> 'entries') - stored;
    update public.bank_statements set entry_count = stored where id = statement_id;
    total_stored := total_stored + stored;
    results := results || jsonb_build_object('id', statement_id, 'position', st_position, 'lines', stored,
                                             'skipped', skipped);
  end loop;

  perform internal.enqueue('bank__reconcile', json_build_object('esco', esco_id), 'bank__reconcile:' || esco_id);
  return jsonb_build_object('status', 'imported', 'lines', total_stored, 'statements', results);
end
$$;
comment on function internal.bank_import(uuid, jsonb, text) is
  'Validates and stores a parsed bank statement file for an ESCO (all or nothing), then enqueues bank__reconcile.';
revoke all on function internal.bank_import(uuid, jsonb, text) from public;

create or replace function public.bank_import_statement(esco_code text, document jsonb)
returns jsonb
language plpgsql volatile security definer
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
  return internal.bank_import(esco_id, document, coalesce(internal.jwt_sub(), session_user::text));
end
$$;
comment on function public.bank_import_statement(text, jsonb) is $$Imports a parsed bank statement file (camt.053, bank CSV) for one of the caller's ESCOs.
All or nothing: a bad file is rejected whole, naming the line or XML path. The file hash makes a repeat a no-op. Ends in the bank__reconcile job. Document format: docs/payments.md.$$;
revoke all on function public.bank_import_statement(text, jsonb) from public;
grant execute on function public.bank_import_statement(text, jsonb) to operator, service;
