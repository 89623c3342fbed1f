// Dead-worker recovery. graphile-worker 0.17 leaves the jobs (and named queues, such as the meter
// queues) that a worker held when its process died without shutting down (SIGKILL, OOM, power) locked
// for four hours. So each worker process:
//   - holds a session advisory lock on its own connection while it lives, and registers the ids of its
//     graphile-worker pool and workers (what jobs' and queues' `locked_by` hold) in
//     internal.worker_instances with that lock key;
//   - every `recoveryIntervalMs` refreshes its rows' seen_at and sweeps: a process whose rows are older
//     than `recoveryGraceMs` and whose lock it can take is dead, and its workers' jobs are unlocked
//     (graphile_worker.force_unlock_workers) so live workers run them again. Jobs are idempotent.
// The grace period covers a live process whose lock connection dropped (a database restart) and has not
// yet come back. A process killed between creating its workers and registering them (milliseconds)
// leaves its jobs to graphile-worker's four-hour expiry.
import { randomBytes, randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../log.ts';

export interface RecoverySettings {
  recoveryIntervalMs: number;
  recoveryGraceMs: number;
}

export interface WorkerRecovery {
  stop(): Promise<void>;
}

interface DeadInstance {
  instance: string;
  lock_key: string;
  worker_ids: string[];
}

/**
 * Starts recovery for this process: call before graphile-worker's `run()` with the `events` emitter
 * passed to it, so every worker it creates is registered.
 */
export async function startRecovery(
  url: string,
  events: EventEmitter,
  settings: RecoverySettings,
  log: Logger,
): Promise<WorkerRecovery> {
  const instance = randomUUID();
  const lockKey = randomBytes(8).readBigInt64BE().toString();
  const workerIds = new Set<string>();
  let client: pg.Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // One connection, one statement at a time: registrations from worker events queue behind the sweep.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work);
    queue = next.catch(() => {});
    return next;
  };

  const register = async (db: pg.Client, ids: string[]) => {
    if (ids.length === 0) return;
    await db.query(
      `insert into internal.worker_instances (worker_id, instance, lock_key)
       select unnest($1::text[]), $2, $3
       on conflict (worker_id) do update set seen_at = now(), instance = excluded.instance, lock_key = excluded.lock_key`,
      [ids, instance, lockKey],
    );
  };

  /** A connection holding this process's lock, with its workers registered; replaced when it drops. */
  const connection = async (): Promise<pg.Client> => {
    if (client) return client;
    const db = new pg.Client({ connectionString: url, application_name: `flows-worker ${instance}` });
    db.on('error', (error) => {
      log.warn({ err: error }, 'worker recovery connection lost; reconnecting at the next heartbeat');
      if (client === db) client = undefined;
    });
    await db.connect();
    try {
      await db.query('select pg_advisory_lock($1::bigint)', [lockKey]);
      await register(db, [...workerIds]);
    } catch (error) {
      await db.end().catch(() => {});
      throw error;
    }
    client = db;
    return db;
  };

  const sweep = async () => {
    const db = await connection();
    await register(db, [...workerIds]); // the heartbeat: seen_at = now()
    const { rows } = await db.query<DeadInstance>(
      `select instance, lock_key::text, array_agg(worker_id order by worker_id) as worker_ids
         from internal.worker_instances
        where instance <> $1
        group by instance, lock_key
       having max(seen_at) < now() - make_interval(secs => $2::double precision / 1000)`,
      [instance, settings.recoveryGraceMs],
    );
    for (const dead of rows) {
      const { rows: taken } = await db.query<{ taken: boolean }>('select pg_try_advisory_lock($1::bigint) as taken', [
        dead.lock_key,
      ]);
      if (!taken[0]?.taken) continue; // alive, only slow to heartbeat
      try {
        await db.query('begin');
        await db.query('select graphile_worker.force_unlock_workers($1::text[])', [dead.worker_ids]);
        await db.query('delete from internal.worker_instances where instance = $1', [dead.instance]);
        await db.query('commit');
        log.warn({ instance: dead.instance, workers: dead.worker_ids }, 'unlocked the jobs of a dead worker process');
      } catch (error) {
        await db.query('rollback').catch(() => {});
        throw error;
      } finally {
        await db.query('select pg_advisory_unlock($1::bigint)', [dead.lock_key]).catch(() => {});
      }
    }
  };

  const tick = () => {
    void serially(sweep)
      .catch((error: unknown) => log.warn({ err: error }, 'worker recovery sweep failed; trying again later'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, settings.recoveryIntervalMs);
      });
  };

  // graphile-worker 0.17 locks jobs and queues with its pool's id (batched fetches) or a worker's id.
  const track = (id: string) => {
    workerIds.add(id);
    const db = client;
    if (db) {
      serially(() => register(db, [id])).catch((error: unknown) =>
        log.warn({ err: error }, 'could not register a worker for recovery; the next heartbeat retries'),
      );
    }
  };
  events.on('pool:create', ({ workerPool }: { workerPool: { id: string } }) => track(workerPool.id));
  events.on('worker:create', ({ worker }: { worker: { workerId: string } }) => track(worker.workerId));

  await serially(connection);
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await queue; // the sweep or registration under way
      const db = client;
      client = undefined;
      if (!db) return;
      await db.query('delete from internal.worker_instances where instance = $1', [instance]).catch(() => {});
      await db.end().catch(() => {});
    },
  };
}
