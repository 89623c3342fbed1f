-- Business metrics (docs/operations.md "Metrics and health"): one row per ESCO, as views an operator
-- reads through the API (security_invoker: row-level security keeps them to their ESCOs), and as one
-- SECURITY DEFINER function, internal.metrics_by_esco(), that the worker's /metrics exporter and the
-- reporting login read for every ESCO. Every numeric column of the two views is a gauge there, named
-- flows_esco_<column> with the column's comment as its help text.
--
-- A meter is stale when its last successful sync (flows.meter_sync_runs, outcome ok or partial) is
-- older than the setting flows.meter_stale_after_hours (default 6): the exporter sets it from
-- FLOWS_METER_STALE_AFTER_HOURS; for API callers an administrator may set it per database
-- (`alter database … set flows.meter_stale_after_hours = 12`).

-- Metering ----------------------------------------------------------------------------------------------

create view flows.metrics_metering with (security_invoker = true) as
with settings as (
  select make_interval(hours => coalesce(nullif(current_setting('flows.meter_stale_after_hours', true), '')::integer, 6))
           as stale_after,
         -- yesterday, as a local (Europe/London) day of 46, 48 or 50 half-hours
         ((now() at time zone 'Europe/London')::date - 1)::timestamp at time zone 'Europe/London' as day_from,
         ((now() at time zone 'Europe/London')::date)::timestamp at time zone 'Europe/London' as day_to
),
meter_state as (
  select m.esco,
         case when ok.last_ok is null or ok.last_ok < now() - st.stale_after then 'stale'
              when s.health = 'healthy' then 'healthy'
              else 'unhealthy' end as state
    from flows.meter_registry m
    cross join settings st
    left join flows.meter_shadows s on s.id = m.id
    left join lateral (
      select max(r.finished_at) as last_ok
        from flows.meter_sync_runs r
       where r.meter_id = m.id and r.outcome in ('ok', 'partial')
    ) ok on true
   where m.mode = 'active'
),
meters as (
  select ms.esco, count(*) as meters,
         count(*) filter (where ms.state = 'healthy') as meters_healthy,
         count(*) filter (where ms.state = 'unhealthy') as meters_unhealthy,
         count(*) filter (where ms.state = 'stale') as meters_stale
    from meter_state ms
   group by ms.esco
),
runs as (
  select r.esco,
         count(*) as sync_runs_24h,
         count(*) filter (where r.outcome = 'failed') as sync_runs_failed_24h
    from flows.meter_sync_runs r
   where r.finished_at >= now() - interval '24 hours'
   group by r.esco
),
-- registers in service all of yesterday: the day flows.register_interval_hh_completeness lists for them
completeness as (
  select r.esco,
         sum(extract(epoch from (st.day_to - st.day_from)) / 1800)::bigint as half_hours_expected_yesterday,
         sum(p.present)::bigint as half_hours_present_yesterday
    from flows.meter_registers r
    cross join settings st
    cross join lateral (
      select count(*) as present
        from flows.register_interval_hh i
       where i.register_id = r.register_id and i."timestamp" >= st.day_from and i."timestamp" < st.day_to
    ) p
   where r.start_time <= st.day_from and (r.end_time is null or r.end_time >= st.day_to)
   group by r.esco
)
select e.id as esco, e.code as esco_code,
       (select extract(epoch from st.stale_after) / 3600 from settings st)::integer as stale_after_hours,
       coalesce(m.meters, 0) as meters,
       coalesce(m.meters_healthy, 0) as meters_healthy,
       coalesce(m.meters_unhealthy, 0) as meters_unhealthy,
       coalesce(m.meters_stale, 0) as meters_stale,
       coalesce(r.sync_runs_24h, 0) as sync_runs_24h,
       coalesce(r.sync_runs_failed_24h, 0) as sync_runs_failed_24h,
       round((r.sync_runs_24h - r.sync_runs_failed_24h)::numeric / nullif(r.sync_runs_24h, 0), 4)
         as sync_success_ratio_24h,
       coalesce(c.half_hours_expected_yesterday, 0) as half_hours_expected_yesterday,
       coalesce(c.half_hours_present_yesterday, 0) as half_hours_present_yesterday,
       round(c.half_hours_present_yesterday::numeric / nullif(c.half_hours_expected_yesterday, 0), 4)
         as half_hours_completeness_yesterday
  from flows.escos e
  left join meters m on m.esco = e.id
  left join runs r on r.esco = e.id
  left join completeness c on c.esco = e.id;
grant select on flows.metrics_metering to operator;

comment on view flows.metrics_metering is $$Metering health per ESCO: meters healthy, unhealthy or stale, meter syncs of the last 24 hours, and yesterday's half-hourly completeness.
A meter is stale when its last successful sync is older than flows.meter_stale_after_hours (default 6 hours);
only active meters count. Also exported as Prometheus gauges flows_esco_<column> by the worker.$$;
comment on column flows.metrics_metering.esco is 'The ESCO.';
comment on column flows.metrics_metering.esco_code is 'The ESCO''s code.';
comment on column flows.metrics_metering.stale_after_hours is 'Hours after its last successful sync at which a meter counts as stale.';
comment on column flows.metrics_metering.meters is 'Active meters.';
comment on column flows.metrics_metering.meters_healthy is 'Active meters synced recently whose last sync found them healthy.';
comment on column flows.metrics_metering.meters_unhealthy is 'Active meters synced recently whose last sync found them unhealthy (or reported no health).';
comment on column flows.metrics_metering.meters_stale is 'Active meters with no successful sync within stale_after_hours.';
comment on column flows.metrics_metering.sync_runs_24h is 'Meter syncs finished in the last 24 hours.';
comment on column flows.metrics_metering.sync_runs_failed_24h is 'Meter syncs that failed in the last 24 hours.';
comment on column flows.metrics_metering.sync_success_ratio_24h is 'Share of the meter syncs of the last 24 hours that succeeded (ok or partial), 0 to 1; null without syncs.';
comment on column flows.metrics_metering.half_hours_expected_yesterday is 'Half-hours expected yesterday (Europe/London day) over the registers in service all day.';
comment on column flows.metrics_metering.half_hours_present_yesterday is 'Half-hours of data present for yesterday over those registers.';
comment on column flows.metrics_metering.half_hours_completeness_yesterday is 'present / expected half-hours for yesterday, 0 to 1; null without registers.';

-- Money and messages ------------------------------------------------------------------------------------

create view public.metrics_operations with (security_invoker = true) as
with billed_invoice as (
  -- the issued invoices of each ESCO's latest billed period (voided ones were replaced by a rebill)
  select i.id, i.esco, i.account, i.period_start, i.period_end
    from public.invoices i
   where i.kind = 'invoice' and i.status in ('issued', 'paid', 'partially_paid')
     and i.period_start = (select max(x.period_start) from public.invoices x
                            where x.esco = i.esco and x.kind = 'invoice'
                              and x.status in ('issued', 'paid', 'partially_paid'))
),
billed as (
  select b.esco, min(b.period_start) as period_start, coalesce(sum(l.quantity), 0) as kwh
    from billed_invoice b
    left join public.invoice_lines l
      on l.invoice = b.id and l.unit = 'kWh' and l.line_type in ('unit_charge', 'adjustment')
   group by b.esco
),
-- what the meters recorded for the same accounts and days: interval imports of the non-solar registers at
-- the supplied properties (the registers billing charges, docs/billing.md)
metered as (
  select b.esco, sum(h.import_kwh) as kwh
    from (select distinct bi.esco, bi.account, bi.period_start, bi.period_end from billed_invoice bi) b
    join public.account_supplies s
      on s.account = b.account and daterange(s.start_date, s.end_date) && daterange(b.period_start, b.period_end)
    cross join lateral (
      select greatest(s.start_date, b.period_start)::timestamp at time zone 'Europe/London' as t_from,
             least(coalesce(s.end_date, b.period_end), b.period_end)::timestamp at time zone 'Europe/London' as t_to
    ) w
    join flows.property_meters pm on pm.property = s.property
    join flows.meter_registers r on r.meter_id = pm.meter and r.nature <> 'solar'
    join flows.register_interval_hh h
      on h.register_id = r.register_id and h."timestamp" >= w.t_from and h."timestamp" < w.t_to
     and h."timestamp" >= r.start_time and (r.end_time is null or h."timestamp" < r.end_time)
   group by b.esco
),
bank as (
  select t.esco, count(*) as bank_lines_unmatched
    from public.bank_transactions t
   where t.status = 'unmatched'
   group by t.esco
),
failed as (
  select n.esco, count(*) as notifications_failed,
         count(*) filter (where n.updated_at >= now() - interval '24 hours') as notifications_failed_24h
    from public.notifications n
   where n.status = 'failed'
   group by n.esco
)
select e.id as esco, e.code as esco_code,
       bl.period_start as billing_period_start,
       bl.kwh as billed_kwh,
       coalesce(me.kwh, case when bl.esco is not null then 0 end) as metered_kwh,
       coalesce(me.kwh, 0) - bl.kwh as billing_drift_kwh,
       coalesce(bk.bank_lines_unmatched, 0) as bank_lines_unmatched,
       coalesce(f.notifications_failed, 0) as notifications_failed,
       coalesce(f.notifications_failed_24h, 0) as notifications_failed_24h
  from flows.escos e
  left join billed bl on bl.esco = e.id
  left join metered me on me.esco = e.id
  left join bank bk on bk.esco = e.id
  left join failed f on f.esco = e.id;
grant select on public.metrics_operations to operator;

comment on view public.metrics_operations is $$Billing, payments and notifications health per ESCO: drift between metered and billed kWh for the latest billed period, unmatched bank lines, failed notifications.
Also exported as Prometheus gauges flows_esco_<column> by the worker.$$;
comment on column public.metrics_operations.esco is 'The ESCO.';
comment on column public.metrics_operations.esco_code is 'The ESCO''s code.';
comment on column public.metrics_operations.billing_period_start is 'First day of the latest period with issued invoices; null before the first.';
comment on column public.metrics_operations.billed_kwh is 'kWh charged (unit charges and adjustments) on the issued invoices of that period.';
comment on column public.metrics_operations.metered_kwh is 'kWh the meters now hold for the same accounts and days (interval imports of the non-solar registers at the supplied properties).';
comment on column public.metrics_operations.billing_drift_kwh is 'metered_kwh - billed_kwh: data that arrived after billing, or estimates that were off; a rebill settles it.';
comment on column public.metrics_operations.bank_lines_unmatched is 'Bank statement lines waiting for a match (status unmatched).';
comment on column public.metrics_operations.notifications_failed is 'Notifications that failed for good (status failed).';
comment on column public.metrics_operations.notifications_failed_24h is 'Of which failed (last changed) in the last 24 hours.';

-- The exporter's path -----------------------------------------------------------------------------------

-- reporting runs internal.metrics_by_esco() and no other function of internal; of its tables it reads only the
-- worker heartbeats and instances (sql/020, sql/025).
grant usage on schema internal to reporting;

drop function if exists internal.metrics_by_esco();
create function internal.metrics_by_esco()
returns table (esco_code text, metric text, help text, value numeric)
language sql stable security definer
set search_path = ''
as $$
  with wide as (
    select 'flows.metrics_metering'::regclass as view, v.esco_code, to_jsonb(v) as row from flows.metrics_metering v
    union all
    select 'public.metrics_operations'::regclass, v.esco_code, to_jsonb(v) from public.metrics_operations v
  )
  select w.esco_code, c.key, pg_catalog.col_description(w.view, a.attnum), (c.value #>> '{}')::numeric
    from wide w
    cross join lateral pg_catalog.jsonb_each(w.row) c
    join pg_catalog.pg_attribute a on a.attrelid = w.view and a.attname = c.key
   where pg_catalog.jsonb_typeof(c.value) = 'number' and c.key <> 'stale_after_hours'
   order by c.key, w.esco_code
$$;
comment on function internal.metrics_by_esco() is
  'Every ESCO''s business metrics for the exporter (worker /metrics) and the reporting login: one row per ESCO and numeric column of flows.metrics_metering and public.metrics_operations, with the column comment as help. Counts and kWh only, nothing personal.';
revoke all on function internal.metrics_by_esco() from public;
grant execute on function internal.metrics_by_esco() to worker, reporting;
