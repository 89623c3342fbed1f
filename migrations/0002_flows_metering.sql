-- Up Migration
-- The `flows` schema: topology, meters, registers, shadows and their history, interval data,
-- events and sync status. Names that Flows clients use are fixed by specs/flows-schema.md.
-- Every tenant-scoped table carries `esco`, kept consistent with its parent by composite foreign
-- keys, so row-level security is one indexed comparison. Time series carry no `esco`: their
-- policies go through the register or meter.

create schema if not exists extensions;
create extension if not exists btree_gist with schema extensions;

-- Interval-data partitions live here: never exposed, created by internal.ensure_interval_partitions.
create schema if not exists flows_partitions;

-- Topology ----------------------------------------------------------------------------------------

create table flows.escos (
  id uuid primary key default gen_random_uuid(),
  code text not null unique check (code ~ '^[A-Z][A-Z0-9]{1,9}$'),
  name text not null check (btrim(name) <> ''),
  region text check (region ~ '^[A-Z_]{1,3}$'),
  low_balance_threshold_gbp numeric(12, 2) not null default 5.00 check (low_balance_threshold_gbp >= 0),
  offline_after_hours integer not null default 6 check (offline_after_hours > 0),
  clock_drift_limit_seconds integer not null default 120 check (clock_drift_limit_seconds > 0),
  max_interval_kwh numeric(14, 3) not null default 50.000 check (max_interval_kwh > 0),
  created_at timestamptz not null default now()
);

create table flows.sites_new (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  name text not null,
  code text not null unique,
  location text,
  capacity_kw numeric(10, 2) check (capacity_kw >= 0),
  unique (id, esco)
);
create index on flows.sites_new (esco);

create table flows.properties (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  site uuid not null,
  plot text not null,
  address text,
  type text,
  unique (site, plot),
  unique (id, esco),
  foreign key (site, esco) references flows.sites_new (id, esco)
);
create index on flows.properties (site, esco);
create index on flows.properties (esco);

create table flows.feeder_registry (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  name text not null unique,
  substation text,
  rating_amps integer check (rating_amps > 0),
  unique (id, esco)
);
create index on flows.feeder_registry (esco);

create table flows.service_head_registry (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  feeder uuid not null,
  name text not null unique,
  phase smallint not null check (phase between 1 and 3),
  fuse_rating integer check (fuse_rating > 0),
  type text not null check (type in ('customer_owned', 'network_owned')),
  unique (id, esco),
  foreign key (feeder, esco) references flows.feeder_registry (id, esco)
);
create index on flows.service_head_registry (feeder, esco);
create index on flows.service_head_registry (esco);

create table flows.properties_service_head (
  property uuid not null,
  service_head uuid not null,
  esco uuid not null,
  primary key (property, service_head),
  foreign key (property, esco) references flows.properties (id, esco),
  foreign key (service_head, esco) references flows.service_head_registry (id, esco)
);
create index on flows.properties_service_head (property, esco);
create index on flows.properties_service_head (service_head, esco);
create index on flows.properties_service_head (esco);

-- Meters --------------------------------------------------------------------------------------------

create table flows.meter_registry (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  serial text not null unique check (serial ~ '^[A-Za-z0-9-]{4,32}$'),
  name text,
  ip_address inet,
  port integer not null default 8080 check (port between 1 and 65535),
  hardware text,
  firmware_version text,
  mode text not null default 'active' check (mode in ('active', 'passive')),
  prepay_enabled boolean not null default false,
  daylight_savings_correction_enabled boolean not null default false,
  single_meter_app boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (ip_address, port),
  unique (id, esco)
);
create index on flows.meter_registry (esco);

create table flows.service_head_meter (
  service_head uuid not null,
  meter uuid not null,
  esco uuid not null,
  primary key (service_head, meter),
  foreign key (service_head, esco) references flows.service_head_registry (id, esco),
  foreign key (meter, esco) references flows.meter_registry (id, esco)
);
create index on flows.service_head_meter (service_head, esco);
create index on flows.service_head_meter (meter, esco);
create index on flows.service_head_meter (esco);

create table flows.meter_registers (
  register_id uuid primary key default gen_random_uuid(),
  meter_id uuid not null,
  esco uuid not null,
  element text not null check (element in ('A', 'B', 'SINGLE')),
  nature text not null default 'power' check (nature in ('power', 'heat', 'solar')),
  status text not null default 'enabled' check (status in ('enabled', 'replaced')),
  direction_reversed boolean not null default false,
  start_time timestamptz not null default now(),
  end_time timestamptz,
  check (end_time is null or end_time > start_time),
  unique (register_id, esco),
  foreign key (meter_id, esco) references flows.meter_registry (id, esco),
  -- one register per meter element at any moment
  exclude using gist (meter_id with =, element with =, tstzrange(start_time, end_time) with &&)
);
create index on flows.meter_registers (meter_id, esco);
create index on flows.meter_registers (esco);

create table flows.circuits (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  site uuid not null,
  type text not null check (type in ('power', 'heat', 'solar')),
  name text not null,
  rating_amps integer check (rating_amps > 0),
  unique (id, esco),
  foreign key (site, esco) references flows.sites_new (id, esco)
);
create index on flows.circuits (site, esco);
create index on flows.circuits (esco);

create table flows.circuit_register (
  circuit uuid not null,
  register uuid not null,
  esco uuid not null,
  start_time timestamptz not null,
  end_time timestamptz,
  check (end_time is null or end_time > start_time),
  primary key (circuit, register, start_time),
  foreign key (circuit, esco) references flows.circuits (id, esco),
  foreign key (register, esco) references flows.meter_registers (register_id, esco),
  exclude using gist (circuit with =, register with =, tstzrange(start_time, end_time) with &&)
);
create index on flows.circuit_register (circuit, esco);
create index on flows.circuit_register (register, esco);
create index on flows.circuit_register (esco);

create table flows.meter_shadows (
  id uuid primary key,
  esco uuid not null,
  balance numeric(12, 2),
  emergency_credit numeric(12, 2),
  balance_updated_at timestamptz,
  import_a numeric(14, 3),
  export_a numeric(14, 3),
  import_b numeric(14, 3),
  export_b numeric(14, 3),
  tariffs_active jsonb,
  tariffs_future jsonb,
  csq smallint check (csq between 0 and 31),
  voltage numeric(6, 1),
  clock_time_diff_seconds integer,
  health text check (health in ('healthy', 'unhealthy')),
  health_details text,
  last_healthy_at timestamptz,
  updated_at timestamptz not null default now(),
  foreign key (id, esco) references flows.meter_registry (id, esco) on delete cascade
);
create index on flows.meter_shadows (id, esco);
create index on flows.meter_shadows (esco);

-- History, appended by triggers on meter_shadows ------------------------------------------------------

create table flows.register_import (
  register_id uuid not null references flows.meter_registers (register_id),
  "timestamp" timestamptz not null,
  read numeric(14, 3) not null,
  primary key (register_id, "timestamp")
);

create table flows.register_export (
  register_id uuid not null references flows.meter_registers (register_id),
  "timestamp" timestamptz not null,
  read numeric(14, 3) not null,
  primary key (register_id, "timestamp")
);

create table flows.meter_prepay_balance (
  meter_id uuid not null references flows.meter_registry (id) on delete cascade,
  "timestamp" timestamptz not null,
  balance numeric(12, 2),
  emergency_credit numeric(12, 2),
  primary key (meter_id, "timestamp")
);

create table flows.meter_csq (
  meter_id uuid not null references flows.meter_registry (id) on delete cascade,
  "timestamp" timestamptz not null,
  csq smallint check (csq between 0 and 31),
  primary key (meter_id, "timestamp")
);

create table flows.meter_voltage (
  meter_id uuid not null references flows.meter_registry (id) on delete cascade,
  "timestamp" timestamptz not null,
  voltage numeric(6, 1),
  primary key (meter_id, "timestamp")
);

create table flows.meter_health_history (
  meter_id uuid not null references flows.meter_registry (id) on delete cascade,
  "timestamp" timestamptz not null,
  health text check (health in ('healthy', 'unhealthy')),
  reason text,
  primary key (meter_id, "timestamp")
);

-- Interval data: half-hourly kWh per register, partitioned by month ---------------------------------

-- No foreign key on register_id: the per-row RI check was ~40 % of ingest time. The one ingest path
-- (internal.ingest_staged_intervals) rejects unknown registers, nobody else may write the table, and
-- a trigger on flows.meter_registers refuses to delete or re-key a register that has interval data.
create table flows.register_interval_hh (
  register_id uuid not null,
  "timestamp" timestamptz not null
    check (date_trunc('minute', "timestamp") = "timestamp" and extract(minute from "timestamp") in (0, 30)),
  import_kwh numeric(14, 3) not null,
  export_kwh numeric(14, 3),
  quality text not null default 'actual' check (quality in ('actual', 'estimated')),
  source text not null,
  flags text[] not null default '{}'
    check (flags <@ array['negative', 'jump', 'counter_wrap']::text[]),
  ingested_at timestamptz not null default now(),
  primary key (register_id, "timestamp")
) partition by range ("timestamp");

-- Events and sync -----------------------------------------------------------------------------------

create table flows.meter_event_log_type (
  event_type integer primary key,
  name text not null unique,
  description text
);

create table flows.meter_event_log (
  meter_id uuid not null references flows.meter_registry (id) on delete cascade,
  "timestamp" timestamptz not null,
  event_type integer not null references flows.meter_event_log_type (event_type),
  event_set integer,
  primary key (meter_id, "timestamp", event_type)
);
create index on flows.meter_event_log (event_type);

create table flows.meter_metrics (
  name text primary key,
  enabled boolean not null default true,
  run_frequency text not null check (run_frequency in ('hourly', '12hourly', 'daily'))
);

create table flows.meter_sync_runs (
  id uuid primary key default gen_random_uuid(),
  meter_id uuid not null,
  esco uuid not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  outcome text not null default 'running' check (outcome in ('running', 'ok', 'partial', 'failed')),
  metrics text[] not null default '{}',
  error text,
  check ((outcome = 'running') = (finished_at is null)),
  foreign key (meter_id, esco) references flows.meter_registry (id, esco) on delete cascade
);
create index on flows.meter_sync_runs (meter_id, esco, started_at desc);
create index on flows.meter_sync_runs (esco);

alter table flows.escos enable row level security;
alter table flows.sites_new enable row level security;
alter table flows.properties enable row level security;
alter table flows.feeder_registry enable row level security;
alter table flows.service_head_registry enable row level security;
alter table flows.properties_service_head enable row level security;
alter table flows.meter_registry enable row level security;
alter table flows.service_head_meter enable row level security;
alter table flows.meter_registers enable row level security;
alter table flows.circuits enable row level security;
alter table flows.circuit_register enable row level security;
alter table flows.meter_shadows enable row level security;
alter table flows.register_import enable row level security;
alter table flows.register_export enable row level security;
alter table flows.meter_prepay_balance enable row level security;
alter table flows.meter_csq enable row level security;
alter table flows.meter_voltage enable row level security;
alter table flows.meter_health_history enable row level security;
alter table flows.register_interval_hh enable row level security;
alter table flows.meter_event_log_type enable row level security;
alter table flows.meter_event_log enable row level security;
alter table flows.meter_metrics enable row level security;
alter table flows.meter_sync_runs enable row level security;

-- Catalogue data the syncer needs.
insert into flows.meter_metrics (name, enabled, run_frequency) values
  ('csq', true, 'hourly'),
  ('instantaneous_voltage', true, 'hourly'),
  ('prepay_balance', true, 'hourly'),
  ('element_a', true, 'hourly'),
  ('element_b', true, 'hourly'),
  ('clock_time', true, '12hourly'),
  ('tariffs', true, '12hourly'),
  ('profile_log_1', true, 'daily');
