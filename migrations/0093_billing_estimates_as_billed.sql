-- Up Migration
-- True-ups (docs/billing.md, rule 5) compare a register-day's actual kWh with what its bill charged for it: the
-- half-hours present then plus the estimate of the missing ones. Only the estimate was stored, so a true-up
-- charged the present half-hours a second time; and it waited for a whole local day, which a register cut by a
-- meter exchange never fills. Each estimated register-day now records the interval it covers (the local day
-- within the register's validity window) and the kWh of the half-hours present when it was billed. New rows get
-- them from the unit line's inputs (trigger internal.tg_billing_estimates__as_billed, sql/310_billing_tables.sql).
--
-- Existing rows: the window from the register as it is now; present = the kWh of the window's half-hours
-- written before the bill was drafted (ingested_at; a half-hour rewritten since counts as missing then). The
-- sql/ functions do not exist yet on a fresh database, so the local midnights are spelled out here.

alter table internal.billing_estimates
  add column interval_from timestamptz,
  add column interval_to timestamptz,
  add column present_kwh numeric(14, 3);

with w as (
  select e.invoice, e.register_id, e.day, inv.created_at,
         greatest(e.day::timestamp at time zone 'Europe/London', coalesce(r.start_time, '-infinity')) as t_from,
         least((e.day + 1)::timestamp at time zone 'Europe/London', coalesce(r.end_time, 'infinity')) as t_to
    from internal.billing_estimates e
    join public.invoices inv on inv.id = e.invoice
    left join flows.meter_registers r on r.register_id = e.register_id
)
update internal.billing_estimates e
   set interval_from = w.t_from, interval_to = w.t_to,
       present_kwh = coalesce((select sum(i.import_kwh) from flows.register_interval_hh i
                                where i.register_id = w.register_id and i."timestamp" >= w.t_from
                                  and i."timestamp" < w.t_to and i.ingested_at <= w.created_at), 0)
  from w
 where w.invoice = e.invoice and w.register_id = e.register_id and w.day = e.day;

alter table internal.billing_estimates
  alter column interval_from set not null,
  alter column interval_to set not null,
  alter column present_kwh set not null;
