// `flows worker`: graphile-worker 0.17 with the tasks of jobs/, logging through pino (each line
// carries the job id and task), stopping gracefully.
import { EventEmitter } from 'node:events';
import { Logger as WorkerLogger, run, type Runner } from 'graphile-worker';
import pg from 'pg';
import type { MetricsConfig, WorkerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { databaseCheck, startHealthServer } from '../metrics/health.ts';
import { workerMetrics } from '../metrics/worker.ts';
import { shutdown } from '../shutdown.ts';
import { startRecovery } from './recovery.ts';
import { loadCrontab, loadTaskList } from './tasks.ts';
import { startKeyUsageRecorder } from '../keys/usage.ts';

export interface RunningWorker {
  stop(): Promise<void>;
  /** Settles when the worker stops (rejects if it crashed). */
  done: Promise<void>;
  /** Base URL of /metrics, /live and /ready, when WORKER_METRICS_PORT is set. */
  metricsUrl?: string;
}

export function workerLogger(log: Logger): WorkerLogger {
  return new WorkerLogger((scope) => {
    const child = log.child({
      ...(scope.workerId ? { workerId: scope.workerId } : {}),
      ...(scope.jobId ? { jobId: scope.jobId } : {}),
      ...(scope.taskIdentifier ? { task: scope.taskIdentifier } : {}),
    });
    return (level, message, meta) => {
      const method = level === 'warning' ? 'warn' : level;
      child[method](meta ?? {}, message);
    };
  });
}

/** How long the worker's `/ready` waits for the database's `select 1`. */
const readinessTimeoutMs = 2000;

/** Starts the worker; with `metrics.workerPort` set, also its /metrics, /live and /ready. */
export async function startWorker(
  url: string,
  config: WorkerConfig,
  log: Logger,
  metrics?: MetricsConfig,
): Promise<RunningWorker> {
  // A meter job briefly holds a second connection (its advisory lock), hence two per job.
  const pool = new pg.Pool({ connectionString: url, max: 2 * config.concurrency + 2 });
  // An idle connection's error reaches the pool (pg-pool re-emits it); a busy one's fails its query, which the job
  // or graphile-worker reports, so the client's own listener only keeps the process up (it logged every error twice).
  // The server shutting down or restarting (SQLSTATE class 57: Ctrl-C on npm start, a failover) is expected: the
  // pool reconnects.
  pool.on('error', (error: Error & { code?: string }) =>
    error.code?.startsWith('57')
      ? log.warn({ err: error }, 'worker pool: the database closed a connection')
      : log.error({ err: error }, 'worker pool error'),
  );
  pool.on('connect', (client) => client.on('error', () => {}));
  const events = new EventEmitter();
  let runner: Runner;
  const recovery = await startRecovery(url, events, config, log.child({ component: 'worker-recovery' })).catch(
    async (error: unknown) => {
      await pool.end();
      throw error;
    },
  );
  let health: Awaited<ReturnType<typeof startHealthServer>> | undefined;
  try {
    if (metrics?.workerPort !== undefined) {
      const measured = workerMetrics(pool, events, {
        pollIntervalMs: config.pollIntervalMs,
        meterStaleAfterHours: metrics.meterStaleAfterHours,
      });
      health = await startHealthServer(metrics.workerPort, undefined, {
        registry: measured.registry,
        checks: { database: databaseCheck(pool, readinessTimeoutMs), polling: measured.polling },
        log: log.child({ component: 'worker-health' }),
      });
      log.info({ url: health.url }, 'worker metrics listening');
    }
    runner = await run({
      pgPool: pool,
      taskList: await loadTaskList(),
      parsedCronItems: await loadCrontab(),
      concurrency: config.concurrency,
      pollInterval: config.pollIntervalMs,
      logger: workerLogger(log.child({ component: 'worker' })),
      noHandleSignals: true,
      events,
    });
  } catch (error) {
    await health?.close();
    await recovery.stop();
    await pool.end();
    throw error;
  }
  log.info({ concurrency: config.concurrency }, 'worker started');
  const keyUsage = startKeyUsageRecorder(url, log.child({ component: 'key-usage' }));
  const done = runner.promise.finally(() =>
    Promise.all([recovery.stop(), keyUsage.stop(), health?.close(), pool.end()]),
  );
  return {
    metricsUrl: health?.url,
    done,
    async stop() {
      await runner.stop();
      await done;
      log.info('worker stopped');
    },
  };
}

/**
 * graphile-worker stops for good when it cannot record a job's outcome (the database went away for longer
 * than its retries): the process then exits with status 1, so its supervisor (docker-compose's restart
 * policy, systemd) starts a fresh one, and recovery hands the jobs it held to the living.
 */
export function exitOnCrash(worker: RunningWorker, log: Logger): void {
  worker.done.catch((error: unknown) => {
    log.error({ err: error }, 'worker crashed');
    void shutdown(log, 'worker crashed').then(() => process.exit(1));
  });
}
