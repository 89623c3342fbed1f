-- Retention (docs/operations.md, "Retention"): internal.retention_policies says how long rows of each
-- time-series or log table are kept; jobs/retention__apply.ts (daily) deletes older rows in batches through
-- internal.retention_apply — never what an unissued or disputed bill still needs.

comment on column internal.retention_policies.table_name is 'The table the policy applies to (one of those retention_apply knows).';
comment on column internal.retention_policies.keep is 'How long rows are kept, from their time stamp (e.g. 7 years).';
comment on column internal.retention_policies.enabled is 'False: the table is left alone.';
comment on column internal.retention_policies.updated_at is 'When the policy last changed.';

-- The time each meter's data must be kept for billing: per supply, every day not yet covered by an issued,
-- undisputed invoice or statement (drafts, disputed and void-without-rebill periods, and periods never billed),
-- widened by what the billing rules read around a period (the same half-hours up to 28 days earlier for
-- estimates, cumulative reads within an hour of the boundaries); and the days of estimates of the last
-- 13 months that await a true-up (docs/billing.md, rules 4, 5 and 8).
create or replace function internal.retention_protected_windows()
returns table (meter uuid, during tstzrange)
language sql stable
set search_path = ''
set jit = off -- small inputs with large estimates: compiling costs seconds, running milliseconds
as $$
  with billed as (
    select i.account, range_agg(daterange(i.period_start, i.period_end)) as days
      from public.invoices i
     where i.kind in ('invoice', 'statement') and i.status in ('issued', 'paid', 'partially_paid') and not i.disputed
     group by i.account
  ),
  unbilled as (
    select s.property, u.days
      from public.account_supplies s
      left join billed b on b.account = s.account
      cross join lateral unnest(datemultirange(daterange(s.start_date, s.end_date))
                                - coalesce(b.days, '{}'::datemultirange)) u(days)
  )
  select pm.meter,
         tstzrange(internal.london_midnight(lower(u.days)) - interval '29 days',
                   internal.london_midnight(upper(u.days)) + interval '1 hour')
    from unbilled u
    join flows.property_meters pm on pm.property = u.property
  union all
  select r.meter_id, tstzrange(internal.london_midnight(e.day), internal.london_midnight(e.day + 1) + interval '1 hour')
    from internal.billing_estimates e
    join flows.meter_registers r on r.register_id = e.register_id
   where e.trued_up_by is null and e.day >= (now() at time zone 'Europe/London')::date - interval '13 months'
$$;
comment on function internal.retention_protected_windows() is
  'Per meter, the times whose readings and interval data a bill not yet issued (or disputed) may still need.';
revoke all on function internal.retention_protected_windows() from public;

-- Deletes at most batch_size rows of the table older than its policy's keep (none if the policy is disabled),
-- sparing what internal.retention_protected_windows() protects for the billed tables. Returns the rows deleted;
-- the job calls it until it returns fewer than batch_size.
create or replace function internal.retention_apply(table_name text, batch_size integer default 10000)
returns integer
language plpgsql volatile security definer
set search_path = ''
set jit = off
as $$
declare
  policy internal.retention_policies;
  -- time column, the column naming the meter ('register' via flows.meter_registers), billing-protected, extra filter
  spec record;
  key_columns text[];
  deleted integer;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be a positive number' using errcode = '22023', hint = 'e.g. 10000';
  end if;
  select * into policy from internal.retention_policies p where p.table_name = retention_apply.table_name;
  if not found then
    raise exception 'no retention policy for %', table_name
      using errcode = '22023', hint = 'See internal.retention_policies.';
  end if;
  if not policy.enabled then
    return 0;
  end if;
  select * into strict spec from (values
    ('flows.register_interval_hh', 'timestamp', 'register', true, null),
    ('flows.register_import', 'timestamp', 'register', true, null),
    ('flows.register_export', 'timestamp', 'register', true, null),
    ('flows.meter_prepay_balance', 'timestamp', 'meter_id', true, null),
    ('flows.meter_csq', 'timestamp', null, false, null),
    ('flows.meter_voltage', 'timestamp', null, false, null),
    ('flows.meter_health_history', 'timestamp', null, false, null),
    ('flows.meter_event_log', 'timestamp', null, false, null),
    ('flows.meter_sync_runs', 'started_at', null, false, null),
    ('public.notifications', 'created_at', null, false, $f$t.status in ('sent', 'failed', 'suppressed')$f$)
  ) as s(name, time_column, meter_column, protected, filter)
  where s.name = policy.table_name;

  select array_agg(a.attname order by k.ord) into key_columns
    from pg_catalog.pg_index i
    cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
    join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
   where i.indrelid = policy.table_name::regclass and i.indisprimary;

  execute format(
    $sql$
    with protected as materialized (select * from internal.retention_protected_windows() where %7$L::boolean),
    victims as (
      select %3$s from %1$s t %4$s
       where t.%2$I < now() - $1 %5$s %6$s
       limit $2
    )
    delete from %1$s t using victims v where %8$s
    $sql$,
    policy.table_name,
    spec.time_column,
    (select string_agg(format('t.%I', c), ', ') from unnest(key_columns) c),
    case spec.meter_column when 'register' then 'join flows.meter_registers r on r.register_id = t.register_id' else '' end,
    case when spec.protected then format(
      'and not exists (select 1 from protected p where p.meter = %s and p.during @> t.%I)',
      case spec.meter_column when 'register' then 'r.meter_id' else 't.' || quote_ident(spec.meter_column) end,
      spec.time_column) else '' end,
    coalesce('and ' || spec.filter, ''),
    spec.protected,
    (select string_agg(format('t.%1$I = v.%1$I', c), ' and ') from unnest(key_columns) c))
  using policy.keep, batch_size;
  get diagnostics deleted = row_count;
  return deleted;
end
$$;
comment on function internal.retention_apply(text, integer) is $$Deletes up to batch_size rows of one table older than its retention policy,
never interval data or reads a bill not yet issued, or disputed, still needs (internal.retention_protected_windows).
Run by the worker (jobs/retention__apply.ts).$$;
revoke all on function internal.retention_apply(text, integer) from public;
grant execute on function internal.retention_apply(text, integer) to worker;

create or replace function internal.retention_tables() returns setof text
language sql stable security definer
set search_path = ''
as $$
  select p.table_name from internal.retention_policies p where p.enabled order by p.table_name
$$;
comment on function internal.retention_tables() is 'Tables with an enabled retention policy (for the retention job).';
revoke all on function internal.retention_tables() from public;
grant execute on function internal.retention_tables() to worker;
