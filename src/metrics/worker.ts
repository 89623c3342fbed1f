// The worker's metrics and readiness: job counts, durations and failures by task from
// graphile-worker's events; queue depth by task and state from graphile_worker.jobs; the pool; and
// every ESCO's business metrics (internal.metrics_by_esco(), sql/660_metrics.sql) as gauges.
import type { WorkerEvents } from 'graphile-worker';
import type pg from 'pg';
import { many } from '../db/client.ts';
import { NotReadyError, type Check } from './health.ts';
import { Registry, type Gauge } from './registry.ts';

/**
 * The business gauges are recomputed at most this often (a month of interval data is summed for the
 * billing drift); scrapes in between serve the last figures.
 */
const businessRefreshMs = 60_000;

/** Job durations (seconds): heartbeats take milliseconds, meter syncs seconds, billing runs minutes. */
const durationBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];

export interface WorkerMetricsOptions {
  /** The worker's poll interval: /ready fails when no poll has succeeded for three of them (and no job runs). */
  pollIntervalMs: number;
  /** FLOWS_METER_STALE_AFTER_HOURS, passed to the business metrics. */
  meterStaleAfterHours: number;
}

export interface WorkerMetrics {
  registry: Registry;
  /** Readiness: the worker is polling for jobs (or busy running them). */
  polling: Check;
}

/** Metrics of the worker whose graphile-worker `events` (run({ events })) and `pool` are given. */
export function workerMetrics(pool: pg.Pool, events: WorkerEvents, options: WorkerMetricsOptions): WorkerMetrics {
  const registry = new Registry();
  const jobs = registry.counter(
    'flows_worker_jobs_total',
    'Job attempts finished, by task and outcome (success, or error: the attempt failed and may be retried).',
    ['task', 'outcome'],
  );
  const failed = registry.counter(
    'flows_worker_jobs_failed_total',
    'Jobs that failed for good (their last attempt failed), by task.',
    ['task'],
  );
  const duration = registry.histogram(
    'flows_worker_job_duration_seconds',
    'Time a job attempt ran, by task and outcome.',
    ['task', 'outcome'],
    durationBuckets,
  );
  const running = registry.gauge('flows_worker_jobs_running', 'Job attempts running in this process now.');
  const queue = registry.gauge(
    'flows_worker_queue_jobs',
    'Jobs in graphile_worker.jobs by task and state: ready (due, unlocked), scheduled (due later), running (locked), failed (out of attempts).',
    ['task', 'state'],
  );
  const connections = registry.gauge(
    'flows_worker_db_pool_connections',
    'Connections of the worker pool: total (open), idle, and waiting (clients waiting for one).',
    ['state'],
  );
  const lastPoll = registry.gauge(
    'flows_worker_last_poll_timestamp_seconds',
    'When the worker last asked the database for a job successfully (Unix time).',
  );

  const started = new Map<string, bigint>();
  let polledAt: number | undefined;
  const polled = () => {
    polledAt = Date.now();
    lastPoll.set({}, polledAt / 1000);
  };
  const finish = (job: { id: string; task_identifier: string }, outcome: 'success' | 'error') => {
    const start = started.get(job.id);
    started.delete(job.id);
    running.set({}, started.size);
    jobs.inc({ task: job.task_identifier, outcome });
    if (start !== undefined) {
      duration.observe({ task: job.task_identifier, outcome }, Number(process.hrtime.bigint() - start) / 1e9);
    }
  };
  events.on('worker:getJob:empty', polled);
  events.on('job:start', ({ job }) => {
    polled();
    started.set(job.id, process.hrtime.bigint());
    running.set({}, started.size);
  });
  events.on('job:success', ({ job }) => finish(job, 'success'));
  events.on('job:error', ({ job }) => finish(job, 'error'));
  events.on('job:failed', ({ job }) => failed.inc({ task: job.task_identifier }));

  registry.onCollect(() => {
    connections.set({ state: 'total' }, pool.totalCount);
    connections.set({ state: 'idle' }, pool.idleCount);
    connections.set({ state: 'waiting' }, pool.waitingCount);
  });
  registry.onCollect(async () => {
    const rows = await many<{ task: string; state: string; jobs: number }>(
      pool,
      `select task_identifier as task,
              case when attempts >= max_attempts then 'failed'
                   when locked_at is not null then 'running'
                   when run_at <= now() then 'ready'
                   else 'scheduled' end as state,
              count(*)::integer as jobs
         from graphile_worker.jobs
        group by 1, 2`,
    );
    queue.replace(rows.map((r) => ({ labels: { task: r.task, state: r.state }, value: r.jobs })));
  });

  // Business gauges, one per metric the database reports (their help is the view column's comment).
  const business = new Map<string, Gauge<'esco'>>();
  let businessAt: number | undefined;
  registry.onCollect(async () => {
    if (businessAt !== undefined && Date.now() - businessAt < businessRefreshMs) return;
    businessAt = Date.now();
    const client = await pool.connect();
    let rows: { esco_code: string; metric: string; help: string | null; value: string }[];
    try {
      await client.query(`select set_config('flows.meter_stale_after_hours', $1, false)`, [
        String(options.meterStaleAfterHours),
      ]);
      rows = (await client.query('select esco_code, metric, help, value from internal.metrics_by_esco()')).rows;
    } finally {
      client.release();
    }
    const series = new Map<string, { labels: { esco: string }; value: number }[]>();
    for (const row of rows) {
      if (!business.has(row.metric)) {
        business.set(
          row.metric,
          registry.gauge(`flows_esco_${row.metric}`, row.help ?? row.metric.replace(/_/g, ' '), ['esco']),
        );
      }
      const list = series.get(row.metric) ?? [];
      list.push({ labels: { esco: row.esco_code }, value: Number(row.value) });
      series.set(row.metric, list);
    }
    for (const [metric, gauge] of business) gauge.replace(series.get(metric) ?? []);
  });

  const staleAfterMs = 3 * options.pollIntervalMs + 5000;
  return {
    registry,
    async polling() {
      if (started.size > 0) return;
      if (polledAt === undefined) throw new NotReadyError('the worker has not polled for jobs yet');
      const age = Date.now() - polledAt;
      if (age > staleAfterMs) throw new NotReadyError(`the worker last polled for jobs ${age} ms ago`);
    },
  };
}
