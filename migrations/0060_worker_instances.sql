-- Up Migration
-- Dead-worker recovery: graphile-worker 0.17 leaves the jobs (and named queues) of a worker that died
-- without shutting down locked for four hours. Each worker process registers the ids of its
-- graphile-worker workers here and holds a session advisory lock while it lives; a sweep in every
-- live worker process unlocks the jobs of processes whose lock is free and whose heartbeat is stale.
-- Grants, policies and comments: sql/025_internal_worker_instances.sql.

create table internal.worker_instances (
  worker_id text primary key,
  instance uuid not null,
  lock_key bigint not null,
  started_at timestamptz not null default now(),
  seen_at timestamptz not null default now()
);
create index worker_instances_instance_idx on internal.worker_instances (instance);
alter table internal.worker_instances enable row level security;
