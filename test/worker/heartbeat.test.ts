import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { loadCrontab, loadTaskList } from '../../src/worker/tasks.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { runJobsOnce } from '../support/worker.ts';

describe('worker', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);

  it('runs a task enqueued from SQL through internal.enqueue, as the worker role', async () => {
    const workerPool = new pg.Pool({ connectionString: db.loginUrl('worker') });
    try {
      const job = await one<{ id: string }>(
        workerPool,
        `select internal.enqueue('system__heartbeat', '{"source":"test"}', 'heartbeat-test') as id`,
      );
      expect(Number(job.id)).toBeGreaterThan(0);
      // the same job_key replaces the pending job instead of adding another
      await workerPool.query(`select internal.enqueue('system__heartbeat', '{"source":"test-2"}', 'heartbeat-test')`);
    } finally {
      await workerPool.end();
    }
    await runJobsOnce(db);
    const beats = await many<{ source: string; beats: string }>(
      ctx.pool,
      'select source, beats from internal.worker_heartbeats',
    );
    expect(beats).toEqual([{ source: 'test-2', beats: '1' }]);
    const left = await many(ctx.pool, `select 1 from graphile_worker.jobs`);
    expect(left).toEqual([]);
  });

  it('refuses a task name that is not <domain>__<verb>', async () => {
    await expect(one(ctx.pool, `select internal.enqueue('Drop table', '{}')`)).rejects.toMatchObject({
      code: '22023',
      message: "invalid task name 'Drop table'",
    });
  });

  it('fails a job whose payload does not parse, with the reason, and keeps it for retry', async () => {
    await ctx.pool.query(`select internal.enqueue('system__heartbeat', '{"source": 42}')`);
    await runJobsOnce(db);
    const job = await one<{ last_error: string; attempts: number }>(
      ctx.pool,
      `select last_error, attempts from graphile_worker.jobs where task_identifier = 'system__heartbeat'`,
    );
    expect(job.attempts).toBe(1);
    expect(job.last_error).toMatch(/invalid payload for system__heartbeat: source: /);
  });

  it('loads one task per jobs/ file and a crontab that names only known tasks', async () => {
    const tasks = await loadTaskList();
    expect(Object.keys(tasks)).toContain('system__heartbeat');
    for (const item of await loadCrontab()) expect(Object.keys(tasks)).toContain(item.task);
  });
});
