-- The meters of a property: the one definition of which meters supply (and measure) a property. Everything that
-- goes from a property — a supply, an account — to meters reads it: the customer claim helpers (030), public.meters,
-- billing, top-ups, notifications, retention, data export and metrics. Properties and meters meet on service heads
-- (flows.properties_service_head, flows.service_head_meter); a meter supplies every property of its service head
-- unless service_head_meter.property names the one it supplies (neighbours sharing a cut-out, a meter each).
-- Wiring questions (which meters hang off which head or feeder) read flows.service_head_meter directly.
-- Before 030: the claim helpers there are SQL functions whose bodies name this view. Runs as the caller
-- (security_invoker), so row-level security on the two link tables decides what anyone sees of it.

create view flows.property_meters with (security_invoker = true) as
select psh.property,
       shm.meter,
       shm.service_head,
       shm.esco
  from flows.properties_service_head psh
  join flows.service_head_meter shm
    on shm.service_head = psh.service_head
   and (shm.property is null or shm.property = psh.property);

grant select on flows.property_meters to operator, service, worker, reporting;

comment on view flows.property_meters is $$The meters supplying each property: one row per property, meter and the service head that links them.
A meter on a service head supplies every property of that head, unless flows.service_head_meter.property names the one it supplies (a head shared by neighbours, each with their own meter).$$;
comment on column flows.property_meters.property is 'The property (flows.properties.id).';
comment on column flows.property_meters.meter is 'A meter supplying it (flows.meter_registry.id).';
comment on column flows.property_meters.service_head is 'The service head the meter and the property are on.';
comment on column flows.property_meters.esco is 'ESCO of the property, the meter and the service head.';
