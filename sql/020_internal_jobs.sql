-- Jobs: the one way SQL enqueues work for the worker, and what the worker role may touch.

create or replace function internal.enqueue(task text, payload json default '{}', job_key text default null)
returns bigint
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  job graphile_worker._private_jobs;
begin
  if task is null or task !~ '^[a-z][a-z0-9_]*__[a-z][a-z0-9_]*$' then
    raise exception 'invalid task name %', coalesce(quote_literal(task), 'null')
      using errcode = '22023', hint = 'Task names are <domain>__<verb>, as the files in jobs/.';
  end if;
  job := graphile_worker.add_job(identifier => task, payload => coalesce(payload, '{}'::json), job_key => job_key);
  return job.id;
end
$$;
comment on function internal.enqueue(text, json, text) is
  'Adds a job for the worker (graphile-worker). A job_key replaces a pending job with the same key, so repeated enqueues dedupe.';
revoke all on function internal.enqueue(text, json, text) from public;
grant execute on function internal.enqueue(text, json, text) to worker;

-- The worker runs graphile-worker's queue as its own role.
grant usage on schema graphile_worker to worker;
grant select, insert, update, delete on all tables in schema graphile_worker to worker;
grant usage, select on all sequences in schema graphile_worker to worker;
grant execute on all functions in schema graphile_worker to worker;
-- graphile-worker enables RLS on its private tables; the worker role may use all their rows.
-- (graphile_worker is not a managed schema, so these policies are replaced here, not dropped by migrate.)
do $$
declare
  t record;
  command text;
begin
  for t in select c.relname from pg_class c
            where c.relnamespace = 'graphile_worker'::regnamespace and c.relkind = 'r' and c.relrowsecurity
  loop
    foreach command in array array['select', 'insert', 'update', 'delete'] loop
      execute format('drop policy if exists %I on graphile_worker.%I', command || '_as_worker', t.relname);
      execute format('create policy %I on graphile_worker.%I for %s to worker %s',
        command || '_as_worker', t.relname, command,
        case command when 'insert' then 'with check (true)'
                     when 'update' then 'using (true) with check (true)'
                     else 'using (true)' end);
    end loop;
  end loop;
end
$$;

comment on table internal.worker_heartbeats is 'Last time each worker process ran the system__heartbeat task.';
grant select, insert, update on internal.worker_heartbeats to worker;
grant select on internal.worker_heartbeats to reporting;
-- Policies need no `drop … if exists`: migrate drops every policy of the managed schemas first.
create policy select_as_worker on internal.worker_heartbeats for select to worker using (true);
create policy insert_as_worker on internal.worker_heartbeats for insert to worker with check (true);
create policy update_as_worker on internal.worker_heartbeats for update to worker using (true) with check (true);
create policy select_as_reporting on internal.worker_heartbeats for select to reporting using (true);
