-- public tariffs: benchmark (price-cap) tariffs, ESCO tariffs (microgrid_tariffs), customer tariffs,
-- the one rate derivation, next quarter's tariffs and the meters' future-tariff work queue.
-- Rates are stored excluding VAT, numeric to 5 dp (£/kWh, £/day); benchmarks as published, VAT-inclusive.
-- Meters deduct credit themselves and are sent VAT-inclusive rates truncated to 5 dp, unit rates at most £1.

-- public.benchmark_tariffs ------------------------------------------------------------------------------
-- Written by administrators (psql, as the owner) when the price cap is published.

grant select on public.benchmark_tariffs to customer, operator, service, worker, reporting;

create policy select_as_customer on public.benchmark_tariffs for select to customer using (true);
create policy select_as_operator on public.benchmark_tariffs for select to operator using (true);
create policy select_as_service on public.benchmark_tariffs for select to service using (true);
create policy select_as_worker on public.benchmark_tariffs for select to worker using (true);
create policy select_as_reporting on public.benchmark_tariffs for select to reporting using (true);

comment on table public.benchmark_tariffs is $$Regional benchmark (price-cap) tariffs per quarter, as published: VAT-inclusive.
ESCO tariffs are derived from them by public.tariff_rate_ex_vat.$$;
comment on column public.benchmark_tariffs.id is 'Benchmark tariff id.';
comment on column public.benchmark_tariffs.region is 'Ofgem region code (flows.escos.region).';
comment on column public.benchmark_tariffs.quarter_start is 'First day of the quarter the rates apply to (1 Jan, 1 Apr, 1 Jul or 1 Oct).';
comment on column public.benchmark_tariffs.unit_rate_inc_vat_gbp_kwh is 'Unit rate, £/kWh including VAT, as published.';
comment on column public.benchmark_tariffs.standing_charge_inc_vat_gbp_day is 'Standing charge, £/day including VAT, as published.';
comment on column public.benchmark_tariffs.created_at is 'When the row was entered.';

-- public.microgrid_tariffs -------------------------------------------------------------------------------

grant select on public.microgrid_tariffs to customer, operator, service, worker, reporting;
grant insert (esco, benchmark_tariff, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
              export_rate_gbp_kwh, standing_charge_gbp_day, emergency_credit_gbp, ecredit_availability_gbp,
              debt_recovery_gbp_day)
  on public.microgrid_tariffs to operator;
grant update (benchmark_tariff, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
              export_rate_gbp_kwh, standing_charge_gbp_day, emergency_credit_gbp, ecredit_availability_gbp,
              debt_recovery_gbp_day)
  on public.microgrid_tariffs to operator;
grant delete on public.microgrid_tariffs to operator;

create policy select_as_customer on public.microgrid_tariffs for select to customer
  using (esco in (select c.esco from public.customers c where c.auth_subject = (select internal.jwt_sub())));
create policy select_as_operator on public.microgrid_tariffs for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.microgrid_tariffs for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.microgrid_tariffs for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.microgrid_tariffs for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on public.microgrid_tariffs for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on public.microgrid_tariffs for select to worker using (true);
create policy select_as_reporting on public.microgrid_tariffs for select to reporting using (true);

comment on table public.microgrid_tariffs is $$ESCO tariffs: a discount on the benchmark plus prepay settings, effective-dated.
Rates exclude VAT (5 dp); element A and element B unit rates are separate (dual-element meters), no time-of-use.
A tariff is in force from effective_from until the next one of the ESCO.$$;
comment on column public.microgrid_tariffs.id is 'ESCO tariff id.';
comment on column public.microgrid_tariffs.esco is 'The ESCO (flows.escos.id).';
comment on column public.microgrid_tariffs.benchmark_tariff is 'The benchmark the rates were derived from (public.benchmark_tariffs.id), if any.';
comment on column public.microgrid_tariffs.effective_from is 'First day (Europe/London) the tariff is in force.';
comment on column public.microgrid_tariffs.discount_pct is 'Discount on the benchmark, %.';
comment on column public.microgrid_tariffs.unit_rate_a_gbp_kwh is 'Element A unit rate, £/kWh excluding VAT.';
comment on column public.microgrid_tariffs.unit_rate_b_gbp_kwh is 'Element B unit rate, £/kWh excluding VAT.';
comment on column public.microgrid_tariffs.export_rate_gbp_kwh is 'Export (generation) rate, £/kWh; outside the scope of VAT.';
comment on column public.microgrid_tariffs.standing_charge_gbp_day is 'Standing charge, £/day excluding VAT.';
comment on column public.microgrid_tariffs.emergency_credit_gbp is 'Prepay: emergency credit the meter offers, £.';
comment on column public.microgrid_tariffs.ecredit_availability_gbp is 'Prepay: balance (£) below which emergency credit becomes available.';
comment on column public.microgrid_tariffs.debt_recovery_gbp_day is 'Prepay: debt recovered per day, £.';
comment on column public.microgrid_tariffs.created_at is 'When the row was created.';

-- public.customer_tariffs --------------------------------------------------------------------------------

grant select on public.customer_tariffs to customer, operator, worker;
grant insert (customer, esco, microgrid_tariff, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
              standing_charge_gbp_day)
  on public.customer_tariffs to operator;
grant update (microgrid_tariff, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
              standing_charge_gbp_day)
  on public.customer_tariffs to operator;
grant delete on public.customer_tariffs to operator;

create policy select_as_customer on public.customer_tariffs for select to customer
  using (customer = (select internal.my_customer_id()));
create policy select_as_operator on public.customer_tariffs for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.customer_tariffs for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.customer_tariffs for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.customer_tariffs for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.customer_tariffs for select to worker using (true);

comment on table public.customer_tariffs is $$A customer's own tariff, where their discount differs from the ESCO's.
It replaces the unit rates and standing charge of the ESCO tariff it belongs to (microgrid_tariff); prepay
settings and the export rate stay the ESCO's. Rates exclude VAT (5 dp).$$;
comment on column public.customer_tariffs.id is 'Customer tariff id.';
comment on column public.customer_tariffs.customer is 'The customer (public.customers.id).';
comment on column public.customer_tariffs.esco is 'The ESCO of the customer and of the ESCO tariff.';
comment on column public.customer_tariffs.microgrid_tariff is 'The ESCO tariff this one adjusts (public.microgrid_tariffs.id).';
comment on column public.customer_tariffs.effective_from is 'First day (Europe/London) the tariff is in force.';
comment on column public.customer_tariffs.discount_pct is 'The customer''s discount on the benchmark, %.';
comment on column public.customer_tariffs.unit_rate_a_gbp_kwh is 'Element A unit rate, £/kWh excluding VAT.';
comment on column public.customer_tariffs.unit_rate_b_gbp_kwh is 'Element B unit rate, £/kWh excluding VAT.';
comment on column public.customer_tariffs.standing_charge_gbp_day is 'Standing charge, £/day excluding VAT.';
comment on column public.customer_tariffs.created_at is 'When the row was created.';

-- The one rate derivation ---------------------------------------------------------------------------------

create or replace function public.tariff_rate_ex_vat(rate_inc_vat numeric, discount_pct numeric,
                                                     vat_rate_pct numeric default 5.00)
returns numeric
language plpgsql immutable strict parallel safe
set search_path = ''
as $$
begin
  if rate_inc_vat < 0 or discount_pct not between 0 and 100 or vat_rate_pct not between 0 and 100 then
    raise exception 'cannot derive a rate from % at % %% discount and % %% VAT', rate_inc_vat, discount_pct, vat_rate_pct
      using errcode = '22023', hint = 'The rate is >= 0; discount and VAT are percentages between 0 and 100.';
  end if;
  -- One rounding, at the end, of the exact quotient: half away from zero, to 5 dp.
  return round(rate_inc_vat * (100 - discount_pct) / (100 + vat_rate_pct), 5);
end
$$;
comment on function public.tariff_rate_ex_vat(numeric, numeric, numeric) is $$Derives an ex-VAT tariff rate (5 dp) from a VAT-inclusive benchmark rate and a discount.
rate_inc_vat × (1 − discount_pct/100) ÷ (1 + vat_rate_pct/100), rounded once, half away from zero, with
round(numeric, 5). Used for unit rates and standing charges of ESCO and customer tariffs. Benchmarks are
published with domestic VAT (5 %), the default.$$;
revoke all on function public.tariff_rate_ex_vat(numeric, numeric, numeric) from public;
grant execute on function public.tariff_rate_ex_vat(numeric, numeric, numeric) to operator, worker;

-- Next quarter's tariffs -----------------------------------------------------------------------------------

-- Runs as the caller: an operator creates tariffs only for their ESCOs (row-level security on
-- flows.escos and the tariff tables), an administrator for all.
create or replace function public.generate_new_quarter_tariffs(quarter_start_in date, esco_code_in text default null)
returns table (esco_code text, kind text, tariff_id uuid, customer_id uuid, effective_from date, discount_pct numeric,
               unit_rate_a_gbp_kwh numeric, unit_rate_b_gbp_kwh numeric, standing_charge_gbp_day numeric)
language plpgsql volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
  esco_row record;
  bench public.benchmark_tariffs;
  previous public.microgrid_tariffs;
  current_tariff public.microgrid_tariffs;
  wanted_code text := upper(btrim(esco_code_in));
begin
  if quarter_start_in is null
     or extract(day from quarter_start_in) <> 1 or extract(month from quarter_start_in) not in (1, 4, 7, 10) then
    raise exception 'quarter_start_in % is not the first day of a quarter', coalesce(quarter_start_in::text, 'null')
      using errcode = '22023', hint = 'Quarters start on 1 January, 1 April, 1 July and 1 October.';
  end if;
  if wanted_code is not null and not exists (select 1 from flows.escos e where e.code = wanted_code) then
    raise exception 'ESCO % not found', wanted_code
      using errcode = 'PT404', hint = 'Use the code of an ESCO you manage (flows.escos.code).';
  end if;

  for esco_row in
    select e.id, e.code, e.region from flows.escos e
     where wanted_code is null or e.code = wanted_code
     order by e.code
  loop
    select b.* into bench from public.benchmark_tariffs b
     where b.region = esco_row.region and b.quarter_start = quarter_start_in;
    if not found then
      if wanted_code is null then
        raise notice 'ESCO %: no benchmark tariff for region % and quarter %; skipped',
          esco_row.code, esco_row.region, quarter_start_in;
        continue;
      end if;
      raise exception 'no benchmark tariff for region % and quarter %', coalesce(esco_row.region, '(none)'), quarter_start_in
        using errcode = 'PT404',
              hint = 'Enter the published benchmark in public.benchmark_tariffs first (and set flows.escos.region).';
    end if;

    select m.* into previous from public.microgrid_tariffs m
     where m.esco = esco_row.id and m.effective_from < quarter_start_in
     order by m.effective_from desc limit 1;
    if not found then
      if wanted_code is null then
        raise notice 'ESCO %: no earlier tariff to carry over; skipped', esco_row.code;
        continue;
      end if;
      raise exception 'ESCO % has no tariff before % to carry over', esco_row.code, quarter_start_in
        using errcode = 'PT409', hint = 'Create the ESCO''s first tariff in public.microgrid_tariffs by hand.';
    end if;

    -- The ESCO tariff: benchmark rates at the previous discount; prepay settings and export rate carried over.
    return query
      insert into public.microgrid_tariffs as m
        (esco, benchmark_tariff, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
         export_rate_gbp_kwh, standing_charge_gbp_day, emergency_credit_gbp, ecredit_availability_gbp,
         debt_recovery_gbp_day)
      values
        (esco_row.id, bench.id, quarter_start_in, previous.discount_pct,
         public.tariff_rate_ex_vat(bench.unit_rate_inc_vat_gbp_kwh, previous.discount_pct),
         public.tariff_rate_ex_vat(bench.unit_rate_inc_vat_gbp_kwh, previous.discount_pct),
         previous.export_rate_gbp_kwh,
         public.tariff_rate_ex_vat(bench.standing_charge_inc_vat_gbp_day, previous.discount_pct),
         previous.emergency_credit_gbp, previous.ecredit_availability_gbp, previous.debt_recovery_gbp_day)
      on conflict (esco, effective_from) do nothing
      returning esco_row.code, 'microgrid'::text, m.id, null::uuid, m.effective_from, m.discount_pct::numeric,
                m.unit_rate_a_gbp_kwh::numeric, m.unit_rate_b_gbp_kwh::numeric, m.standing_charge_gbp_day::numeric;

    -- The quarter's ESCO tariff, new or already there.
    select m.* into current_tariff from public.microgrid_tariffs m
     where m.esco = esco_row.id and m.effective_from = quarter_start_in;

    -- Customer tariffs: each customer (not closed) whose latest earlier discount differs from the ESCO's keeps it.
    return query
      with latest as (
        select distinct on (ct.customer) ct.customer, ct.discount_pct
          from public.customer_tariffs ct
          join public.customers c on c.id = ct.customer
         where ct.esco = esco_row.id and ct.effective_from < quarter_start_in and c.status <> 'closed'
         order by ct.customer, ct.effective_from desc
      )
      insert into public.customer_tariffs as t
        (customer, esco, microgrid_tariff, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
         standing_charge_gbp_day)
      select l.customer, esco_row.id, current_tariff.id, quarter_start_in, l.discount_pct,
             public.tariff_rate_ex_vat(bench.unit_rate_inc_vat_gbp_kwh, l.discount_pct),
             public.tariff_rate_ex_vat(bench.unit_rate_inc_vat_gbp_kwh, l.discount_pct),
             public.tariff_rate_ex_vat(bench.standing_charge_inc_vat_gbp_day, l.discount_pct)
        from latest l
       where l.discount_pct <> current_tariff.discount_pct
       order by l.customer
      on conflict (customer, effective_from) do nothing
      returning esco_row.code, 'customer'::text, t.id, t.customer, t.effective_from, t.discount_pct::numeric,
                t.unit_rate_a_gbp_kwh::numeric, t.unit_rate_b_gbp_kwh::numeric, t.standing_charge_gbp_day::numeric;
  end loop;
end
$$;
comment on function public.generate_new_quarter_tariffs(date, text) is $$Creates next quarter's ESCO and customer tariffs from the quarter's benchmark; returns what it created.
For each ESCO (esco_code_in, or every ESCO the caller manages when null): an ESCO tariff effective from
quarter_start_in at the discount of the ESCO's previous tariff, rates from public.tariff_rate_ex_vat, prepay
settings and export rate carried over; and a customer tariff for each customer whose latest discount differs
from the ESCO's. Idempotent: a second run creates nothing and returns no rows.
Errors: 22023 (not a quarter start), PT404 (ESCO or benchmark not found), PT409 (no earlier tariff to carry over).$$;
revoke all on function public.generate_new_quarter_tariffs(date, text) from public;
grant execute on function public.generate_new_quarter_tariffs(date, text) to operator;

-- The future-tariff work queue ------------------------------------------------------------------------------

-- Runs as the caller: an operator sees only their ESCOs' meters, the worker (tariffs__push) all.
create or replace function public.meters_missing_future_tariffs(esco_code_in text)
returns table (meter_id uuid, serial text, esco_code text, customer_id uuid, tariff_id uuid, effective_from date,
               activation_datetime timestamptz, standing_charge numeric, unit_rate_element_a numeric,
               unit_rate_element_b numeric, prepayment_emergency_credit numeric,
               prepayment_ecredit_availability numeric, prepayment_debt_recovery_rate numeric,
               unit_rate_capped boolean, reported_tariffs_future jsonb)
language plpgsql stable
set search_path = ''
as $$
#variable_conflict use_column
declare
  esco_row record;
  today date := (now() at time zone 'Europe/London')::date;
begin
  select e.id, e.code into esco_row from flows.escos e where e.code = upper(btrim(esco_code_in));
  if not found then
    raise exception 'ESCO % not found', coalesce(quote_literal(esco_code_in), 'null')
      using errcode = 'PT404', hint = 'Use the code of an ESCO you manage (flows.escos.code).';
  end if;

  return query
    with next_tariff as (
      select m.* from public.microgrid_tariffs m
       where m.esco = esco_row.id and m.effective_from > today
       order by m.effective_from limit 1
    ),
    -- The account supplying each meter's property on the day the tariff takes effect, and its customer
    -- (holder first, then occupant, then payer).
    supplied as (
      select distinct on (pm.meter) pm.meter, a.vat_rate_pct, ca.customer
        from next_tariff nt
        join flows.property_meters pm on pm.esco = esco_row.id
        join public.account_supplies s
          on s.property = pm.property
         and s.start_date <= nt.effective_from and (s.end_date is null or s.end_date > nt.effective_from)
        join public.accounts a on a.id = s.account
        left join public.customer_accounts ca on ca.account = s.account
       order by pm.meter, array_position(array['holder', 'occupant', 'payer'], ca.role), ca.customer
    ),
    desired as (
      select r.id as meter_id, r.serial, sup.customer, coalesce(ct.id, nt.id) as tariff_id, nt.effective_from,
             nt.effective_from::timestamp at time zone 'Europe/London' as activation,
             trunc(coalesce(ct.unit_rate_a_gbp_kwh, nt.unit_rate_a_gbp_kwh) * (100 + coalesce(sup.vat_rate_pct, 5.00)) / 100, 5) as rate_a,
             trunc(coalesce(ct.unit_rate_b_gbp_kwh, nt.unit_rate_b_gbp_kwh) * (100 + coalesce(sup.vat_rate_pct, 5.00)) / 100, 5) as rate_b,
             trunc(coalesce(ct.standing_charge_gbp_day, nt.standing_charge_gbp_day) * (100 + coalesce(sup.vat_rate_pct, 5.00)) / 100, 5) as standing,
             nt.emergency_credit_gbp::numeric as emergency_credit,
             nt.ecredit_availability_gbp::numeric as ecredit_availability,
             nt.debt_recovery_gbp_day::numeric as debt_recovery
        from flows.meter_registry r
       cross join next_tariff nt
        left join supplied sup on sup.meter = r.id
        left join public.customer_tariffs ct on ct.customer = sup.customer and ct.microgrid_tariff = nt.id
       where r.esco = esco_row.id
    ),
    -- What the meter reported (flows.meter_shadows.tariffs_future); unreadable values count as missing.
    reported as (
      select d.*, sh.tariffs_future,
             case when sh.tariffs_future ->> 'standing_charge' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                  then (sh.tariffs_future ->> 'standing_charge')::numeric end as r_standing,
             case when sh.tariffs_future ->> 'unit_rate_element_a' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                  then (sh.tariffs_future ->> 'unit_rate_element_a')::numeric end as r_rate_a,
             case when sh.tariffs_future ->> 'unit_rate_element_b' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                  then (sh.tariffs_future ->> 'unit_rate_element_b')::numeric end as r_rate_b,
             case when sh.tariffs_future ->> 'prepayment_emergency_credit' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                  then (sh.tariffs_future ->> 'prepayment_emergency_credit')::numeric end as r_emergency_credit,
             case when sh.tariffs_future ->> 'prepayment_ecredit_availability' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                  then (sh.tariffs_future ->> 'prepayment_ecredit_availability')::numeric end as r_ecredit_availability,
             case when sh.tariffs_future ->> 'prepayment_debt_recovery_rate' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                  then (sh.tariffs_future ->> 'prepayment_debt_recovery_rate')::numeric end as r_debt_recovery,
             case when sh.tariffs_future ->> 'activation_datetime'
                         ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$'
                  then (sh.tariffs_future ->> 'activation_datetime')::timestamptz
                  when sh.tariffs_future ->> 'activation_datetime' ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$'
                  then (sh.tariffs_future ->> 'activation_datetime')::timestamp at time zone 'UTC' end as r_activation
        from desired d
        left join flows.meter_shadows sh on sh.id = d.meter_id
    )
    select p.meter_id, p.serial, esco_row.code::text, p.customer, p.tariff_id, p.effective_from, p.activation,
           p.standing, least(p.rate_a, 1.00000), least(p.rate_b, 1.00000),
           p.emergency_credit, p.ecredit_availability, p.debt_recovery,
           p.rate_a > 1 or p.rate_b > 1, p.tariffs_future
      from reported p
     where p.r_standing is distinct from p.standing
        or p.r_rate_a is distinct from least(p.rate_a, 1.00000)
        or p.r_rate_b is distinct from least(p.rate_b, 1.00000)
        or p.r_emergency_credit is distinct from p.emergency_credit
        or p.r_ecredit_availability is distinct from p.ecredit_availability
        or p.r_debt_recovery is distinct from p.debt_recovery
        or p.r_activation is distinct from p.activation
     order by p.serial;
end
$$;
comment on function public.meters_missing_future_tariffs(text) is $$The tariff job's work queue: meters of an ESCO whose reported future tariff differs from the one they should hold.
The tariff they should hold is the ESCO's next tariff (earliest effective_from after today, Europe/London),
with the unit rates and standing charge of the customer tariff of the account holder supplied on that day when
there is one. Values to push are VAT-inclusive at the supplying account's VAT rate (5 % when unsupplied),
truncated (not rounded) to 5 dp, unit rates capped at £1 (unit_rate_capped tells); activation_datetime is
effective_from at 00:00 Europe/London. A meter is listed when any value, or the activation time, differs from
flows.meter_shadows.tariffs_future (keys standing_charge, unit_rate_element_a, unit_rate_element_b,
prepayment_emergency_credit, prepayment_ecredit_availability, prepayment_debt_recovery_rate, and
activation_datetime as an ISO 8601 timestamp; one without an offset is read as UTC).
Errors: PT404 when the ESCO is unknown or not the caller's.$$;
revoke all on function public.meters_missing_future_tariffs(text) from public;
grant execute on function public.meters_missing_future_tariffs(text) to operator, worker;
