-- flows events and sync: the meter event log and its dictionary, the syncer catalogue, sync runs.

-- flows.meter_event_log_type, flows.meter_metrics: catalogues everyone but anon and customers reads. --------

grant select on flows.meter_event_log_type, flows.meter_metrics to operator, service, worker, reporting;
create policy select_as_operator on flows.meter_event_log_type for select to operator using (true);
create policy select_as_service on flows.meter_event_log_type for select to service using (true);
create policy select_as_worker on flows.meter_event_log_type for select to worker using (true);
create policy select_as_reporting on flows.meter_event_log_type for select to reporting using (true);
create policy select_as_operator on flows.meter_metrics for select to operator using (true);
create policy select_as_service on flows.meter_metrics for select to service using (true);
create policy select_as_worker on flows.meter_metrics for select to worker using (true);
create policy select_as_reporting on flows.meter_metrics for select to reporting using (true);

comment on table flows.meter_event_log_type is $$Dictionary of meter event ids (as the meter's event log reports them).$$;
comment on column flows.meter_event_log_type.event_type is 'Event id as the meter reports it.';
comment on column flows.meter_event_log_type.name is 'Event name (e.g. EVENT_POWER_UP).';
comment on column flows.meter_event_log_type.description is 'What the event means, where known.';

comment on table flows.meter_metrics is $$The syncer catalogue: what the sync job reads from meters, and how often.$$;
comment on column flows.meter_metrics.name is 'Metric (syncer) name, e.g. csq, prepay_balance, profile_log_1.';
comment on column flows.meter_metrics.enabled is 'Whether the sync job reads it.';
comment on column flows.meter_metrics.run_frequency is 'hourly, 12hourly or daily.';

-- flows.meter_event_log ------------------------------------------------------------------------------------

grant select on flows.meter_event_log to operator, service, worker, reporting;
grant insert (meter_id, "timestamp", event_type, event_set) on flows.meter_event_log to worker;

create policy select_as_operator on flows.meter_event_log for select to operator
  using (meter_id in (select m.id from flows.meter_registry m where m.esco = any ((select internal.operator_escos())::uuid[])));
create policy select_as_service on flows.meter_event_log for select to service
  using (meter_id in (select m.id from flows.meter_registry m where m.esco = any ((select internal.service_escos())::uuid[])));
create policy select_as_worker on flows.meter_event_log for select to worker using (true);
create policy insert_as_worker on flows.meter_event_log for insert to worker with check (true);
create policy select_as_reporting on flows.meter_event_log for select to reporting using (true);

comment on table flows.meter_event_log is $$Events read from meters' event logs (one row per meter, time and event).$$;
comment on column flows.meter_event_log.meter_id is 'The meter.';
comment on column flows.meter_event_log."timestamp" is 'When the event happened (meter clock, converted to UTC).';
comment on column flows.meter_event_log.event_type is 'Event id (flows.meter_event_log_type).';
comment on column flows.meter_event_log.event_set is 'The event set (small integer) the meter reports with the event.';

-- flows.meter_sync_runs -------------------------------------------------------------------------------------

grant select on flows.meter_sync_runs to operator, worker, reporting;
grant insert (meter_id, esco, started_at, finished_at, outcome, metrics, error) on flows.meter_sync_runs to worker;
grant update (finished_at, outcome, metrics, error) on flows.meter_sync_runs to worker;

create policy select_as_operator on flows.meter_sync_runs for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on flows.meter_sync_runs for select to worker using (true);
create policy insert_as_worker on flows.meter_sync_runs for insert to worker with check (true);
create policy update_as_worker on flows.meter_sync_runs for update to worker using (true) with check (true);
create policy select_as_reporting on flows.meter_sync_runs for select to reporting using (true);

comment on table flows.meter_sync_runs is $$One record per meter and sync run: when it started and finished, what was read, and how it ended.$$;
comment on column flows.meter_sync_runs.id is 'Sync run id.';
comment on column flows.meter_sync_runs.meter_id is 'The meter synced.';
comment on column flows.meter_sync_runs.esco is 'ESCO of the meter.';
comment on column flows.meter_sync_runs.started_at is 'When the run started.';
comment on column flows.meter_sync_runs.finished_at is 'When the run finished; null while running.';
comment on column flows.meter_sync_runs.outcome is 'running, ok, partial (some metrics failed) or failed.';
comment on column flows.meter_sync_runs.metrics is 'Metrics (flows.meter_metrics.name) read successfully.';
comment on column flows.meter_sync_runs.error is 'What went wrong, if anything (no secrets, no personal data).';
