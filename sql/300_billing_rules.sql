-- Billing rules (docs/billing.md): the one set-based computation of invoice lines for many accounts and
-- one period, used by the dry run (public.monthly_costs_compute) and by billing runs (billing__run).
-- Nothing here writes. Days are Europe/London days; amounts are rounded once per line, half away from
-- zero (round(numeric, 2)); VAT is applied once per invoice by internal.billing_vat.

create or replace function internal.billing_vat(supply_subtotal numeric, vat_rate_pct numeric) returns numeric
language sql immutable
set search_path = ''
as $$
  select round(supply_subtotal * vat_rate_pct / 100, 2)
$$;
comment on function internal.billing_vat(numeric, numeric) is
  'VAT of an invoice: round(rate × sum of the supply lines, 2), half away from zero, once per invoice.';
revoke all on function internal.billing_vat(numeric, numeric) from public;

-- Local-day boundaries as instants.
create or replace function internal.london_midnight(day date) returns timestamptz
language sql immutable
set search_path = ''
as $$
  select day::timestamp at time zone 'Europe/London'
$$;
comment on function internal.london_midnight(date) is 'The instant a Europe/London day starts.';
revoke all on function internal.london_midnight(date) from public;

-- The one place billing reads metering data. A register fitted the wrong way round (flows.meter_registers.
-- direction_reversed, as the circuit views read it) records import as export: billing swaps its import and export
-- half-hours, and its cumulative import and export reads, here and nowhere else. The views are for billing's
-- functions only (no web role reads internal).
create or replace view internal.billing_interval_hh as
select i.register_id, i."timestamp",
       case when r.direction_reversed then i.export_kwh else i.import_kwh end as import_kwh,
       case when r.direction_reversed then i.import_kwh else i.export_kwh end as export_kwh,
       i.quality
  from flows.register_interval_hh i
  join flows.meter_registers r on r.register_id = i.register_id;
comment on view internal.billing_interval_hh is
  'Half-hours as billing reads them: import and export swapped for registers with direction_reversed.';

create or replace view internal.billing_register_reads as
select x.register_id, case when r.direction_reversed then 'export' else 'import' end as direction, x."timestamp", x.read
  from flows.register_import x
  join flows.meter_registers r on r.register_id = x.register_id
union all
select x.register_id, case when r.direction_reversed then 'import' else 'export' end, x."timestamp", x.read
  from flows.register_export x
  join flows.meter_registers r on r.register_id = x.register_id;
comment on view internal.billing_register_reads is
  'Cumulative import and export reads as billing reads them: swapped for registers with direction_reversed.';

-- The floor of billing: Σ import, Σ export and the half-hours present (and with export) per register and
-- Europe/London day of [period_from, period_to), for the given registers, as internal.billing_interval_hh reads
-- them. A billing run takes it once per pass for all its registers (internal.billing_register_days); a dry run or
-- a rebill computes it for its own. The half-hours are summed as stored (a plain scan and hash aggregate, like the
-- floor) and a reversed register's sums are swapped afterwards: Σ of the swapped values = the swapped Σ, and every
-- row has an import, so such a register's half-hours all carry export.
-- PL/pgSQL so that the query is planned for the registers at hand (a few: index scans; a whole ESCO: one
-- parallel scan and hash aggregate, like the floor) — RETURN QUERY may run in parallel, an SQL function not.
drop function if exists internal.billing_interval_days(uuid[], date, date);
create or replace function internal.billing_interval_days(register_ids uuid[], period_from date, period_to date)
returns table (register_id uuid, day date, import_kwh numeric, export_kwh numeric, present integer, export_present integer)
language plpgsql stable
set search_path = ''
as $$
begin
  return query execute $q$
    select a.register_id, a.day,
           case when r.direction_reversed then a.export_kwh else a.import_kwh end,
           case when r.direction_reversed then a.import_kwh else a.export_kwh end,
           a.present,
           case when r.direction_reversed then a.present else a.export_present end
      from (select i.register_id, (i."timestamp" at time zone 'Europe/London')::date as day,
                   sum(i.import_kwh) as import_kwh, sum(i.export_kwh) as export_kwh,
                   count(*)::integer as present, count(i.export_kwh)::integer as export_present
              from flows.register_interval_hh i
             where i.register_id in (select unnest($1)) and i."timestamp" >= $2 and i."timestamp" < $3
             group by 1, 2) a
      join flows.meter_registers r on r.register_id = a.register_id
  $q$ using register_ids, internal.london_midnight(period_from), internal.london_midnight(period_to);
end
$$;
comment on function internal.billing_interval_days(uuid[], date, date) is
  'Σ import, Σ export and half-hours present per register and Europe/London day of the period (the floor of billing).';
revoke all on function internal.billing_interval_days(uuid[], date, date) from public;

-- The lines of every account in `account_ids` for the days [period_from, period_to), as of `as_of`
-- (the bill date: consumption more than 12 months before it is not charged). Positions order the
-- lines within an account. Amounts are signed: credits are negative. With `run_id`, the interval data
-- come from the run's daily aggregate (internal.billing_register_days) instead of the half-hours.
drop function if exists internal.billing_compute(uuid[], date, date, date);
create or replace function internal.billing_compute(account_ids uuid[], period_from date, period_to date, as_of date,
                                                    run_id uuid default null)
returns table (
  account uuid, esco uuid, "position" integer, line_type text, element text, description text,
  quantity numeric, unit text, unit_price numeric, amount numeric, from_date date, to_date date,
  estimated boolean, tariff uuid, customer_tariff uuid, inputs jsonb
)
language sql stable
set search_path = ''
as $$
with
-- ESCO tariffs and customer tariffs as day ranges [from, next from)
mt as (
  select t.id, t.esco, t.unit_rate_a_gbp_kwh, t.unit_rate_b_gbp_kwh, t.export_rate_gbp_kwh, t.standing_charge_gbp_day,
         daterange(t.effective_from, lead(t.effective_from) over (partition by t.esco order by t.effective_from)) as days
    from public.microgrid_tariffs t
   where t.esco in (select a.esco from public.accounts a where a.id = any (account_ids))
),
holder as (
  select distinct on (ca.account) ca.account, ca.customer
    from public.customer_accounts ca
   where ca.account = any (account_ids)
   order by ca.account, (ca.role = 'holder') desc, ca.customer
),
ct as (
  select t.id, t.customer, t.microgrid_tariff, t.unit_rate_a_gbp_kwh, t.unit_rate_b_gbp_kwh, t.standing_charge_gbp_day,
         daterange(t.effective_from, lead(t.effective_from) over (partition by t.customer order by t.effective_from)) as days
    from public.customer_tariffs t
   where t.customer in (select h.customer from holder h)
),
-- the local days of the period, with the instants they start and end
days as materialized (
  select d::date as day, internal.london_midnight(d::date) as t0, internal.london_midnight(d::date + 1) as t1
    from generate_series(period_from, period_to - 1, interval '1 day') d
),
supply as materialized (
  select s.id as supply, s.account, s.property, a.esco, a.vat_rate_pct,
         daterange(greatest(s.start_date, period_from), least(coalesce(s.end_date, period_to), period_to)) as days
    from public.account_supplies s
    join public.accounts a on a.id = s.account
   where s.account = any (account_ids)
     and daterange(s.start_date, s.end_date) && daterange(period_from, period_to)
),
-- one row per account, property and supplied day, with the tariff in force that day
account_day as materialized (
  select su.account, su.esco, su.supply, su.property, d.day, d.t0, d.t1,
         m.id as tariff, c.id as customer_tariff,
         coalesce(c.standing_charge_gbp_day, m.standing_charge_gbp_day) as standing_rate,
         coalesce(c.unit_rate_a_gbp_kwh, m.unit_rate_a_gbp_kwh) as rate_a,
         coalesce(c.unit_rate_b_gbp_kwh, m.unit_rate_b_gbp_kwh) as rate_b,
         m.export_rate_gbp_kwh as export_rate
    from supply su
    join days d on su.days @> d.day
    join mt m on m.esco = su.esco and m.days @> d.day
    left join holder h on h.account = su.account
    left join ct c on c.customer = h.customer and c.microgrid_tariff = m.id and c.days @> d.day
),
-- registers at the supplied properties, with the instants the supply and the register overlap
account_register as materialized (
  select su.account, su.esco, su.supply, r.register_id, r.element, r.nature,
         greatest(internal.london_midnight(lower(su.days)), r.start_time) as t_from,
         least(internal.london_midnight(upper(su.days)), coalesce(r.end_time, 'infinity')) as t_to,
         exists (select 1 from internal.billing_register_reads x
                  where x.register_id = r.register_id and x.direction = 'export'
                    and x."timestamp" >= internal.london_midnight(lower(su.days)) - interval '1 hour'
                    and x."timestamp" <= internal.london_midnight(upper(su.days)) + interval '1 hour') as has_export_reads
    from supply su
    join flows.property_meters pm on pm.property = su.property
    join flows.meter_registers r on r.meter_id = pm.meter
   where tstzrange(r.start_time, r.end_time) && tstzrange(internal.london_midnight(lower(su.days)),
                                                         internal.london_midnight(upper(su.days)))
),
-- the interval data per register and local day: the run's aggregate, else computed for these registers
hh as materialized (
  select d.register_id, d.day, d.import_kwh, d.export_kwh, d.present, d.export_present
    from internal.billing_register_days d
   where run_id is not null and d.run = run_id
     and d.register_id = any (array(select distinct ar.register_id from account_register ar))
  union all
  select d.register_id, d.day, d.import_kwh, d.export_kwh, d.present, d.export_present
    from internal.billing_interval_days(array(select distinct ar.register_id from account_register ar),
                                        period_from, period_to) d
   where run_id is null
),
-- every register-day that should have data, and what it has; a day the register's own window cuts (a meter
-- exchange inside the day) counts only the half-hours inside the window
register_day as materialized (
  select ar.account, ar.esco, ar.supply, ar.register_id, ar.element, ar.nature, ar.has_export_reads, ad.day, ad.tariff,
         ad.customer_tariff,
         case ar.element when 'B' then ad.rate_b else ad.rate_a end as rate, ad.export_rate,
         greatest(ad.t0, ar.t_from) as t_from, least(ad.t1, ar.t_to) as t_to,
         (extract(epoch from least(ad.t1, ar.t_to) - greatest(ad.t0, ar.t_from)) / 1800)::integer as expected,
         case when p.present is not null then p.present else coalesce(h.present, 0) end as present,
         case when p.present is not null then p.import_kwh else coalesce(h.import_kwh, 0) end as actual_kwh,
         case when p.present is not null then p.export_kwh else h.export_kwh end as export_kwh,
         case when p.present is not null then p.export_present else coalesce(h.export_present, 0) end as export_present
    from account_register ar
    join account_day ad on ad.supply = ar.supply and ad.t0 < ar.t_to and ad.t1 > ar.t_from
    left join hh h on h.register_id = ar.register_id and h.day = ad.day
    left join lateral (
      select coalesce(sum(i.import_kwh), 0) as import_kwh, sum(i.export_kwh) as export_kwh,
             count(*)::integer as present, count(i.export_kwh)::integer as export_present
        from internal.billing_interval_hh i
       where (ar.t_from > ad.t0 or ar.t_to < ad.t1)
         and i.register_id = ar.register_id and i."timestamp" >= greatest(ad.t0, ar.t_from)
         and i."timestamp" < least(ad.t1, ar.t_to)
      having ar.t_from > ad.t0 or ar.t_to < ad.t1) p on true
),
-- estimates for the register-days with missing half-hours: cumulative reads at the day's boundaries
-- (within an hour), else the same weekday's profile (the same local half-hours 1–4 weeks earlier)
missing_day as materialized (
  select rd.account, rd.supply, rd.register_id, rd.day, rd.t_from, rd.t_to, rd.actual_kwh
    from register_day rd
   where rd.present < rd.expected
),
nearby as materialized (
  select o.register_id, o."timestamp", (o."timestamp" at time zone 'Europe/London') as local_ts, o.import_kwh, o.quality
    from (select distinct m.register_id from missing_day m) m
    cross join lateral (
      select x.* from internal.billing_interval_hh x
       where x.register_id = m.register_id
         and x."timestamp" >= internal.london_midnight(period_from) - interval '29 days'
         and x."timestamp" < internal.london_midnight(period_to)) o
),
missing_hh as materialized (
  select m.supply, m.register_id, m.day, g.t, (g.t at time zone 'Europe/London') as local_t
    from missing_day m
    cross join lateral generate_series(m.t_from, m.t_to - interval '30 minutes', interval '30 minutes') g(t)
   where not exists (select 1 from nearby n where n.register_id = m.register_id and n."timestamp" = g.t)
),
-- each missing half-hour's same local half-hour 1, 2, 3 and 4 weeks earlier
missing_earlier as materialized (
  select m.supply, m.register_id, m.day, m.t, m.local_t - k * interval '7 days' as earlier
    from missing_hh m cross join generate_series(1, 4) k
),
profile as (
  select w.supply, w.register_id, w.day, sum(w.kwh) as kwh
    from (select mh.supply, mh.register_id, mh.day, mh.t, avg(n.import_kwh) as kwh
            from missing_earlier mh
            join nearby n on n.register_id = mh.register_id and n.quality = 'actual' and n.local_ts = mh.earlier
           group by 1, 2, 3, 4) w
   group by 1, 2, 3
),
estimate as materialized (
  select m.account, m.supply, m.register_id, m.day,
         case when r0.read is not null and r1.read is not null
              then round(greatest(r1.read - r0.read - m.actual_kwh, 0), 3)
              else round(coalesce(p.kwh, 0), 3) end as kwh,
         case when r0.read is not null and r1.read is not null then 'reads' else 'profile' end as method
    from missing_day m
    left join lateral (
      select x.read from internal.billing_register_reads x
       where x.register_id = m.register_id and x.direction = 'import' and x."timestamp" <= m.t_from and x."timestamp" >= m.t_from - interval '1 hour'
       order by x."timestamp" desc limit 1) r0 on true
    left join lateral (
      select x.read from internal.billing_register_reads x
       where x.register_id = m.register_id and x.direction = 'import' and x."timestamp" >= m.t_to and x."timestamp" <= m.t_to + interval '1 hour'
       order by x."timestamp" limit 1) r1 on true
    left join profile p on p.supply = m.supply and p.register_id = m.register_id and p.day = m.day
),
-- export from the half-hours, else from the cumulative export reads at the day's boundaries
export_day as (
  select rd.account, rd.esco, rd.supply, rd.register_id, rd.day, rd.tariff, rd.export_rate,
         coalesce(case when rd.export_present > 0 then rd.export_kwh end, e1.read - e0.read, 0) as kwh,
         case when rd.export_present > 0 then 'intervals' when e1.read is not null and e0.read is not null then 'reads' end as source
    from register_day rd
    left join lateral (
      select x.read from internal.billing_register_reads x
       where rd.export_present = 0 and rd.has_export_reads and x.register_id = rd.register_id
         and x.direction = 'export' and x."timestamp" <= rd.t_from
         and x."timestamp" >= rd.t_from - interval '1 hour'
       order by x."timestamp" desc limit 1) e0 on true
    left join lateral (
      select x.read from internal.billing_register_reads x
       where rd.export_present = 0 and rd.has_export_reads and x.register_id = rd.register_id
         and x.direction = 'export' and x."timestamp" >= rd.t_to
         and x."timestamp" <= rd.t_to + interval '1 hour'
       order by x."timestamp" limit 1) e1 on true
),
-- register-days estimated on an issued bill since voided, whose estimate a bill still issued has trued up: billed
-- again as they were billed then (the half-hours present then + the estimate), not at the actual kWh, since the
-- true-up already charged the difference (rule 5). The estimate is carried to the new bill, trued up by the same bill.
carried as materialized (
  select distinct on (v.account, e.register_id, e.day)
         v.account, e.register_id, e.day, e.estimated_kwh, e.present_kwh, e.interval_from, e.interval_to, e.trued_up_by
    from internal.billing_estimates e
    join public.invoices v on v.id = e.invoice and v.status = 'void'
    join public.invoices t on t.id = e.trued_up_by and t.status not in ('draft', 'void')
   where e.trued_up_by is not null and e.day >= period_from and e.day < period_to
     and v.account = any (account_ids)
   order by v.account, e.register_id, e.day, v.issued_at desc
),
charged as (
  select rd.account, rd.esco, rd.register_id, rd.element, rd.day, rd.tariff, rd.customer_tariff, rd.rate,
         coalesce(k.interval_from, rd.t_from) as t_from, coalesce(k.interval_to, rd.t_to) as t_to,
         rd.expected, rd.present,
         coalesce(k.present_kwh, rd.actual_kwh) as actual_kwh,
         coalesce(k.estimated_kwh, e.kwh, 0) as estimated_kwh,
         case when k.day is not null then 'as_billed' else e.method end as method,
         k.trued_up_by,
         k.day is not null or rd.present < rd.expected as is_estimated,
         rd.day < (as_of - interval '12 months')::date as beyond_limit
    from register_day rd
    left join estimate e on e.supply = rd.supply and e.register_id = rd.register_id and e.day = rd.day
    left join carried k on k.account = rd.account and k.register_id = rd.register_id and k.day = rd.day
   where rd.nature <> 'solar'
),
lines as (
  -- standing charge: per account and tariff (a tariff change splits the line)
  select ad.account, ad.esco, 1 as sort, 'standing_charge' as line_type, null::text as element,
         format('Standing charge, %s day(s) at £%s/day', count(*), ad.standing_rate) as description,
         count(*)::numeric as quantity, 'day' as unit, ad.standing_rate as unit_price,
         round(count(*) * ad.standing_rate, 2) as amount, min(ad.day) as from_date, max(ad.day) + 1 as to_date,
         false as estimated, ad.tariff, ad.customer_tariff,
         jsonb_build_object('rule', 'standing_charge', 'properties', jsonb_agg(distinct ad.property)) as inputs
    from account_day ad
   group by ad.account, ad.esco, ad.tariff, ad.customer_tariff, ad.standing_rate
  union all
  -- unit charge: per account, element and tariff; estimated register-days listed in the inputs
  select c.account, c.esco, 2, 'unit_charge', c.element,
         format('Element %s, %s kWh at £%s/kWh%s', c.element, sum(c.actual_kwh + c.estimated_kwh), c.rate,
                case when bool_or(c.estimated_kwh > 0 or c.is_estimated) then ' (includes estimated)' else '' end),
         sum(c.actual_kwh + c.estimated_kwh), 'kWh', c.rate,
         round(sum(c.actual_kwh + c.estimated_kwh) * c.rate, 2), min(c.day), max(c.day) + 1,
         bool_or(c.is_estimated), c.tariff, c.customer_tariff,
         jsonb_build_object(
           'rule', 'unit_charge',
           'registers', jsonb_agg(distinct c.register_id),
           'interval_from', min(c.t_from), 'interval_to', max(c.t_to),
           'actual_kwh', sum(c.actual_kwh), 'estimated_kwh', sum(c.estimated_kwh),
           'half_hours_expected', sum(c.expected), 'half_hours_present', sum(c.present),
           -- each estimated register-day as billed: the estimate, the interval it is part of and the kWh present
           -- in it (internal.billing_estimates keeps them for the true-up), and the bill that trued it up already
           'estimates', coalesce(jsonb_agg(jsonb_build_object('register_id', c.register_id, 'day', c.day,
                                                            'kwh', c.estimated_kwh, 'method', c.method,
                                                            'present_kwh', c.actual_kwh, 'interval_from', c.t_from,
                                                            'interval_to', c.t_to)
                                           || case when c.trued_up_by is not null
                                                   then jsonb_build_object('trued_up_by', c.trued_up_by)
                                                   else '{}' end)
                                   filter (where c.is_estimated), '[]'))
    from charged c
   where not c.beyond_limit
   group by c.account, c.esco, c.element, c.tariff, c.customer_tariff, c.rate
  union all
  -- back-billing limit: what is not charged, shown at zero
  select c.account, c.esco, 4, 'adjustment', c.element,
         format('Back-billing limit: %s kWh used before %s not charged', sum(c.actual_kwh + c.estimated_kwh),
                (as_of - interval '12 months')::date),
         sum(c.actual_kwh + c.estimated_kwh), 'kWh', 0, 0, min(c.day), max(c.day) + 1, bool_or(c.is_estimated),
         null, null, jsonb_build_object('rule', 'back_billing_limit', 'limit_date', (as_of - interval '12 months')::date)
    from charged c
   where c.beyond_limit
   group by c.account, c.esco, c.element
  union all
  -- true-up of estimates charged on earlier issued bills, once every half-hour of the interval estimated (the local
  -- day within the register's window: half a day at a meter exchange) is there: the interval's actual kWh now − its
  -- kWh as billed (the half-hours present then + the estimate of the missing ones)
  select t.account, t.esco, 3, 'adjustment', t.element,
         format('True-up of estimated element %s: %s kWh at £%s/kWh', t.element,
                sum(t.actual_kwh - t.present_kwh - t.estimated_kwh), t.unit_price),
         sum(t.actual_kwh - t.present_kwh - t.estimated_kwh), 'kWh', t.unit_price,
         round(sum(t.actual_kwh - t.present_kwh - t.estimated_kwh) * t.unit_price, 2),
         min(t.day), max(t.day) + 1, false, null, null,
         jsonb_build_object('rule', 'true_up', 'true_up', jsonb_agg(jsonb_build_object(
           'invoice', t.invoice, 'register_id', t.register_id, 'day', t.day,
           'interval_from', t.interval_from, 'interval_to', t.interval_to,
           'billed_present_kwh', t.present_kwh, 'estimated_kwh', t.estimated_kwh, 'actual_kwh', t.actual_kwh)))
    from (
      select inv.account, inv.esco, e.invoice, e.register_id, e.day, e.element, e.interval_from, e.interval_to,
             e.present_kwh, e.estimated_kwh, e.unit_price, x.actual_kwh
        from internal.billing_estimates e
        join public.invoices inv on inv.id = e.invoice and inv.status not in ('draft', 'void')
        cross join lateral (
          select coalesce(sum(i.import_kwh), 0) as actual_kwh, count(*) as present
            from internal.billing_interval_hh i
           where i.register_id = e.register_id
             and i."timestamp" >= e.interval_from and i."timestamp" < e.interval_to) x
       where inv.account = any (account_ids)
         and e.trued_up_by is null
         and e.day >= (as_of - interval '12 months')::date
         and x.present = (extract(epoch from e.interval_to - e.interval_from) / 1800)
    ) t
   group by t.account, t.esco, t.element, t.unit_price
  union all
  -- export credit: outside VAT, negative
  select x.account, x.esco, 5, 'export_credit', null,
         format('Export, %s kWh at £%s/kWh', sum(x.kwh), x.export_rate),
         sum(x.kwh), 'kWh', x.export_rate, -round(sum(x.kwh) * x.export_rate, 2), min(x.day), max(x.day) + 1, false,
         x.tariff, null,
         jsonb_build_object('rule', 'export_credit', 'registers', jsonb_agg(distinct x.register_id),
                            'from_reads_days', count(*) filter (where x.source = 'reads'))
    from export_day x
   where x.kwh > 0 and x.export_rate > 0
   group by x.account, x.esco, x.tariff, x.export_rate
  union all
  -- community solar credit: pence per kWp per year × allocation ratio, pro-rated by days (/365); outside VAT
  select ad.account, ad.esco, 6, 'community_credit', null,
         format('Community solar credit, %s: %s kWp × %s for %s day(s)', csa.array_name, csa.capacity_kwp,
                csa.allocation_ratio, count(*)),
         count(*)::numeric, 'day',
         round(bs.community_credit_pence_per_kwp_year / 100 * csa.capacity_kwp * csa.allocation_ratio / 365, 5),
         -round(bs.community_credit_pence_per_kwp_year / 100 * csa.capacity_kwp * csa.allocation_ratio * count(*) / 365, 2),
         min(ad.day), max(ad.day) + 1, false, null, null,
         jsonb_build_object('rule', 'community_credit', 'array', csa.array_name, 'property', ad.property,
                            'capacity_kwp', csa.capacity_kwp, 'allocation_ratio', csa.allocation_ratio,
                            'pence_per_kwp_year', bs.community_credit_pence_per_kwp_year)
    from account_day ad
    join public.billing_settings bs on bs.esco = ad.esco and bs.community_credit_pence_per_kwp_year > 0
    join public.community_solar_allocations csa on csa.property = ad.property
   group by ad.account, ad.esco, ad.property, csa.array_name, csa.capacity_kwp, csa.allocation_ratio,
            bs.community_credit_pence_per_kwp_year
)
select l.account, l.esco,
       (row_number() over (partition by l.account order by l.sort, l.element nulls first, l.from_date, l.unit_price))::integer,
       l.line_type, l.element, l.description, l.quantity, l.unit, l.unit_price::numeric(14, 5),
       l.amount::numeric(12, 2), l.from_date, l.to_date,
       l.estimated, l.tariff, l.customer_tariff, l.inputs
  from lines l
$$;
comment on function internal.billing_compute(uuid[], date, date, date, uuid) is
  'The billing rules (docs/billing.md): every line of the given accounts for [period_from, period_to), as of the bill date. Writes nothing.';
revoke all on function internal.billing_compute(uuid[], date, date, date, uuid) from public;

-- Totals of the lines of one account (rows of billing_compute, or of an invoice): the only place the invoice
-- arithmetic lives. An `account_balance` line (the balance brought forward on a final bill) is already in the
-- ledger and is not part of the total.
drop function if exists internal.billing_totals(jsonb, numeric);
create or replace function internal.billing_totals(lines jsonb, vat_rate_pct numeric)
returns table (supply_subtotal numeric, vat numeric, export_credit numeric, community_credit numeric,
               meter_credit numeric, total numeric, estimated boolean)
language sql immutable
set search_path = ''
as $$
  with l as (
    select x.line_type, x.amount, x.estimated
      from jsonb_to_recordset(coalesce(lines, '[]')) x(line_type text, amount numeric, estimated boolean)
  ), s as (
    select coalesce(sum(l.amount) filter (where l.line_type in ('standing_charge', 'unit_charge', 'adjustment')), 0) as supply,
           coalesce(sum(l.amount) filter (where l.line_type = 'export_credit'), 0) as export,
           coalesce(sum(l.amount) filter (where l.line_type = 'community_credit'), 0) as community,
           coalesce(sum(l.amount) filter (where l.line_type = 'meter_credit'), 0) as meter,
           coalesce(bool_or(l.estimated), false) as estimated
      from l
  )
  select s.supply::numeric(12, 2), internal.billing_vat(s.supply, vat_rate_pct)::numeric(12, 2),
         s.export::numeric(12, 2), s.community::numeric(12, 2), s.meter::numeric(12, 2),
         (s.supply + internal.billing_vat(s.supply, vat_rate_pct) + s.export + s.community + s.meter)::numeric(12, 2),
         s.estimated
    from s
$$;
comment on function internal.billing_totals(jsonb, numeric) is
  'Invoice totals from its lines: supply subtotal, VAT once on it, export, community and meter credits (outside VAT), total.';
revoke all on function internal.billing_totals(jsonb, numeric) from public;

-- Prepay: what the meter charged over the period (balance at the start − balance at the end + top-ups
-- verified in between), for the meters at the account's supplied properties, over the days each was supplied
-- (a move-out ends at the move-out, not at the end of the month).
create or replace function internal.prepay_meter_charged(account_id uuid, period_from date, period_to date)
returns numeric
language sql stable
set search_path = ''
as $$
  select sum(coalesce(b0.balance, 0) - coalesce(b1.balance, 0) + coalesce(tu.amount, 0))
    from (select distinct pm.meter,
                 internal.london_midnight(greatest(s.start_date, period_from)) as t_from,
                 internal.london_midnight(least(coalesce(s.end_date, period_to), period_to)) as t_to
            from public.account_supplies s
            join flows.property_meters pm on pm.property = s.property
           where s.account = account_id and daterange(s.start_date, s.end_date) && daterange(period_from, period_to)) m
    left join lateral (select b.balance from flows.meter_prepay_balance b
                        where b.meter_id = m.meter and b."timestamp" <= m.t_from
                        order by b."timestamp" desc limit 1) b0 on true
    left join lateral (select b.balance from flows.meter_prepay_balance b
                        where b.meter_id = m.meter and b."timestamp" <= m.t_to
                        order by b."timestamp" desc limit 1) b1 on true
    left join lateral (select sum(t.amount) as amount from public.topups t
                        where t.meter = m.meter and t.account = account_id and t.status = 'verified'
                          and t.verified_at >= m.t_from and t.verified_at < m.t_to) tu on true
   where b0.balance is not null or b1.balance is not null
$$;
comment on function internal.prepay_meter_charged(uuid, date, date) is
  'Prepay: balance movement the meters reported over the supplied days of the period (start − end + verified top-ups); null without balances.';
revoke all on function internal.prepay_meter_charged(uuid, date, date) from public;
