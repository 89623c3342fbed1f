-- public views: `meters` (a customer's meters with balance) and `meter_readings` (their half-hourly
-- readings). Both run as the caller (security_invoker): row-level security on the flows tables decides
-- which meters, registers and half-hours anyone sees — a customer their meters' data within their supply
-- periods, an operator their ESCOs'.

-- Which property a meter serves is flows.property_meters (over flows.service_head_meter and
-- flows.properties_service_head), which customers may not read; this claim helper gives the caller the
-- meter ↔ property pairs they may know.
create or replace function internal.my_meter_properties()
returns table (meter_id uuid, property uuid, supplied_now boolean)
language sql stable security definer
set search_path = ''
as $$
  -- operators: every meter ↔ property link of their ESCOs
  select pm.meter, pm.property, true
    from flows.property_meters pm
   where internal.jwt_claims() ->> 'role' = 'operator'
     and pm.esco = any (internal.operator_escos())
  union all
  -- customers: the properties their accounts supply or supplied, and whether one supplies it today
  select pm.meter, s.property,
         bool_or(s.start_date <= (now() at time zone 'Europe/London')::date
                 and (s.end_date is null or s.end_date > (now() at time zone 'Europe/London')::date))
    from public.account_supplies s
    join flows.property_meters pm on pm.property = s.property
   where internal.jwt_claims() ->> 'role' = 'customer'
     and s.account = any (internal.customer_account_ids())
   group by pm.meter, s.property
$$;
comment on function internal.my_meter_properties() is
  'For the operator or customer making the request: the meter ↔ property pairs they may know, and whether the property is supplied to them today (always true for operators).';
revoke all on function internal.my_meter_properties() from public;
grant execute on function internal.my_meter_properties() to customer, operator;

create view public.meters with (security_invoker = true) as
select m.id as meter_id,
       m.serial,
       m.name,
       m.esco,
       e.code as esco_code,
       mp.property,
       p.plot,
       p.address,
       m.prepay_enabled,
       coalesce(mp.supplied_now, true) as supplied_now,
       -- a former occupant does not see the balance of whoever lives there now
       case when coalesce(mp.supplied_now, true) then s.balance end as balance,
       case when coalesce(mp.supplied_now, true) then s.emergency_credit end as emergency_credit,
       case when coalesce(mp.supplied_now, true) then s.balance_updated_at end as balance_updated_at,
       s.health,
       s.last_healthy_at,
       s.updated_at
  from flows.meter_registry m
  left join flows.escos e on e.id = m.esco
  left join flows.meter_shadows s on s.id = m.id
  left join internal.my_meter_properties() mp on mp.meter_id = m.id
  left join flows.properties p on p.id = mp.property;

comment on view public.meters is $$Meters with their prepay balance and health: a customer's meters, or an operator's ESCOs' meters.
One row per meter and property it serves. A customer sees the meters of the properties their accounts supply
or supplied; the balance only while they are supplied.$$;
comment on column public.meters.meter_id is 'Meter id (flows.meter_registry.id).';
comment on column public.meters.serial is 'Meter serial number.';
comment on column public.meters.name is 'Meter name.';
comment on column public.meters.esco is 'The ESCO of the meter (flows.escos.id).';
comment on column public.meters.esco_code is 'The ESCO''s code.';
comment on column public.meters.property is 'The property the meter serves (flows.properties.id); null when unknown.';
comment on column public.meters.plot is 'The property''s plot within its site.';
comment on column public.meters.address is 'The property''s address.';
comment on column public.meters.prepay_enabled is 'The meter runs in prepay mode (holds credit).';
comment on column public.meters.supplied_now is 'The property is supplied to the customer today (always true for operators).';
comment on column public.meters.balance is 'Prepay balance, £, as last read from the meter; null for a former occupant.';
comment on column public.meters.emergency_credit is 'Emergency credit in use, £, as last read; null for a former occupant.';
comment on column public.meters.balance_updated_at is 'When the balance was read.';
comment on column public.meters.health is 'healthy or unhealthy, from the last sync.';
comment on column public.meters.last_healthy_at is 'When the meter was last healthy.';
comment on column public.meters.updated_at is 'When the meter last reported (shadow update).';

grant select on public.meters to customer, operator;

create view public.meter_readings with (security_invoker = true) as
select r.meter_id,
       m.serial,
       i.register_id,
       r.element,
       r.nature,
       i."timestamp",
       i.import_kwh,
       i.export_kwh,
       i.quality
  from flows.register_interval_hh i
  join flows.meter_registers r on r.register_id = i.register_id
  join flows.meter_registry m on m.id = r.meter_id;

comment on view public.meter_readings is $$Half-hourly readings of the caller's meters' registers.
A customer sees the half-hours within their supply periods; an operator those of their ESCOs' meters.
Filter on meter_id or serial and a timestamp range.$$;
comment on column public.meter_readings.meter_id is 'Meter id (flows.meter_registry.id).';
comment on column public.meter_readings.serial is 'Meter serial number.';
comment on column public.meter_readings.register_id is 'Register id (flows.meter_registers.register_id).';
comment on column public.meter_readings.element is 'Meter element: A, B or SINGLE.';
comment on column public.meter_readings.nature is 'What the register measures: power, heat or solar.';
comment on column public.meter_readings."timestamp" is 'Start of the half-hour, UTC.';
comment on column public.meter_readings.import_kwh is 'Energy imported in the half-hour, kWh.';
comment on column public.meter_readings.export_kwh is 'Energy exported in the half-hour, kWh; null where not measured.';
comment on column public.meter_readings.quality is 'actual (read from the meter) or estimated.';

grant select on public.meter_readings to customer, operator;
