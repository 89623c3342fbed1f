-- flows meters: registry, registers, shadows and the history the shadows feed.
-- Writers update flows.meter_shadows; triggers keep its timestamps and append one history row per
-- changed value (docs/security.md for who sees what).

-- flows.meter_registry ---------------------------------------------------------------------------------

grant select, delete on flows.meter_registry to operator;
grant insert (esco, serial, name, ip_address, port, hardware, firmware_version, mode, prepay_enabled,
              daylight_savings_correction_enabled, single_meter_app)
  on flows.meter_registry to operator;
grant update (serial, name, ip_address, port, hardware, firmware_version, mode, prepay_enabled,
              daylight_savings_correction_enabled, single_meter_app)
  on flows.meter_registry to operator;
grant select on flows.meter_registry to service, worker, reporting;
grant update (firmware_version, hardware) on flows.meter_registry to worker;
-- Customers do not see a meter's network address (its EMOP port is not authenticated).
grant select (id, esco, serial, name, hardware, firmware_version, mode, prepay_enabled,
              daylight_savings_correction_enabled, single_meter_app, created_at, updated_at)
  on flows.meter_registry to customer;

create policy select_as_customer on flows.meter_registry for select to customer
  using (id = any ((select internal.customer_meter_ids())::uuid[]));
create policy select_as_operator on flows.meter_registry for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on flows.meter_registry for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on flows.meter_registry for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on flows.meter_registry for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on flows.meter_registry for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on flows.meter_registry for select to worker using (true);
create policy update_as_worker on flows.meter_registry for update to worker using (true) with check (true);
create policy select_as_reporting on flows.meter_registry for select to reporting using (true);

comment on table flows.meter_registry is $$Meters: identity, network address, hardware and settings.
Each meter has one shadow (flows.meter_shadows, created with it) and one register per element and period (flows.meter_registers).$$;
comment on column flows.meter_registry.id is 'Meter id (also the id of its shadow).';
comment on column flows.meter_registry.esco is 'ESCO the meter belongs to.';
comment on column flows.meter_registry.serial is 'Meter serial number, unique.';
comment on column flows.meter_registry.name is 'Display name.';
comment on column flows.meter_registry.ip_address is 'IP address the meter is reached at (EMOP over TCP): one host (IPv4 /32 or IPv6 /128; an IPv4 address as IPv4, never IPv4-mapped ::ffff:…), so that (ip_address, port) is one device.';
comment on column flows.meter_registry.port is 'TCP port of the meter (default 8080); unique together with ip_address.';
comment on column flows.meter_registry.hardware is 'Hardware model as the meter reports it.';
comment on column flows.meter_registry.firmware_version is 'Firmware version as the meter reports it.';
comment on column flows.meter_registry.mode is 'active (synced by Flows) or passive (read only on demand).';
comment on column flows.meter_registry.prepay_enabled is 'Whether the meter runs in prepay mode (deducts credit itself).';
comment on column flows.meter_registry.daylight_savings_correction_enabled is 'Whether the meter clock follows Europe/London daylight saving (else it keeps UTC).';
comment on column flows.meter_registry.single_meter_app is 'Whether the meter runs the single-meter application.';
comment on column flows.meter_registry.created_at is 'When the meter was registered.';
comment on column flows.meter_registry.updated_at is 'When the registry row last changed (maintained by trigger).';

create or replace function internal.tg_meter_registry__touch() returns trigger
language plpgsql volatile
set search_path = ''
as $$
begin
  if new.updated_at is not distinct from old.updated_at then
    new.updated_at := now();
  end if;
  return new;
end
$$;
comment on function internal.tg_meter_registry__touch() is 'Trigger: keeps flows.meter_registry.updated_at current on update.';

-- The shadow is created with the meter. SECURITY DEFINER: operators register meters but may not
-- write shadows.
create or replace function internal.tg_meter_registry__create_shadow() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  insert into flows.meter_shadows (id, esco) values (new.id, new.esco) on conflict (id) do nothing;
  return null;
end
$$;
comment on function internal.tg_meter_registry__create_shadow() is 'Trigger: creates the meter''s flows.meter_shadows row when a meter is registered.';

drop trigger if exists t10_touch on flows.meter_registry;
create trigger t10_touch before update on flows.meter_registry
  for each row execute function internal.tg_meter_registry__touch();
drop trigger if exists t20_create_shadow on flows.meter_registry;
create trigger t20_create_shadow after insert on flows.meter_registry
  for each row execute function internal.tg_meter_registry__create_shadow();

-- flows.meter_registers --------------------------------------------------------------------------------

grant select, delete on flows.meter_registers to operator;
grant insert (meter_id, esco, element, nature, status, direction_reversed, start_time, end_time)
  on flows.meter_registers to operator;
grant update (element, nature, status, direction_reversed, start_time, end_time) on flows.meter_registers to operator;
grant select on flows.meter_registers to customer, service, worker, reporting;

create policy select_as_customer on flows.meter_registers for select to customer
  using (meter_id = any ((select internal.customer_meter_ids())::uuid[]));
create policy select_as_operator on flows.meter_registers for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on flows.meter_registers for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on flows.meter_registers for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on flows.meter_registers for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on flows.meter_registers for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on flows.meter_registers for select to worker using (true);
create policy select_as_reporting on flows.meter_registers for select to reporting using (true);

comment on table flows.meter_registers is $$Registers of a meter: one per element (A, B or SINGLE) and validity window.
A register measures both import and export. A meter exchange ends the old register (end_time, status replaced) and starts a new one, so history stays attributed to the register valid at the time.$$;
comment on column flows.meter_registers.register_id is 'Register id.';
comment on column flows.meter_registers.meter_id is 'Meter the register belongs to.';
comment on column flows.meter_registers.esco is 'ESCO of the meter.';
comment on column flows.meter_registers.element is 'Meter element: A, B (dual-element meters) or SINGLE.';
comment on column flows.meter_registers.nature is 'What the register measures: power, heat or solar.';
comment on column flows.meter_registers.status is 'enabled, or replaced after a meter exchange.';
comment on column flows.meter_registers.direction_reversed is 'Whether import and export are swapped (CT fitted the wrong way round); the circuit views swap them back.';
comment on column flows.meter_registers.start_time is 'Start of validity (inclusive).';
comment on column flows.meter_registers.end_time is 'End of validity (exclusive); null while in service.';

-- flows.meter_shadows ----------------------------------------------------------------------------------

grant select on flows.meter_shadows to customer, operator, service, worker, reporting;
grant update (balance, emergency_credit, balance_updated_at, import_a, export_a, import_b, export_b,
              tariffs_active, tariffs_future, csq, voltage, clock_time_diff_seconds, health, health_details,
              last_healthy_at, updated_at)
  on flows.meter_shadows to worker;

-- the live state (balance, reads) only while the customer is supplied there: not to a former occupant
create policy select_as_customer on flows.meter_shadows for select to customer
  using (id = any ((select internal.customer_current_meter_ids())::uuid[]));
create policy select_as_operator on flows.meter_shadows for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on flows.meter_shadows for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on flows.meter_shadows for select to worker using (true);
create policy update_as_worker on flows.meter_shadows for update to worker using (true) with check (true);
create policy select_as_reporting on flows.meter_shadows for select to reporting using (true);

comment on table flows.meter_shadows is $$The last reported state of each meter (one row per meter, created with it).
Writers update the shadow; triggers append each changed value to its history table (register_import, register_export, meter_prepay_balance, meter_csq, meter_voltage, meter_health_history), timestamped with updated_at.$$;
comment on column flows.meter_shadows.id is 'Meter id (flows.meter_registry.id).';
comment on column flows.meter_shadows.esco is 'ESCO of the meter.';
comment on column flows.meter_shadows.balance is 'Prepay credit balance (£) as the meter reports it.';
comment on column flows.meter_shadows.emergency_credit is 'Emergency credit in use (£) as the meter reports it.';
comment on column flows.meter_shadows.balance_updated_at is 'When balance or emergency credit last changed.';
comment on column flows.meter_shadows.import_a is 'Cumulative import of element A (or the single element), kWh.';
comment on column flows.meter_shadows.export_a is 'Cumulative export of element A (or the single element), kWh.';
comment on column flows.meter_shadows.import_b is 'Cumulative import of element B, kWh.';
comment on column flows.meter_shadows.export_b is 'Cumulative export of element B, kWh.';
comment on column flows.meter_shadows.tariffs_active is 'Tariff in force on the meter, as it reports it (JSON; keys in specs/flows-schema.md; flattened by flows.meter_shadows_tariffs).';
comment on column flows.meter_shadows.tariffs_future is 'Tariff pending activation on the meter, as it reports it (JSON, with activation_datetime).';
comment on column flows.meter_shadows.csq is 'GSM signal quality, 0–31.';
comment on column flows.meter_shadows.voltage is 'Instantaneous voltage, V.';
comment on column flows.meter_shadows.clock_time_diff_seconds is 'Meter clock minus true time, seconds.';
comment on column flows.meter_shadows.health is 'healthy or unhealthy, as the last sync judged.';
comment on column flows.meter_shadows.health_details is 'Why the meter is (un)healthy; recorded as the reason in flows.meter_health_history.';
comment on column flows.meter_shadows.last_healthy_at is 'When the meter was last reported healthy.';
comment on column flows.meter_shadows.updated_at is 'When the shadow was last written (set to the write time unless the writer sets it); the timestamp of the history rows it appends.';

-- Before update: stamp the write. A writer may set updated_at itself (the time the values were read);
-- otherwise it is the clock time of the write, so two writes in one transaction stay distinct.
create or replace function internal.tg_meter_shadows__stamp() returns trigger
language plpgsql volatile
set search_path = ''
as $$
begin
  if new.updated_at is not distinct from old.updated_at then
    new.updated_at := clock_timestamp();
  end if;
  if (new.balance, new.emergency_credit) is distinct from (old.balance, old.emergency_credit)
     and new.balance_updated_at is not distinct from old.balance_updated_at then
    new.balance_updated_at := new.updated_at;
  end if;
  if new.health = 'healthy' and new.last_healthy_at is not distinct from old.last_healthy_at then
    new.last_healthy_at := new.updated_at;
  end if;
  return new;
end
$$;
comment on function internal.tg_meter_shadows__stamp() is
  'Trigger: sets meter_shadows.updated_at (unless the writer did), balance_updated_at and last_healthy_at.';

-- After update: one history row per changed value, none for unchanged values. Cumulative reads go
-- to the register of that element valid at updated_at (A or SINGLE for *_a, B for *_b); a read for
-- an element without a valid register is not recorded (the shadow still holds it).
-- SECURITY DEFINER: the worker writes shadows but may not write history directly.
create or replace function internal.tg_meter_shadows__append_history() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  at timestamptz := new.updated_at;
  register_a uuid;
  register_b uuid;
begin
  if new.import_a is distinct from old.import_a or new.export_a is distinct from old.export_a then
    select r.register_id into register_a
      from flows.meter_registers r
     where r.meter_id = new.id and r.element in ('A', 'SINGLE')
       and r.start_time <= at and (r.end_time is null or r.end_time > at)
     order by r.element
     limit 1;
  end if;
  if new.import_b is distinct from old.import_b or new.export_b is distinct from old.export_b then
    select r.register_id into register_b
      from flows.meter_registers r
     where r.meter_id = new.id and r.element = 'B'
       and r.start_time <= at and (r.end_time is null or r.end_time > at);
  end if;

  if register_a is not null and new.import_a is not null and new.import_a is distinct from old.import_a then
    insert into flows.register_import (register_id, "timestamp", read) values (register_a, at, new.import_a)
      on conflict (register_id, "timestamp") do update set read = excluded.read;
  end if;
  if register_a is not null and new.export_a is not null and new.export_a is distinct from old.export_a then
    insert into flows.register_export (register_id, "timestamp", read) values (register_a, at, new.export_a)
      on conflict (register_id, "timestamp") do update set read = excluded.read;
  end if;
  if register_b is not null and new.import_b is not null and new.import_b is distinct from old.import_b then
    insert into flows.register_import (register_id, "timestamp", read) values (register_b, at, new.import_b)
      on conflict (register_id, "timestamp") do update set read = excluded.read;
  end if;
  if register_b is not null and new.export_b is not null and new.export_b is distinct from old.export_b then
    insert into flows.register_export (register_id, "timestamp", read) values (register_b, at, new.export_b)
      on conflict (register_id, "timestamp") do update set read = excluded.read;
  end if;

  if (new.balance, new.emergency_credit) is distinct from (old.balance, old.emergency_credit)
     and (new.balance is not null or new.emergency_credit is not null) then
    insert into flows.meter_prepay_balance (meter_id, "timestamp", balance, emergency_credit)
      values (new.id, at, new.balance, new.emergency_credit)
      on conflict (meter_id, "timestamp") do update
        set balance = excluded.balance, emergency_credit = excluded.emergency_credit;
  end if;
  if new.csq is distinct from old.csq and new.csq is not null then
    insert into flows.meter_csq (meter_id, "timestamp", csq) values (new.id, at, new.csq)
      on conflict (meter_id, "timestamp") do update set csq = excluded.csq;
  end if;
  if new.voltage is distinct from old.voltage and new.voltage is not null then
    insert into flows.meter_voltage (meter_id, "timestamp", voltage) values (new.id, at, new.voltage)
      on conflict (meter_id, "timestamp") do update set voltage = excluded.voltage;
  end if;
  if (new.health, new.health_details) is distinct from (old.health, old.health_details) and new.health is not null then
    insert into flows.meter_health_history (meter_id, "timestamp", health, reason)
      values (new.id, at, new.health, new.health_details)
      on conflict (meter_id, "timestamp") do update set health = excluded.health, reason = excluded.reason;
  end if;
  return null;
end
$$;
comment on function internal.tg_meter_shadows__append_history() is
  'Trigger: appends each changed shadow value to its history table, attributed to the register valid at updated_at.';

drop trigger if exists t10_stamp on flows.meter_shadows;
create trigger t10_stamp before update on flows.meter_shadows
  for each row execute function internal.tg_meter_shadows__stamp();
drop trigger if exists t20_append_history on flows.meter_shadows;
create trigger t20_append_history after update on flows.meter_shadows
  for each row execute function internal.tg_meter_shadows__append_history();

-- History tables: read-only for everyone (written by the trigger above). ------------------------------

grant select on flows.register_import, flows.register_export, flows.meter_prepay_balance, flows.meter_csq,
  flows.meter_voltage, flows.meter_health_history to customer, operator, service, worker, reporting;

do $$
declare
  t text;
begin
  -- Per register: a customer sees rows inside the windows their supplies cover.
  foreach t in array array['register_import', 'register_export'] loop
    execute format($p$create policy select_as_customer on flows.%1$I for select to customer
      using (exists (select 1 from internal.customer_register_windows() w
                      where w.register_id = %1$I.register_id and w.during @> %1$I."timestamp"))$p$, t);
    execute format($p$create policy select_as_operator on flows.%I for select to operator
      using (register_id in (select r.register_id from flows.meter_registers r
                              where r.esco = any ((select internal.operator_escos())::uuid[])))$p$, t);
    execute format($p$create policy select_as_service on flows.%I for select to service
      using (register_id in (select r.register_id from flows.meter_registers r
                              where r.esco = any ((select internal.service_escos())::uuid[])))$p$, t);
    execute format('create policy select_as_worker on flows.%I for select to worker using (true)', t);
    execute format('create policy select_as_reporting on flows.%I for select to reporting using (true)', t);
  end loop;
  -- Per meter: a customer sees rows while a register of the meter was inside their supply windows.
  foreach t in array array['meter_prepay_balance', 'meter_csq', 'meter_voltage', 'meter_health_history'] loop
    execute format($p$create policy select_as_customer on flows.%1$I for select to customer
      using (exists (select 1 from internal.customer_register_windows() w
                       join flows.meter_registers r on r.register_id = w.register_id
                      where r.meter_id = %1$I.meter_id and w.during @> %1$I."timestamp"))$p$, t);
    execute format($p$create policy select_as_operator on flows.%I for select to operator
      using (meter_id in (select m.id from flows.meter_registry m
                           where m.esco = any ((select internal.operator_escos())::uuid[])))$p$, t);
    execute format($p$create policy select_as_service on flows.%I for select to service
      using (meter_id in (select m.id from flows.meter_registry m
                           where m.esco = any ((select internal.service_escos())::uuid[])))$p$, t);
    execute format('create policy select_as_worker on flows.%I for select to worker using (true)', t);
    execute format('create policy select_as_reporting on flows.%I for select to reporting using (true)', t);
  end loop;
end
$$;

comment on table flows.register_import is $$Cumulative import reads per register over time.
Appended by trigger when a shadow's import_a or import_b changes.$$;
comment on column flows.register_import.register_id is 'Register the read belongs to (valid at the timestamp).';
comment on column flows.register_import."timestamp" is 'When the read was taken (the shadow''s updated_at).';
comment on column flows.register_import.read is 'Cumulative import, kWh.';

comment on table flows.register_export is $$Cumulative export reads per register over time.
Appended by trigger when a shadow's export_a or export_b changes.$$;
comment on column flows.register_export.register_id is 'Register the read belongs to (valid at the timestamp).';
comment on column flows.register_export."timestamp" is 'When the read was taken (the shadow''s updated_at).';
comment on column flows.register_export.read is 'Cumulative export, kWh.';

comment on table flows.meter_prepay_balance is $$Prepay balance history per meter.
Appended by trigger when a shadow's balance or emergency credit changes.$$;
comment on column flows.meter_prepay_balance.meter_id is 'The meter.';
comment on column flows.meter_prepay_balance."timestamp" is 'When the values were read.';
comment on column flows.meter_prepay_balance.balance is 'Credit balance, £.';
comment on column flows.meter_prepay_balance.emergency_credit is 'Emergency credit in use, £.';

comment on table flows.meter_csq is $$GSM signal quality history per meter.
Appended by trigger when a shadow's csq changes.$$;
comment on column flows.meter_csq.meter_id is 'The meter.';
comment on column flows.meter_csq."timestamp" is 'When the value was read.';
comment on column flows.meter_csq.csq is 'Signal quality, 0–31.';

comment on table flows.meter_voltage is $$Voltage history per meter.
Appended by trigger when a shadow's voltage changes.$$;
comment on column flows.meter_voltage.meter_id is 'The meter.';
comment on column flows.meter_voltage."timestamp" is 'When the value was read.';
comment on column flows.meter_voltage.voltage is 'Instantaneous voltage, V.';

comment on table flows.meter_health_history is $$Health history per meter.
Appended by trigger when a shadow's health or health details change.$$;
comment on column flows.meter_health_history.meter_id is 'The meter.';
comment on column flows.meter_health_history."timestamp" is 'When the health was judged.';
comment on column flows.meter_health_history.health is 'healthy or unhealthy.';
comment on column flows.meter_health_history.reason is 'The health details at the time.';
