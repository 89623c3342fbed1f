-- Live updates (docs/realtime.md): after every insert or update statement on a watched table, one
-- NOTIFY on the channel flows_realtime per chunk of changed rows, carrying only their primary keys:
--   {"schema":"flows","table":"meter_shadows","op":"UPDATE","columns":["id"],"keys":[["<id>"],…]}
-- The `flows realtime` service re-reads each key as each subscriber's role, so row-level security
-- decides what anyone sees; nothing of a row's content travels through NOTIFY. Statement-level
-- triggers with transition tables make a bulk write one trigger call (and a few notifications), not
-- one per row. Deletes are not streamed (a deleted row cannot be re-read under RLS).
-- The NOTIFY is delivered at commit, so a re-read sees the committed row; a rolled-back write sends
-- nothing.

create or replace function internal.tg_realtime__notify() returns trigger
language plpgsql volatile set search_path = '' as $$
declare
  key_columns text;
  key_names json;
  chunk text;
begin
  select string_agg(format('%I::text', a.attname), ', ' order by k.ord), json_agg(a.attname order by k.ord)
    into key_columns, key_names
    from pg_catalog.pg_index i
    cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
    join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
   where i.indrelid = tg_relid and i.indisprimary;
  if key_columns is null then
    raise exception 'realtime: table %.% has no primary key', tg_table_schema, tg_table_name
      using errcode = '55000', hint = 'Only tables with a primary key can be watched (sql/640_realtime.sql)';
  end if;
  -- Keys in chunks of at most ~7000 bytes of JSON: NOTIFY payloads must stay under 8000 bytes.
  for chunk in execute format(
    $q$select string_agg(k, ',' order by n)
         from (select k, n, (sum(octet_length(k) + 1) over (order by n)) / 7000 as part
                 from (select pg_catalog.json_build_array(%s)::text as k, row_number() over () as n
                         from changed_rows) as keyed) as sized
        group by part order by part$q$, key_columns)
  loop
    perform pg_catalog.pg_notify('flows_realtime', format('{"schema":%s,"table":%s,"op":%s,"columns":%s,"keys":[%s]}',
      to_json(tg_table_schema::text), to_json(tg_table_name::text), to_json(tg_op::text), key_names, chunk));
  end loop;
  return null;
end
$$;
comment on function internal.tg_realtime__notify() is
  'Trigger (statement level, transition table changed_rows): NOTIFY flows_realtime with the primary keys of the changed rows, for the realtime service.';
revoke all on function internal.tg_realtime__notify() from public;

-- The watched tables: what clients may subscribe to (and views over them that carry their primary key).
-- The triggers of earlier runs are dropped first, so a table taken off the list stops notifying.
do $$
declare
  watched regclass;
begin
  for watched in
    select distinct t.tgrelid::regclass from pg_catalog.pg_trigger t
     where t.tgfoid = 'internal.tg_realtime__notify()'::regprocedure
  loop
    execute format('drop trigger if exists t90_realtime_insert on %s', watched);
    execute format('drop trigger if exists t90_realtime_update on %s', watched);
  end loop;
  foreach watched in array array[
    'flows.meter_shadows', 'public.topups', 'public.payments', 'public.invoices', 'public.notifications',
    'public.billing_runs'
  ]::regclass[]
  loop
    execute format('create trigger t90_realtime_insert after insert on %s referencing new table as changed_rows
      for each statement execute function internal.tg_realtime__notify()', watched);
    execute format('create trigger t90_realtime_update after update on %s referencing new table as changed_rows
      for each statement execute function internal.tg_realtime__notify()', watched);
  end loop;
end
$$;
