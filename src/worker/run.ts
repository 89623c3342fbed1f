// `flows worker`: graphile-worker 0.17 with the tasks of jobs/, logging through pino (each line
// carries the job id and task), stopping gracefully.
import { Logger as WorkerLogger, run, type Runner } from 'graphile-worker';
import pg from 'pg';
import type { WorkerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { loadCrontab, loadTaskList } from './tasks.ts';

export interface RunningWorker {
  stop(): Promise<void>;
  /** Settles when the worker stops (rejects if it crashed). */
  done: Promise<void>;
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

export async function startWorker(url: string, config: WorkerConfig, log: Logger): Promise<RunningWorker> {
  // A meter job briefly holds a second connection (its advisory lock), hence two per job.
  const pool = new pg.Pool({ connectionString: url, max: 2 * config.concurrency + 2 });
  pool.on('error', (error) => log.error({ err: error }, 'worker pool error'));
  pool.on('connect', (client) => client.on('error', (error) => log.error({ err: error }, 'worker client error')));
  let runner: Runner;
  try {
    runner = await run({
      pgPool: pool,
      taskList: await loadTaskList(),
      parsedCronItems: await loadCrontab(),
      concurrency: config.concurrency,
      pollInterval: config.pollIntervalMs,
      logger: workerLogger(log.child({ component: 'worker' })),
      noHandleSignals: true,
    });
  } catch (error) {
    await pool.end();
    throw error;
  }
  log.info({ concurrency: config.concurrency }, 'worker started');
  const done = runner.promise.finally(() => pool.end());
  return {
    done,
    async stop() {
      await runner.stop();
      await done;
      log.info('worker stopped');
    },
  };
}
