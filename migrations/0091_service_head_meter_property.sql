-- Up Migration
-- Neighbouring homes may share one service head (a customer-owned cut-out), each with its own meter on it. Until
-- now every meter of a head counted for every property of the head, so each home was billed for, and shown, both
-- meters. service_head_meter.property names the property a meter on a shared head supplies; null = every property
-- of its head (the usual one-property head, and every existing row, so nothing changes for them).
-- The named property must be on that service head: a foreign key to the (property, service_head) link, so it holds
-- under concurrent writes and keeps the link from being removed while a meter names it. (property, esco) keeps the
-- ESCO rule of every other topology link. The meters of a property are read through flows.property_meters
-- (sql/029_flows_property_meters.sql); grants and comments: sql/100_flows_topology.sql.

alter table flows.service_head_meter
  add column property uuid,
  add foreign key (property, esco) references flows.properties (id, esco),
  add foreign key (property, service_head) references flows.properties_service_head (property, service_head);
create index on flows.service_head_meter (property, esco);
create index on flows.service_head_meter (property, service_head);
