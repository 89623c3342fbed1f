-- Up Migration
-- Foundation: the unexposed `internal` schema, deny-by-default privileges, the worker heartbeat.
-- Append-only: never edit this file once landed; add a new migration instead.

-- Functions are not executable by PUBLIC unless sql/ grants them to named roles.
alter default privileges for role flows_owner revoke execute on functions from public;

create schema if not exists internal;
create schema if not exists flows;

create table internal.worker_heartbeats (
  worker_id text primary key,
  seen_at timestamptz not null default now(),
  beats bigint not null default 1,
  source text
);
alter table internal.worker_heartbeats enable row level security;
