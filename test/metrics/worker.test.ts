// The worker's /metrics, /live and /ready (WORKER_METRICS_PORT): job counts and durations from
// graphile-worker's events, queue depth from graphile_worker.jobs, business gauges from the database.
import { EventEmitter } from 'node:events';
import type { WorkerEvents } from 'graphile-worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { databaseCheck, runChecks } from '../../src/metrics/health.ts';
import { workerMetrics } from '../../src/metrics/worker.ts';
import { startWorker, type RunningWorker } from '../../src/worker/run.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { eventually } from '../support/eventually.ts';

const log = createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 });
const workerConfig = {
  url: undefined,
  concurrency: 2,
  pollIntervalMs: 50,
  recoveryIntervalMs: 1000,
  recoveryGraceMs: 60_000,
};

/** The value of one sample of the exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('worker metrics server', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let worker: RunningWorker;
  beforeAll(async () => {
    await ctx.pool.query(`insert into flows.escos (code, name) values ('METRW', 'Metrics worker test')`);
    worker = await startWorker(db.loginUrl('worker'), workerConfig, log, {
      workerPort: 0,
      meterStaleAfterHours: 6,
    });
  });
  afterAll(async () => {
    await worker?.stop();
  });
  const get = (path: string) => fetch(`${worker.metricsUrl}${path}`);

  it('answers /live and, once polling, /ready with each check', async () => {
    expect(worker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await get('/live')).status).toBe(200);
    await eventually(async () => (await get('/ready')).status === 200);
    expect(await (await get('/ready')).json()).toEqual({ ready: true, checks: { database: 'ok', polling: 'ok' } });
    expect((await get('/nope')).status).toBe(404);
  });

  it('counts jobs by task and outcome, times them, and exports queue depth and business gauges', async () => {
    await ctx.pool.query(`select internal.enqueue('system__heartbeat', '{"source":"metrics"}')`);
    await ctx.pool.query(`select internal.enqueue('system__heartbeat', '{"source": 42}')`);
    let text = '';
    await eventually(async () => {
      text = await (await get('/metrics')).text();
      // The failed attempt waits for its retry: one scheduled heartbeat job in the queue. (The worker records the
      // failure in the database a moment after it counts it, so a scrape in between still sees the job running.)
      return (
        sample(text, 'flows_worker_jobs_total{task="system__heartbeat",outcome="success"}') === 1 &&
        sample(text, 'flows_worker_jobs_total{task="system__heartbeat",outcome="error"}') === 1 &&
        sample(text, 'flows_worker_queue_jobs{task="system__heartbeat",state="scheduled"}') === 1
      );
    });
    const res = await get('/metrics');
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(sample(text, 'flows_worker_job_duration_seconds_count{task="system__heartbeat",outcome="success"}')).toBe(1);
    expect(text).toContain('# TYPE flows_worker_job_duration_seconds histogram');
    expect(sample(text, 'flows_worker_db_pool_connections{state="total"}')).toBeGreaterThan(0);
    expect(sample(text, 'flows_esco_meters{esco="METRW"}')).toBe(0);
    expect(sample(text, 'flows_esco_notifications_failed{esco="METRW"}')).toBe(0);
    expect(text).toContain(
      '# HELP flows_esco_meters_stale Active meters with no successful sync within stale_after_hours.',
    );
    expect(text).toContain('# TYPE flows_esco_meters_stale gauge');
  });
});

describe('worker readiness', () => {
  const db = useTestDatabase();

  it('is not ready before the first poll, ready after it, not ready when polls stop, ready while a job runs', async () => {
    const pool = new pg.Pool({ connectionString: db.loginUrl('worker'), max: 1 });
    try {
      const events: WorkerEvents = new EventEmitter();
      const metrics = workerMetrics(pool, events, { pollIntervalMs: 1, meterStaleAfterHours: 6 });
      await expect(metrics.polling()).rejects.toThrow('the worker has not polled for jobs yet');
      events.emit('worker:getJob:empty', {} as never);
      await expect(metrics.polling()).resolves.toBeUndefined();
      const realNow = Date.now;
      Date.now = () => realNow() + 10_000;
      try {
        await expect(metrics.polling()).rejects.toThrow(/last polled for jobs \d+ ms ago/);
        events.emit('job:start', { job: { id: '1', task_identifier: 'x__y' } } as never);
        await expect(metrics.polling()).resolves.toBeUndefined();
      } finally {
        Date.now = realNow;
      }
    } finally {
      await pool.end();
    }
  });

  it('fails the database check when the database does not answer', async () => {
    const down = new pg.Pool({ connectionString: 'postgresql://nobody@127.0.0.1:1/none', max: 1 });
    down.on('error', () => {});
    try {
      const result = await runChecks({ database: databaseCheck(down, 500) });
      expect(result.ready).toBe(false);
      expect(result.checks.database).toMatch(/ECONNREFUSED|connect/);
    } finally {
      await down.end();
    }
  });
});
