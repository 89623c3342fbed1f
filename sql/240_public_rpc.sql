-- public RPCs for customers: my_account() and my_consumption(). Both run as the caller, so row-level
-- security decides what they return; days and months are Europe/London.

create or replace function public.my_account()
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  me public.customers;
  today date := (now() at time zone 'Europe/London')::date;
  result jsonb;
begin
  select c.* into me from public.customers c where c.auth_subject = internal.jwt_sub();
  if not found then
    raise exception 'no customer record for this login'
      using errcode = 'PT404', hint = 'Ask your energy company to link your login to your customer record.';
  end if;

  select jsonb_build_object(
    'customer', jsonb_build_object(
      'id', me.id, 'name', me.name, 'email', me.email, 'phone', me.phone,
      'contact_preferences', me.contact_preferences, 'status', me.status),
    'esco', (select jsonb_build_object('id', e.id, 'code', e.code, 'name', e.name)
               from flows.escos e where e.id = me.esco),
    -- The tariff in force today: the ESCO's, with the customer's own rates where they have a customer tariff.
    'tariff', (
      select jsonb_build_object(
        'source', case when ct.id is null then 'esco' else 'customer' end,
        'tariff_id', coalesce(ct.id, m.id),
        'effective_from', coalesce(ct.effective_from, m.effective_from),
        'discount_pct', coalesce(ct.discount_pct, m.discount_pct),
        'unit_rate_a_gbp_kwh', coalesce(ct.unit_rate_a_gbp_kwh, m.unit_rate_a_gbp_kwh),
        'unit_rate_b_gbp_kwh', coalesce(ct.unit_rate_b_gbp_kwh, m.unit_rate_b_gbp_kwh),
        'standing_charge_gbp_day', coalesce(ct.standing_charge_gbp_day, m.standing_charge_gbp_day),
        'export_rate_gbp_kwh', m.export_rate_gbp_kwh,
        'emergency_credit_gbp', m.emergency_credit_gbp,
        'ecredit_availability_gbp', m.ecredit_availability_gbp,
        'debt_recovery_gbp_day', m.debt_recovery_gbp_day)
        from (select mt.* from public.microgrid_tariffs mt
               where mt.esco = me.esco and mt.effective_from <= today
               order by mt.effective_from desc limit 1) m
        left join public.customer_tariffs ct on ct.microgrid_tariff = m.id and ct.customer = me.id),
    'accounts', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', a.id, 'account_number', a.account_number, 'role', ca.role,
               'billing_mode', a.billing_mode, 'payment_reference', a.payment_reference,
               'vat_rate_pct', a.vat_rate_pct, 'status', a.status,
               'opened_on', a.opened_on, 'closed_on', a.closed_on,
               'supplies', coalesce((
                 select jsonb_agg(jsonb_build_object(
                          'id', s.id, 'property', s.property, 'plot', p.plot, 'address', p.address,
                          'start_date', s.start_date, 'end_date', s.end_date,
                          'current', s.start_date <= today and (s.end_date is null or s.end_date > today),
                          'meters', coalesce((
                            select jsonb_agg(jsonb_build_object(
                                     'meter_id', mm.meter_id, 'serial', mm.serial, 'name', mm.name,
                                     'prepay_enabled', mm.prepay_enabled, 'balance', mm.balance,
                                     'emergency_credit', mm.emergency_credit,
                                     'balance_updated_at', mm.balance_updated_at,
                                     'health', mm.health, 'updated_at', mm.updated_at) order by mm.serial)
                              from public.meters mm where mm.property = s.property), '[]'::jsonb))
                          order by s.start_date)
                   from public.account_supplies s
                   left join flows.properties p on p.id = s.property
                  where s.account = a.id), '[]'::jsonb))
             order by a.account_number)
        from public.customer_accounts ca
        join public.accounts a on a.id = ca.account
       where ca.customer = me.id), '[]'::jsonb))
    into result;
  return result;
end
$$;
comment on function public.my_account() is $$The signed-in customer's record, accounts, supplies, meters with balances and current tariff, in one JSON object.
Keys: customer, esco, tariff (the one in force today; rates exclude VAT, 5 dp; source esco or customer),
accounts[] (with role and supplies[], each with its meters[] and balances; a former supply's meters show no balance).
Errors: PT404 when no customer record matches the login.$$;
revoke all on function public.my_account() from public;
grant execute on function public.my_account() to customer;

create or replace function public.my_consumption(from_date date, to_date date, granularity text default 'day')
returns table (period_start timestamptz, period_end timestamptz, local_date date, meter_id uuid, serial text,
               element text, import_kwh numeric, export_kwh numeric, half_hours integer,
               expected_half_hours integer, estimated_half_hours integer)
language plpgsql stable
set search_path = ''
as $$
#variable_conflict use_column
declare
  max_days constant jsonb := '{"halfhour": 93, "day": 732, "month": 3660}';
  range_start timestamptz;
  range_end timestamptz;
begin
  if granularity is null or not (max_days ? granularity) then
    raise exception 'granularity must be halfhour, day or month, not %', coalesce(quote_literal(granularity), 'null')
      using errcode = '22023', hint = 'Pass granularity => halfhour, day or month.';
  end if;
  if from_date is null or to_date is null or from_date >= to_date then
    raise exception 'from_date must be before to_date'
      using errcode = '22023', hint = 'Dates are Europe/London days; to_date is exclusive (the day after the last day wanted).';
  end if;
  if to_date - from_date > (max_days ->> granularity)::integer then
    raise exception 'a % range may span at most % days', granularity, max_days ->> granularity
      using errcode = '22023', hint = 'Ask for a shorter range, or a coarser granularity.';
  end if;
  if internal.my_customer_id() is null then
    raise exception 'no customer record for this login'
      using errcode = 'PT404', hint = 'Ask your energy company to link your login to your customer record.';
  end if;

  range_start := from_date::timestamp at time zone 'Europe/London';
  range_end := to_date::timestamp at time zone 'Europe/London';

  return query
    with windows as materialized (
      select w.register_id, w.during from internal.customer_register_windows() w
    ),
    readings as (
      select r.meter_id, m.serial, r.element, i.import_kwh, i.export_kwh, i.quality, i."timestamp",
             i."timestamp" at time zone 'Europe/London' as local_ts
        from flows.register_interval_hh i
        join flows.meter_registers r on r.register_id = i.register_id
        join flows.meter_registry m on m.id = r.meter_id
       where i."timestamp" >= range_start and i."timestamp" < range_end
         and exists (select 1 from windows w where w.register_id = i.register_id and w.during @> i."timestamp")
    ),
    bucketed as (
      select rd.*,
             case granularity
               when 'halfhour' then rd."timestamp"
               when 'day' then rd.local_ts::date::timestamp at time zone 'Europe/London'
               else greatest(date_trunc('month', rd.local_ts)::date, from_date)::timestamp at time zone 'Europe/London'
             end as b_start,
             case granularity
               when 'halfhour' then rd."timestamp" + interval '30 minutes'
               when 'day' then (rd.local_ts::date + 1)::timestamp at time zone 'Europe/London'
               else least((date_trunc('month', rd.local_ts) + interval '1 month')::date, to_date)::timestamp
                      at time zone 'Europe/London'
             end as b_end,
             case granularity when 'month' then date_trunc('month', rd.local_ts)::date else rd.local_ts::date end as b_date
        from readings rd
    )
    select b.b_start, b.b_end, b.b_date, b.meter_id, b.serial, b.element,
           sum(b.import_kwh), sum(b.export_kwh), count(*)::integer,
           (extract(epoch from b.b_end - b.b_start) / 1800)::integer,
           (count(*) filter (where b.quality = 'estimated'))::integer
      from bucketed b
     group by b.b_start, b.b_end, b.b_date, b.meter_id, b.serial, b.element
     order by b.b_start, b.serial, b.element;
end
$$;
comment on function public.my_consumption(date, date, text) is $$The signed-in customer's consumption per meter and element, by half-hour, day or month (Europe/London).
from_date is inclusive and to_date exclusive, both Europe/London days; only half-hours within the customer's
supply periods count. Each row is a bucket with data: period_start/period_end (month buckets are clipped to the
range), local_date (the day, or the first day of the month), summed import_kwh and export_kwh, half_hours present,
expected_half_hours (46, 48 or 50 for a day across a clock change) and how many were estimated.
Ranges: at most 93 days by halfhour, 732 by day, 3660 by month.
Errors: 22023 for a bad granularity or range (HTTP 400), PT404 when no customer record matches the login.$$;
revoke all on function public.my_consumption(date, date, text) from public;
grant execute on function public.my_consumption(date, date, text) to customer;
