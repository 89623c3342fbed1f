-- Dead-worker recovery (src/worker/recovery.ts): the worker processes' registry of graphile-worker ids.

comment on table internal.worker_instances is $$One row per graphile-worker pool or worker id of a running (or dead) Flows worker process.
A process holds the session advisory lock lock_key while it lives and refreshes seen_at; a sweep unlocks the
jobs of the workers of a process whose lock is free and whose seen_at is older than the grace period.$$;
comment on column internal.worker_instances.worker_id is 'graphile-worker''s pool or worker id (what jobs'' and queues'' locked_by hold).';
comment on column internal.worker_instances.instance is 'The worker process (random per start).';
comment on column internal.worker_instances.lock_key is 'Session advisory lock the process holds while it lives.';
comment on column internal.worker_instances.started_at is 'When the process registered the worker.';
comment on column internal.worker_instances.seen_at is 'Last heartbeat of the process.';

grant select, insert, update, delete on internal.worker_instances to worker;
grant select on internal.worker_instances to reporting;
create policy select_as_worker on internal.worker_instances for select to worker using (true);
create policy insert_as_worker on internal.worker_instances for insert to worker with check (true);
create policy update_as_worker on internal.worker_instances for update to worker using (true) with check (true);
create policy delete_as_worker on internal.worker_instances for delete to worker using (true);
create policy select_as_reporting on internal.worker_instances for select to reporting using (true);
