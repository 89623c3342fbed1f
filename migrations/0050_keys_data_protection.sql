-- Up Migration
-- Operations and trust (issue 9): registered service keys, the audit trail's request id and the customer
-- and account each entry is about, and retention policies as data. Functions, grants, policies and
-- comments live in sql/250_audit.sql and sql/60x_*.sql.

-- Service keys: every service JWT carries a jti registered here (docs/security.md, "Service keys").
create table internal.api_keys (
  id uuid primary key default gen_random_uuid(), -- the token's jti
  name text not null check (name ~ '^[a-z0-9][a-z0-9_.-]{1,62}$'),
  esco uuid not null references flows.escos (id),
  -- read (GET/HEAD of tables and views), write (other methods on tables), rpc:<function> or rpc:* (calls).
  scopes text[] not null default '{read}'
    check (array_to_string(scopes, ',', '?') ~ '^(read|write|rpc:(\*|[a-z_][a-z0-9_]*))(,(read|write|rpc:(\*|[a-z_][a-z0-9_]*)))*$'),
  created_at timestamptz not null default now(),
  created_by text not null check (btrim(created_by) <> ''),
  expires_at timestamptz not null,
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_by text,
  revoked_reason text,
  check ((revoked_at is null) = (revoked_by is null)),
  check (expires_at > created_at)
);
-- A name identifies one live key; a revoked key's name may be reused.
create unique index api_keys_live_name on internal.api_keys (name) where revoked_at is null;
create index on internal.api_keys (esco);
alter table internal.api_keys enable row level security;

-- Audit trail: the REST request id, and the customer / account an entry is about (set by the trigger from
-- the row, so that an export or an erasure finds a customer's entries even for rows deleted since).
alter table internal.audit_log
  add column request_id text,
  add column customer uuid,
  add column account uuid,
  drop constraint audit_log_operation_check,
  add constraint audit_log_operation_check check (operation in ('INSERT', 'UPDATE', 'DELETE', 'ERASE'));
create index audit_log_customer on internal.audit_log (customer) where customer is not null;
create index audit_log_account on internal.audit_log (account) where account is not null;
create index audit_log_row on internal.audit_log (table_name, row_key);

-- Retention: how long rows of each time-series or log table are kept (jobs/retention__apply.ts).
create table internal.retention_policies (
  table_name text primary key check (table_name in (
    'flows.register_interval_hh', 'flows.register_import', 'flows.register_export', 'flows.meter_prepay_balance',
    'flows.meter_csq', 'flows.meter_voltage', 'flows.meter_health_history', 'flows.meter_event_log',
    'flows.meter_sync_runs', 'public.notifications')),
  keep interval not null check (keep >= interval '1 day'),
  enabled boolean not null default true,
  updated_at timestamptz not null default now()
);
alter table internal.retention_policies enable row level security;

insert into internal.retention_policies (table_name, keep) values
  ('flows.register_interval_hh', interval '7 years'),
  ('flows.register_import', interval '2 years'),
  ('flows.register_export', interval '2 years'),
  ('flows.meter_prepay_balance', interval '2 years'),
  ('flows.meter_csq', interval '90 days'),
  ('flows.meter_voltage', interval '90 days'),
  ('flows.meter_health_history', interval '1 year'),
  ('flows.meter_event_log', interval '2 years'),
  ('flows.meter_sync_runs', interval '90 days'),
  ('public.notifications', interval '2 years');
