-- The audit trail: internal.audit_log, written by one generic trigger on the tables whose changes matter
-- (customers, accounts, supplies, tariffs, the meter registry). Append-only; no web role reads it.

comment on table internal.audit_log is $$Audit trail: who changed what, when. Append-only; readable by no web role.
One row per inserted, updated or deleted row of an audited table. An update records only the columns that
changed (old_values and new_values hold the same keys); an update that changes nothing records nothing.$$;
comment on column internal.audit_log.id is 'Sequence number of the entry.';
comment on column internal.audit_log.at is 'When the change happened (transaction start).';
comment on column internal.audit_log.db_role is 'Database role that made the change (the REST request''s role, else the login).';
comment on column internal.audit_log.subject is 'JWT subject (sub) of the request that made the change; null outside a request.';
comment on column internal.audit_log.table_name is 'Schema-qualified table name, e.g. public.customers.';
comment on column internal.audit_log.operation is 'INSERT, UPDATE or DELETE.';
comment on column internal.audit_log.row_key is 'Key of the changed row, e.g. {"id": "…"}.';
comment on column internal.audit_log.old_values is 'DELETE: the row; UPDATE: the changed columns before; INSERT: null.';
comment on column internal.audit_log.new_values is 'INSERT: the row; UPDATE: the changed columns after; DELETE: null.';

-- Even the owner may only insert: the trigger below refuses update, delete and truncate for everyone.
revoke update, delete, truncate on internal.audit_log from flows_owner;

create or replace function internal.tg_audit() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  key_columns text[] := case when tg_nargs > 0 then tg_argv else array['id'] end;
  old_row jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end;
  new_row jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end;
  old_diff jsonb;
  new_diff jsonb;
  request_role text := nullif(current_setting('role', true), 'none');
begin
  if tg_op = 'UPDATE' then
    select jsonb_object_agg(n.key, o.value), jsonb_object_agg(n.key, n.value)
      into old_diff, new_diff
      from jsonb_each(new_row) n
      join jsonb_each(old_row) o on o.key = n.key
     where n.value is distinct from o.value;
    if old_diff is null then
      return null; -- nothing changed
    end if;
  else
    old_diff := old_row;
    new_diff := new_row;
  end if;

  insert into internal.audit_log (db_role, subject, table_name, operation, row_key, old_values, new_values)
  values (coalesce(request_role, session_user::text), internal.jwt_sub(), tg_table_schema || '.' || tg_table_name,
          tg_op,
          (select jsonb_object_agg(k, coalesce(new_row, old_row) -> k) from unnest(key_columns) k),
          old_diff, new_diff);
  return null;
end
$$;
comment on function internal.tg_audit() is $$Trigger (after insert, update or delete, for each row): appends the change to internal.audit_log.
Trigger arguments name the key columns (default id). Records the request's role and JWT sub, and for an update
only the columns that changed. SECURITY DEFINER: no caller may write the audit log directly.$$;
revoke all on function internal.tg_audit() from public;

create or replace function internal.tg_audit_log__append_only() returns trigger
language plpgsql volatile
set search_path = ''
as $$
begin
  raise exception 'internal.audit_log is append-only'
    using errcode = '42501', hint = 'Audit entries are never changed or removed.';
end
$$;
comment on function internal.tg_audit_log__append_only() is 'Trigger: refuses update, delete and truncate on internal.audit_log, whoever asks.';
revoke all on function internal.tg_audit_log__append_only() from public;

drop trigger if exists _100_append_only on internal.audit_log;
create trigger _100_append_only before update or delete on internal.audit_log
  for each row execute function internal.tg_audit_log__append_only();
drop trigger if exists _100_append_only_truncate on internal.audit_log;
create trigger _100_append_only_truncate before truncate on internal.audit_log
  for each statement execute function internal.tg_audit_log__append_only();

do $$
declare
  t text;
begin
  foreach t in array array['public.customers', 'public.accounts', 'public.account_supplies', 'public.benchmark_tariffs',
                           'public.microgrid_tariffs', 'public.customer_tariffs', 'flows.meter_registry']
  loop
    execute format('drop trigger if exists _900_audit on %s', t);
    execute format('create trigger _900_audit after insert or update or delete on %s
                      for each row execute function internal.tg_audit()', t);
  end loop;
end
$$;
