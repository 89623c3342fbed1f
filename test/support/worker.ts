// Running graphile-worker jobs in tests, as the worker role, the way the worker process does.
import { runOnce, type TaskList } from 'graphile-worker';
import pg from 'pg';
import { createLogger } from '../../src/log.ts';
import { workerLogger } from '../../src/worker/run.ts';
import { loadTaskList } from '../../src/worker/tasks.ts';
import type { TestDatabase } from './database.ts';

export const silentWorkerLogger = workerLogger(
  createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 }),
);

/** A pool logged in as the worker role, with the error handlers graphile-worker expects. */
export function workerPool(db: TestDatabase, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.loginUrl('worker'), max });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Runs every job that is due once (graphile-worker's runOnce), with the tasks of jobs/ unless given. */
export async function runJobsOnce(db: TestDatabase, taskList?: TaskList): Promise<void> {
  const pool = workerPool(db);
  try {
    await runOnce({ pgPool: pool, taskList: taskList ?? (await loadTaskList()), logger: silentWorkerLogger });
  } finally {
    await pool.end();
  }
}
