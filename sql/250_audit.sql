-- The audit trail: internal.audit_log, written by one generic trigger on every table holding personal or
-- financial data (the list at the end of this file and in docs/security.md, "Audit trail"). Append-only for
-- every role including the owner; the one path that may change entries is internal.audit_redact_customer
-- (customer_erase, sql/610_data_protection.sql), which only replaces personal values.

comment on table internal.audit_log is $$Audit trail: who changed what, when. Append-only; readable by no web role.
One row per inserted, updated or deleted row of an audited table. An update records only the columns that
changed (old_values and new_values hold the same keys); an update that changes nothing records nothing.$$;
comment on column internal.audit_log.id is 'Sequence number of the entry.';
comment on column internal.audit_log.at is 'When the change happened (transaction start).';
comment on column internal.audit_log.db_role is 'Database role that made the change (the REST request''s role, else the login).';
comment on column internal.audit_log.subject is 'JWT subject (sub) of the request that made the change; null outside a request.';
comment on column internal.audit_log.table_name is 'Schema-qualified table name, e.g. public.customers.';
comment on column internal.audit_log.operation is 'INSERT, UPDATE or DELETE; ERASE for a customer_erase (new_values: what it did).';
comment on column internal.audit_log.row_key is 'Key of the changed row, e.g. {"id": "…"}.';
comment on column internal.audit_log.old_values is 'DELETE: the row; UPDATE: the changed columns before; INSERT: null.';
comment on column internal.audit_log.new_values is 'INSERT: the row; UPDATE: the changed columns after; DELETE: null.';
comment on column internal.audit_log.request_id is 'The REST request''s id: its X-Request-Id header (request.headers), when it has one.';
comment on column internal.audit_log.customer is 'The customer the entry is about, from the row (customers.id, or its customer column).';
comment on column internal.audit_log.account is 'The account the entry is about, from the row (accounts.id, or its account column).';

-- Even the owner may only insert: the trigger below refuses update, delete and truncate for everyone.
revoke update, delete, truncate on internal.audit_log from flows_owner;

create or replace function internal.audit_request_id() returns text
language sql stable
set search_path = ''
as $$
  select left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-request-id', 200)
$$;
comment on function internal.audit_request_id() is
  'The REST request''s X-Request-Id header (PostgREST and the gateway put the headers in request.headers), or null.';
revoke all on function internal.audit_request_id() from public;

-- The key of an audited row, e.g. {"id": "…"}, from the row as JSON and its key columns. Not SECURITY DEFINER and
-- without `set search_path`, so that it is inlined.
create or replace function internal.audit_row_key(row_values jsonb, key_columns text[]) returns jsonb
language sql immutable
as $$
  select case when pg_catalog.cardinality(key_columns) = 1
              then pg_catalog.jsonb_build_object(key_columns[1], row_values -> key_columns[1])
              else (select pg_catalog.jsonb_object_agg(k, row_values -> k) from pg_catalog.unnest(key_columns) k) end
$$;
comment on function internal.audit_row_key(jsonb, text[]) is 'The key of an audited row as JSON, e.g. {"id": "…"}.';
revoke all on function internal.audit_row_key(jsonb, text[]) from public;

create or replace function internal.tg_audit() returns trigger
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- transition tables have no statistics: the planner's guesses made JIT compile for longer than the
              -- statement ran
as $$
declare
  -- Trigger arguments: key columns (comma-separated), the customer column, the account column ('' = none),
  -- columns never copied into the log (comma-separated).
  key_columns text[] := string_to_array(coalesce(tg_argv[0], 'id'), ',');
  customer_column text := nullif(coalesce(tg_argv[1], ''), '');
  account_column text := nullif(coalesce(tg_argv[2], ''), '');
  omitted text[] := coalesce(string_to_array(nullif(tg_argv[3], ''), ','), '{}');
  request_role text := coalesce(nullif(current_setting('role', true), 'none'), session_user::text);
  request_subject text := internal.jwt_sub();
  request_id text := internal.audit_request_id();
  audited_table text := tg_table_schema || '.' || tg_table_name;
begin
  -- One INSERT … SELECT per statement over its transition table(s), whatever the number of rows. Each row is turned
  -- into JSON once (materialized: inlined, to_jsonb would run once per use).
  if tg_op = 'INSERT' then
    with r as materialized (select to_jsonb(x) as j from new_rows x)
    insert into internal.audit_log (db_role, subject, request_id, table_name, operation, row_key, customer, account,
                                    old_values, new_values)
    select request_role, request_subject, request_id, audited_table, 'INSERT', internal.audit_row_key(r.j, key_columns),
           (r.j ->> customer_column)::uuid, (r.j ->> account_column)::uuid, null, r.j - omitted
      from r;
  elsif tg_op = 'DELETE' then
    with r as materialized (select to_jsonb(x) as j from old_rows x)
    insert into internal.audit_log (db_role, subject, request_id, table_name, operation, row_key, customer, account,
                                    old_values, new_values)
    select request_role, request_subject, request_id, audited_table, 'DELETE', internal.audit_row_key(r.j, key_columns),
           (r.j ->> customer_column)::uuid, (r.j ->> account_column)::uuid, r.j - omitted, null
      from r;
  else
    -- Old and new rows paired by key (a hash join on the key columns themselves, hence EXECUTE); only the columns
    -- that changed are recorded, and a row where nothing (or only omitted columns) changed records nothing. A row
    -- whose key itself changed has no partner: its old and new versions are recorded whole, as two UPDATE entries.
    execute format($q$
      with pairs as materialized (
        select to_jsonb(n) as nj, to_jsonb(o) as oj from new_rows n full join old_rows o on %s
      ), changes as (
        select coalesce(p.nj, p.oj) as j,
               case when p.nj is null or p.oj is null then p.oj - $5 else d.old_values end as old_values,
               case when p.nj is null or p.oj is null then p.nj - $5 else d.new_values end as new_values
          from pairs p
         cross join lateral (
           select jsonb_object_agg(e.key, p.oj -> e.key) as old_values, jsonb_object_agg(e.key, e.value) as new_values
             from jsonb_each(p.nj) e
            where e.value is distinct from p.oj -> e.key and e.key <> all ($5)
         ) d
      )
      insert into internal.audit_log (db_role, subject, request_id, table_name, operation, row_key, customer, account,
                                      old_values, new_values)
      select $1, $2, $3, $4, 'UPDATE', internal.audit_row_key(c.j, $6), (c.j ->> $7)::uuid, (c.j ->> $8)::uuid,
             c.old_values, c.new_values
        from changes c
       where c.old_values is not null or c.new_values is not null$q$,
      (select string_agg(format('n.%1$I = o.%1$I', k), ' and ') from unnest(key_columns) k))
    using request_role, request_subject, request_id, audited_table, omitted, key_columns, customer_column,
          account_column;
  end if;
  return null;
end
$$;
comment on function internal.tg_audit() is $$Trigger (after insert, update or delete, for each statement, transition tables new_rows /
old_rows): appends one internal.audit_log entry per changed row, in one statement. Trigger arguments: the key columns
(comma-separated, default id), the column naming the customer and the one naming the account the row is about
('' = none), and columns never copied into the log (comma-separated). Records the request's role, JWT sub and
X-Request-Id, and for an update only the columns that changed. SECURITY DEFINER: no caller may write the audit log
directly.$$;
revoke all on function internal.tg_audit() from public;

create or replace function internal.tg_audit_log__append_only() returns trigger
language plpgsql volatile
set search_path = ''
as $$
declare
  stack text;
begin
  -- The one exception: internal.audit_redact_customer (customer_erase) replacing personal values. It runs as the
  -- owner, grants the owner the column privilege on the values for its one statement only (no role holds it
  -- otherwise), is on the call stack, and changes nothing but the values. (The owner can always change the
  -- table's definition; this guard stops every other role, superusers' own sessions, and mistakes.)
  if tg_op = 'UPDATE' and current_user = 'flows_owner'
     and has_column_privilege('flows_owner', 'internal.audit_log', 'old_values', 'UPDATE') then
    get diagnostics stack = pg_context;
    if position('PL/pgSQL function internal.audit_redact_customer(uuid) line ' in stack) > 0
       and (new.id, new.at, new.db_role, new.subject, new.request_id, new.table_name, new.operation, new.row_key,
            new.customer, new.account)
           is not distinct from
           (old.id, old.at, old.db_role, old.subject, old.request_id, old.table_name, old.operation, old.row_key,
            old.customer, old.account) then
      return new;
    end if;
  end if;
  raise exception 'internal.audit_log is append-only'
    using errcode = '42501', hint = 'Audit entries are never changed or removed (customer_erase only redacts personal values).';
end
$$;
comment on function internal.tg_audit_log__append_only() is
  'Trigger: refuses update, delete and truncate on internal.audit_log, whoever asks; only internal.audit_redact_customer may replace values.';
revoke all on function internal.tg_audit_log__append_only() from public;

drop trigger if exists _100_append_only on internal.audit_log;
create trigger _100_append_only before update or delete on internal.audit_log
  for each row execute function internal.tg_audit_log__append_only();
drop trigger if exists _100_append_only_truncate on internal.audit_log;
create trigger _100_append_only_truncate before truncate on internal.audit_log
  for each statement execute function internal.tg_audit_log__append_only();

-- Audited tables: name, key columns, customer column, account column, omitted columns (docs/security.md,
-- "Audit trail", also lists the tables left out and why). The outbox's address and message content are never
-- copied: the notification row is the record of what was sent, and retention must be able to remove it. Bulk time series (flows.register_interval_hh and the meter histories)
-- are not personal and carry no audit trigger.
do $$
declare
  t record;
begin
  for t in select * from (values
    ('public.customers', 'id', 'id', '', null),
    ('public.customer_accounts', 'customer,account', 'customer', 'account', null),
    ('public.accounts', 'id', '', 'id', null),
    ('public.account_supplies', 'id', '', 'account', null),
    ('public.customer_tariffs', 'id', 'customer', '', null),
    ('public.notification_preferences', 'customer', 'customer', '', null),
    ('public.notifications', 'id', 'customer', '', 'address,payload'),
    ('public.operators', 'id', '', '', null),
    ('public.operator_escos', 'operator,esco', '', '', null),
    ('public.operator_alert_subscriptions', 'id', '', '', null),
    ('public.benchmark_tariffs', 'id', '', '', null),
    ('public.microgrid_tariffs', 'id', '', '', null),
    ('public.billing_settings', 'esco', '', '', null),
    ('public.community_solar_allocations', 'id', '', '', null),
    ('public.invoices', 'id', '', 'account', null),
    ('public.ledger_entries', 'id', '', 'account', null),
    ('public.payments', 'id', '', 'account', null),
    ('public.payment_allocations', 'id', '', '', null),
    ('public.payment_reminders', 'id', '', 'account', null),
    ('public.refunds', 'id', '', 'account', null),
    ('public.topups', 'id', '', 'account', null),
    ('public.esco_bank_accounts', 'id', '', '', null),
    ('public.bank_statements', 'id', '', '', null),
    ('public.bank_transactions', 'id', '', 'matched_account', null),
    ('flows.properties', 'id', '', '', null),
    ('flows.meter_registry', 'id', '', '', null)
  ) as a(table_name, key_columns, customer_column, account_column, omitted)
  loop
    -- statement-level: a bulk write is one audit INSERT, not one trigger call per row (a trigger with
    -- transition tables takes a single event, hence three)
    execute format('drop trigger if exists _900_audit on %s', t.table_name);
    execute format('create or replace trigger _900_audit_insert after insert on %s referencing new table as new_rows
                      for each statement execute function internal.tg_audit(%L, %L, %L, %L)',
                   t.table_name, t.key_columns, t.customer_column, t.account_column, coalesce(t.omitted, ''));
    execute format('create or replace trigger _900_audit_update after update on %s
                      referencing old table as old_rows new table as new_rows
                      for each statement execute function internal.tg_audit(%L, %L, %L, %L)',
                   t.table_name, t.key_columns, t.customer_column, t.account_column, coalesce(t.omitted, ''));
    execute format('create or replace trigger _900_audit_delete after delete on %s referencing old table as old_rows
                      for each statement execute function internal.tg_audit(%L, %L, %L, %L)',
                   t.table_name, t.key_columns, t.customer_column, t.account_column, coalesce(t.omitted, ''));
  end loop;
end
$$;
