-- flows topology: ESCOs, sites, properties, feeders, service heads, circuits and their links.
-- Grants, row-level security and comments (docs/security.md). Policies are `<command>_as_<role>`;
-- migrate drops every policy and grant first, so this file only creates them.
-- Tenant rule: an operator reaches the rows of the ESCOs of their membership (internal.operator_escos),
-- a service the ESCOs of its token (internal.service_escos); `esco` is writable on insert only, where
-- the with-check clause and the composite (id, esco) foreign keys keep it inside the caller's ESCOs.

-- flows.escos ----------------------------------------------------------------------------------------

grant select (code, name) on flows.escos to anon;
grant select on flows.escos to customer, operator, service, worker, reporting;
grant update (name, region, low_balance_threshold_gbp, offline_after_hours, clock_drift_limit_seconds, max_interval_kwh)
  on flows.escos to operator;

create policy select_as_anon on flows.escos for select to anon using (true);
create policy select_as_customer on flows.escos for select to customer
  using (id in (select c.esco from public.customers c where c.id = (select internal.my_customer_id())));
create policy select_as_operator on flows.escos for select to operator
  using (id = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on flows.escos for update to operator
  using (id = any ((select internal.operator_escos())::uuid[]))
  with check (id = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on flows.escos for select to service
  using (id = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on flows.escos for select to worker using (true);
create policy select_as_reporting on flows.escos for select to reporting using (true);

comment on table flows.escos is $$Energy service companies (ESCOs): the tenants of Flows.
Every site, feeder, meter, account and tariff belongs to one ESCO; operators see the ESCOs of their membership.$$;
comment on column flows.escos.id is 'ESCO id.';
comment on column flows.escos.code is 'Short upper-case code, unique (e.g. WLCE, HMCE).';
comment on column flows.escos.name is 'Display name.';
comment on column flows.escos.region is 'Ofgem region code of the benchmark (price-cap) tariff that applies.';
comment on column flows.escos.low_balance_threshold_gbp is 'Prepay balance (£) below which a meter is listed in flows.meters_low_balance.';
comment on column flows.escos.offline_after_hours is 'Hours without a shadow update after which a meter is listed in flows.meters_offline_recently.';
comment on column flows.escos.clock_drift_limit_seconds is 'Absolute meter clock drift (s) above which a meter is listed in flows.meters_clock_drift.';
comment on column flows.escos.max_interval_kwh is 'Largest plausible kWh per half-hour; larger interval values are ingested but flagged `jump`.';
comment on column flows.escos.created_at is 'When the ESCO was created.';

-- The uniform topology tables: operator SIUD, service S within their ESCOs; worker and reporting S. ------

do $$
declare
  t text;
begin
  foreach t in array array['sites_new', 'properties', 'feeder_registry', 'service_head_registry',
                           'properties_service_head', 'service_head_meter', 'circuits', 'circuit_register']
  loop
    execute format('grant select, delete on flows.%I to operator', t);
    execute format('grant select on flows.%I to service, worker, reporting', t);
    execute format($p$create policy select_as_operator on flows.%I for select to operator
                      using (esco = any ((select internal.operator_escos())::uuid[]))$p$, t);
    execute format($p$create policy insert_as_operator on flows.%I for insert to operator
                      with check (esco = any ((select internal.operator_escos())::uuid[]))$p$, t);
    execute format($p$create policy update_as_operator on flows.%I for update to operator
                      using (esco = any ((select internal.operator_escos())::uuid[]))
                      with check (esco = any ((select internal.operator_escos())::uuid[]))$p$, t);
    execute format($p$create policy delete_as_operator on flows.%I for delete to operator
                      using (esco = any ((select internal.operator_escos())::uuid[]))$p$, t);
    execute format($p$create policy select_as_service on flows.%I for select to service
                      using (esco = any ((select internal.service_escos())::uuid[]))$p$, t);
    execute format('create policy select_as_worker on flows.%I for select to worker using (true)', t);
    execute format('create policy select_as_reporting on flows.%I for select to reporting using (true)', t);
  end loop;
end
$$;

-- Column grants: `esco` on insert only (moving a row to another ESCO would need its children moved too).
grant insert (esco, name, code, location, capacity_kw) on flows.sites_new to operator;
grant update (name, code, location, capacity_kw) on flows.sites_new to operator;
grant insert (esco, site, plot, address, type) on flows.properties to operator;
grant update (site, plot, address, type) on flows.properties to operator;
grant insert (esco, name, substation, rating_amps) on flows.feeder_registry to operator;
grant update (name, substation, rating_amps) on flows.feeder_registry to operator;
grant insert (esco, feeder, name, phase, fuse_rating, type) on flows.service_head_registry to operator;
grant update (feeder, name, phase, fuse_rating, type) on flows.service_head_registry to operator;
grant insert (esco, property, service_head) on flows.properties_service_head to operator;
grant update (property, service_head) on flows.properties_service_head to operator;
grant insert (esco, service_head, meter, property) on flows.service_head_meter to operator;
grant update (service_head, meter, property) on flows.service_head_meter to operator;
grant insert (esco, site, type, name, rating_amps) on flows.circuits to operator;
grant update (site, type, name, rating_amps) on flows.circuits to operator;
grant insert (esco, circuit, register, start_time, end_time) on flows.circuit_register to operator;
grant update (start_time, end_time) on flows.circuit_register to operator;

-- A customer sees the properties their accounts supply or supplied (through their own supplies).
grant select on flows.properties to customer;
create policy select_as_customer on flows.properties for select to customer
  using (id in (select s.property from public.account_supplies s
                 where s.account = any ((select internal.customer_account_ids())::uuid[])));

comment on table flows.sites_new is $$Sites (developments) of an ESCO.
A site groups properties and circuits.$$;
comment on column flows.sites_new.id is 'Site id.';
comment on column flows.sites_new.esco is 'ESCO the site belongs to.';
comment on column flows.sites_new.name is 'Display name.';
comment on column flows.sites_new.code is 'Short code, unique.';
comment on column flows.sites_new.location is 'Free-text location (address, grid reference).';
comment on column flows.sites_new.capacity_kw is 'Connection capacity of the site in kW.';

comment on table flows.properties is $$Properties (homes, plots) on a site.
A property is supplied through one or more service heads (flows.properties_service_head).$$;
comment on column flows.properties.id is 'Property id.';
comment on column flows.properties.esco is 'ESCO of the property (always the ESCO of its site).';
comment on column flows.properties.site is 'Site the property is on.';
comment on column flows.properties.plot is 'Plot number or name, unique within the site.';
comment on column flows.properties.address is 'Postal address.';
comment on column flows.properties.type is 'Property type (house, flat, commercial…).';

comment on table flows.feeder_registry is $$Low-voltage feeders of an ESCO's private network.$$;
comment on column flows.feeder_registry.id is 'Feeder id.';
comment on column flows.feeder_registry.esco is 'ESCO that operates the feeder.';
comment on column flows.feeder_registry.name is 'Feeder name, unique.';
comment on column flows.feeder_registry.substation is 'Substation the feeder leaves from.';
comment on column flows.feeder_registry.rating_amps is 'Feeder rating in amps.';

comment on table flows.service_head_registry is $$Service heads (cut-outs) on a feeder.
Meters hang off service heads (flows.service_head_meter); properties are fed by them (flows.properties_service_head).$$;
comment on column flows.service_head_registry.id is 'Service head id.';
comment on column flows.service_head_registry.esco is 'ESCO of the service head (always the ESCO of its feeder).';
comment on column flows.service_head_registry.feeder is 'Feeder the service head is on.';
comment on column flows.service_head_registry.name is 'Service head name, unique.';
comment on column flows.service_head_registry.phase is 'Phase the service head is connected to (1–3).';
comment on column flows.service_head_registry.fuse_rating is 'Fuse rating in amps.';
comment on column flows.service_head_registry.type is 'Ownership: customer_owned or network_owned.';

comment on table flows.properties_service_head is $$Which service heads feed which properties (many-to-many).$$;
comment on column flows.properties_service_head.property is 'The property.';
comment on column flows.properties_service_head.service_head is 'A service head feeding it.';
comment on column flows.properties_service_head.esco is 'ESCO of both (kept equal by foreign keys).';

comment on table flows.service_head_meter is $$Which meters are on which service heads, and on a shared head which property each supplies.
The meters of a property are in flows.property_meters.$$;
comment on column flows.service_head_meter.service_head is 'The service head.';
comment on column flows.service_head_meter.meter is 'A meter on it.';
comment on column flows.service_head_meter.property is $$On a service head shared by several properties, the property this meter supplies (one of the head's, flows.properties_service_head); null = it supplies the head's property while the head has only one, and no one on a shared head (name it: flows.property_meters).$$;
comment on column flows.service_head_meter.esco is 'ESCO of the service head, the meter and the property (kept equal by foreign keys).';

comment on table flows.circuits is $$Circuits of a site (power, heat or solar), measured by meter registers.
Registers map to circuits over time through flows.circuit_register.$$;
comment on column flows.circuits.id is 'Circuit id.';
comment on column flows.circuits.esco is 'ESCO of the circuit (always the ESCO of its site).';
comment on column flows.circuits.site is 'Site the circuit belongs to.';
comment on column flows.circuits.type is 'power, heat or solar.';
comment on column flows.circuits.name is 'Display name.';
comment on column flows.circuits.rating_amps is 'Circuit rating in amps.';

comment on table flows.circuit_register is $$Which registers measure a circuit, and when.
The validity window [start_time, end_time) lets a meter exchange keep the circuit's history continuous; windows of the same circuit and register never overlap.$$;
comment on column flows.circuit_register.circuit is 'The circuit.';
comment on column flows.circuit_register.register is 'A register measuring it (flows.meter_registers.register_id).';
comment on column flows.circuit_register.esco is 'ESCO of both (kept equal by foreign keys).';
comment on column flows.circuit_register.start_time is 'Start of the mapping (inclusive).';
comment on column flows.circuit_register.end_time is 'End of the mapping (exclusive); null while it lasts.';
