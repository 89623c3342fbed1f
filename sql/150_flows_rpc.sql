-- flows RPCs (besides flows.ingest_interval_hh, which lives with the ingest path in 120).

create or replace function flows.get_meters_for_cli(esco_filter text, feeder_filter text)
returns table (id uuid, serial text, name text, ip_address text, port integer, esco text, feeder text,
               csq smallint, health text, hardware text, firmware_version text, single_meter_app boolean)
language sql stable
set search_path = ''
as $$
  select m.id, m.serial, m.name, host(m.ip_address), m.port, e.code, f.name,
         s.csq, s.health, m.hardware, m.firmware_version, m.single_meter_app
    from flows.meter_registry m
    join flows.escos e on e.id = m.esco
    left join flows.meter_shadows s on s.id = m.id
    left join lateral (
      select fr.name
        from flows.service_head_meter shm
        join flows.service_head_registry sh on sh.id = shm.service_head
        join flows.feeder_registry fr on fr.id = sh.feeder
       where shm.meter = m.id
       order by fr.name
       limit 1) f on true
   where m.mode = 'active'
     and (esco_filter is null or e.code = upper(esco_filter))
     and (feeder_filter is null
          or (feeder_filter = 'null' and f.name is null)
          or exists (select 1
                       from flows.service_head_meter shm
                       join flows.service_head_registry sh on sh.id = shm.service_head
                       join flows.feeder_registry fr on fr.id = sh.feeder
                      where shm.meter = m.id and fr.name = feeder_filter))
   order by e.code, m.serial
$$;
comment on function flows.get_meters_for_cli(text, text) is $$Active meters with what the meter CLI needs to reach them (address, port, ESCO code, feeder).
esco_filter: an ESCO code (any case) or null for all; feeder_filter: a feeder name, 'null' for meters on no feeder, or null for all. Runs as the caller: only meters the caller may see.$$;
revoke all on function flows.get_meters_for_cli(text, text) from public;
grant execute on function flows.get_meters_for_cli(text, text) to operator, worker, reporting;
