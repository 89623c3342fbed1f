// billing__run through graphile-worker as the worker role: a run started by an operator is drafted,
// and issuing enqueues the rendering of the documents.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { createEsco, createScenario, fillIntervals } from './support.ts';
import { runJobsOnce } from '../support/worker.ts';

const db = useTestDatabase();
const ctx = usePool(db);

async function asOperator<T>(sub: string, sql: string, values: unknown[]): Promise<T> {
  const client = await ctx.pool.connect();
  try {
    await client.query('begin');
    await client.query(`select set_config('role', 'operator', true), set_config('request.jwt.claims', $1, true)`, [
      JSON.stringify({ role: 'operator', sub }),
    ]);
    const row = await one<T & pg.QueryResultRow>(client, sql, values);
    await client.query('commit');
    return row;
  } finally {
    client.release();
  }
}

describe('billing__run', () => {
  it('drafts a started run as the worker, then renders the documents once issued', async () => {
    const esco = await createEsco(ctx.pool, 'JOB');
    for (let k = 0; k < 3; k++) {
      const s = await createScenario(ctx.pool, esco);
      await fillIntervals(ctx.pool, s.registers.SINGLE!, '2026-10-01T00:00:00+01:00', '2026-11-01T00:00:00Z', '0.100');
    }
    const run = await asOperator<{ id: string }>(
      esco.operatorSub,
      `select id from public.billing_run_start('JOB', '2026-10-01')`,
      [],
    );
    await runJobsOnce(db);
    const drafted = await one<{ status: string; invoices_drafted: number }>(
      ctx.pool,
      `select status, invoices_drafted from public.billing_runs where id = $1`,
      [run.id],
    );
    expect(drafted).toEqual({ status: 'drafted', invoices_drafted: 3 });
    await asOperator(esco.operatorSub, `select id from public.billing_run_issue($1)`, [run.id]);
    await runJobsOnce(db);
    const docs = await many<{ pages: number }>(
      ctx.pool,
      `select d.pages from internal.invoice_documents d join public.invoices i on i.id = d.invoice where i.run = $1`,
      [run.id],
    );
    expect(docs).toHaveLength(3);
    expect(await many(ctx.pool, `select 1 from graphile_worker.jobs`)).toEqual([]);
  });
});
