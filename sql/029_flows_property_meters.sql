-- The meters of a property: the one definition of which meters supply (and measure) a property. Everything that
-- goes from a property — a supply, an account — to meters reads it: the customer claim helpers (030), public.meters,
-- billing, top-ups, notifications, retention, data export and metrics. Properties and meters meet on service heads
-- (flows.properties_service_head, flows.service_head_meter); a meter supplies the property that
-- service_head_meter.property names (neighbours sharing a cut-out, a meter each). One that names none supplies the
-- property of its head only while the head has one: on a shared head it supplies no one (fail closed) until an
-- operator names its home, so no neighbour sees or pays for it (billing runs refuse those accounts meanwhile:
-- internal.billing_run_step).
-- Wiring questions (which meters hang off which head or feeder) read flows.service_head_meter directly.
-- Before 030: the claim helpers there are SQL functions whose bodies name this view. Runs as the caller
-- (security_invoker), so row-level security on the two link tables decides what anyone sees of it.

create view flows.property_meters with (security_invoker = true) as
select psh.property,
       shm.meter,
       shm.service_head,
       shm.esco
  from flows.properties_service_head psh
  join flows.service_head_meter shm on shm.service_head = psh.service_head
 where shm.property = psh.property
    or (shm.property is null
        and not exists (select 1 from flows.properties_service_head o
                         where o.service_head = psh.service_head and o.property <> psh.property));

grant select on flows.property_meters to operator, service, worker, reporting;

comment on view flows.property_meters is $$The meters supplying each property: one row per property, meter and the service head that links them.
A meter supplies the property flows.service_head_meter.property names (a head shared by neighbours, each with their own meter); one that names none supplies the property of its head only while the head has one property.$$;
comment on column flows.property_meters.property is 'The property (flows.properties.id).';
comment on column flows.property_meters.meter is 'A meter supplying it (flows.meter_registry.id).';
comment on column flows.property_meters.service_head is 'The service head the meter and the property are on.';
comment on column flows.property_meters.esco is 'ESCO of the property, the meter and the service head.';
