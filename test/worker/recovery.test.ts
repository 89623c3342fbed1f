// Dead-worker recovery (src/worker/recovery.ts): the jobs a dead worker process held are unlocked for the
// living; those of a live process (its lock held) or of one still inside the grace period are not.
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { createLogger } from '../../src/log.ts';
import { startWorker, type RunningWorker } from '../../src/worker/run.ts';
import { usePool, useTestDatabase } from '../support/database.ts';

const log = createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 });
const fast = { url: undefined, concurrency: 2, pollIntervalMs: 50, recoveryIntervalMs: 50 };

describe('dead-worker recovery', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let worker: RunningWorker | undefined;
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });

  /** A heartbeat job locked by `workerId` of a process `instance` last seen `age` ago, with lock key `key`. */
  async function lockedJob(source: string, workerId: string, instance: string, key: number, age: string) {
    const job = await one<{ id: string }>(
      ctx.pool,
      `select internal.enqueue('system__heartbeat', json_build_object('source', $1::text)) as id`,
      [source],
    );
    await ctx.pool.query(`update graphile_worker._private_jobs set locked_by = $2, locked_at = now() where id = $1`, [
      job.id,
      workerId,
    ]);
    await ctx.pool.query(
      `insert into internal.worker_instances (worker_id, instance, lock_key, seen_at) values ($1, $2, $3, now() - $4::interval)`,
      [workerId, instance, key, age],
    );
    return job.id;
  }

  const beats = (source: string) =>
    many(ctx.pool, 'select 1 from internal.worker_heartbeats where source = $1', [source]).then((r) => r.length);
  const lockedBy = (id: string) =>
    one<{ locked_by: string | null }>(ctx.pool, 'select locked_by from graphile_worker._private_jobs where id = $1', [
      id,
    ]).then((r) => r.locked_by);

  it('unlocks and runs the jobs of a process that died holding them, and registers its own workers', async () => {
    const job = await lockedJob('after-crash', 'pool-dead', '00000000-0000-4000-8000-000000000001', 101, '1 hour');
    worker = await startWorker(db.loginUrl('worker'), { ...fast, recoveryGraceMs: 1000 }, log);
    await vi.waitFor(async () => expect(await beats('after-crash')).toBe(1), { timeout: 15_000, interval: 50 });
    expect(await many(ctx.pool, 'select 1 from graphile_worker._private_jobs where id = $1', [job])).toEqual([]);
    const rows = await many<{ worker_id: string }>(ctx.pool, 'select worker_id from internal.worker_instances');
    // Its pool (which locks the jobs it fetches) and each of its workers.
    expect(rows.map((r) => r.worker_id.replace(/-.*/, '')).sort()).toEqual(['pool', 'worker', 'worker']);
    await worker.stop();
    worker = undefined;
    expect(await many(ctx.pool, 'select 1 from internal.worker_instances')).toEqual([]);
  });

  it('leaves a live process (lock held) alone until it dies, and a silent one until the grace period ends', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock(202)');
      const alive = await lockedJob('alive', 'pool-alive', '00000000-0000-4000-8000-000000000002', 202, '1 hour');
      const recent = await lockedJob('recent', 'pool-recent', '00000000-0000-4000-8000-000000000003', 303, '0 s');
      worker = await startWorker(db.loginUrl('worker'), { ...fast, recoveryGraceMs: 60_000 }, log);
      // Several sweeps pass: our own heartbeat moves on while both jobs stay locked.
      const firstSeen = await one<{ at: Date }>(ctx.pool, 'select min(seen_at) as at from internal.worker_instances');
      await vi.waitFor(
        async () => {
          const seen = await one<{ at: Date }>(
            ctx.pool,
            `select max(seen_at) as at from internal.worker_instances where worker_id not in ('pool-alive', 'pool-recent')`,
          );
          expect(seen.at.getTime()).toBeGreaterThan(firstSeen.at.getTime() + 200);
        },
        { timeout: 15_000, interval: 50 },
      );
      expect(await lockedBy(alive)).toBe('pool-alive');
      expect(await lockedBy(recent)).toBe('pool-recent');
      // The live process dies (its connection, and so its lock, goes): its job runs.
      await holder.end();
      await vi.waitFor(async () => expect(await beats('alive')).toBe(1), { timeout: 15_000, interval: 50 });
      expect(await lockedBy(recent)).toBe('pool-recent');
    } finally {
      await holder.end().catch(() => {});
    }
  });
});
