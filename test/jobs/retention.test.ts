// Retention (jobs/retention__apply.ts, internal.retention_apply): rows older than their table's policy go,
// except interval data, reads and prepay balances a bill not yet issued — or disputed, voided without rebill,
// or with an estimate awaiting its true-up — still needs. Each rule has a case; the job runs as the worker.
//
// World (test/sql/public/fixtures.ts): alice supplies P1 (meter M1) from 2026-01-01 and is billed here for
// every month January–October 2026; bob supplies P2 (M2) from 2025-06-01 and was never billed; P4 (M4) is
// not supplied. Policies are set to 60 days; the old data are of 10 July 2026, the recent of 20 November.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { runJobsOnce } from '../support/worker.ts';
import { buildWorld, insertHalfHours, type World } from '../sql/public/fixtures.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let world: World;
let aliceJuly: string;

const old = '2026-07-10T00:00:00Z';
const recent = '2026-11-20T00:00:00Z';
const plus2h = (t: string) => new Date(new Date(t).getTime() + 2 * 3600_000).toISOString();

beforeAll(async () => {
  world = await buildWorld(ctx.pool);
  const q = (sql: string, values: unknown[] = []) => ctx.pool.query(sql, values);
  await q(`update internal.retention_policies set keep = interval '60 days'`);
  for (const register of [world.registers.m1a, world.registers.m2, world.registers.m4]) {
    for (const at of [old, recent]) {
      await insertHalfHours(ctx.pool, register, at, plus2h(at));
      await q(`insert into flows.register_import (register_id, "timestamp", read) values ($1, $2, 100)`, [
        register,
        at,
      ]);
    }
  }
  for (const meter of [world.meters.m1, world.meters.m2, world.meters.m4]) {
    for (const at of [old, recent]) {
      await q(`insert into flows.meter_prepay_balance (meter_id, "timestamp", balance) values ($1, $2, 10)`, [
        meter,
        at,
      ]);
      await q(`insert into flows.meter_csq (meter_id, "timestamp", csq) values ($1, $2, 20)`, [meter, at]);
      await q(
        `insert into flows.meter_sync_runs (meter_id, esco, started_at, finished_at, outcome)
         select $1, esco, $2, $2, 'ok' from flows.meter_registry where id = $1`,
        [meter, at],
      );
    }
  }
  // Alice's issued invoices, one per month January–October 2026.
  await q(
    `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct, issued_at)
     select $1, $2, 'invoice', 'issued', 'RET-' || to_char(m, 'YYYY-MM'), m, (m + interval '1 month')::date, 5, now()
       from generate_series(date '2026-01-01', date '2026-10-01', interval '1 month') m`,
    [world.escoA, world.accounts.alice],
  );
  aliceJuly = (await one<{ id: string }>(ctx.pool, `select id from public.invoices where number = 'RET-2026-07'`)).id;
  for (const [status, at] of [
    ['sent', old],
    ['queued', old],
    ['sent', recent],
  ] as const) {
    await q(
      `insert into public.notifications (esco, customer, channel, address, template, dedupe_key, status, created_at, sent_at)
       values ($1, $2, 'email', 'bob@example.org', 'invoice_issued', $3, $4, $5, case when $4 = 'sent' then $5::timestamptz end)`,
      [world.escoA, world.customers.bob, `ret-${status}-${at}`, status, at],
    );
  }
});

/** Rows left per (table, owner, old|recent). */
async function left(c: pg.ClientBase | pg.Pool): Promise<Record<string, number>> {
  const rows = await many<{ k: string; n: number }>(
    c,
    `with owner(id, name) as (values ($1::uuid, 'alice'), ($2::uuid, 'bob'), ($3::uuid, 'vacant')),
          age(t, name) as (values ($4::timestamptz, 'old'), ($5::timestamptz, 'recent'))
     select format('%s %s %s', x.tbl, o.name, a.name) as k, count(*)::integer as n
       from (select 'interval' as tbl, r.meter_id as meter, i."timestamp" as t
               from flows.register_interval_hh i join flows.meter_registers r using (register_id)
             union all select 'import', r.meter_id, i."timestamp"
               from flows.register_import i join flows.meter_registers r using (register_id)
             union all select 'prepay', meter_id, "timestamp" from flows.meter_prepay_balance
             union all select 'csq', meter_id, "timestamp" from flows.meter_csq
             union all select 'sync', meter_id, started_at from flows.meter_sync_runs) x
       join owner o on o.id = x.meter
       join age a on x.t >= a.t and x.t < a.t + interval '1 day'
      group by 1
     union all
     select format('notification %s %s', n.status, a.name), count(*)::integer
       from public.notifications n join age a on n.created_at = a.t group by 1`,
    [world.meters.m1, world.meters.m2, world.meters.m4, old, recent],
  );
  return Object.fromEntries(rows.map((r) => [r.k, r.n]));
}

/** Applies every policy once, in a transaction that is rolled back after `check`. */
async function applyRolledBack(setup: (c: pg.PoolClient) => Promise<unknown>): Promise<Record<string, number>> {
  const client = await ctx.pool.connect();
  try {
    await client.query('begin');
    await setup(client);
    await client.query(`select internal.retention_apply(t, 100000) from internal.retention_tables() t`);
    return await left(client);
  } finally {
    await client.query('rollback');
    client.release();
  }
}

describe('retention', () => {
  it('spares the data of a period whose bill is a draft, disputed, voided without rebill, or awaits a true-up', async () => {
    const alicesOldKept = (l: Record<string, number>) => [
      l['interval alice old'],
      l['import alice old'],
      l['prepay alice old'],
    ];
    // Issued and undisputed: alice's July data go.
    expect(alicesOldKept(await applyRolledBack(async () => undefined))).toEqual([undefined, undefined, undefined]);
    for (const change of [
      `update public.invoices set status = 'draft', number = null, issued_at = null where id = $1`,
      `update public.invoices set disputed = true, disputed_at = now(), dispute_reason = 'x' where id = $1`,
      `update public.invoices set status = 'void', void_reason = 'wrong' where id = $1`,
      `insert into internal.billing_estimates (invoice, register_id, day, element, estimated_kwh, unit_price)
       select $1, register_id, '2026-07-10', element, 1, 0.2 from flows.meter_registers where register_id = $2`,
    ]) {
      const values = change.includes('$2') ? [aliceJuly, world.registers.m1a] : [aliceJuly];
      expect(alicesOldKept(await applyRolledBack((c) => c.query(change, values))), change).toEqual([4, 1, 1]);
    }
  });

  it('deletes what no bill needs, keeps unbilled and recent data, through the job in small batches', async () => {
    await ctx.pool.query(`update internal.retention_policies set enabled = false where table_name = 'flows.meter_csq'`);
    await ctx.pool.query(`select internal.enqueue('retention__apply', '{"batchSize": 2}')`);
    await runJobsOnce(db);
    const after = await left(ctx.pool);
    expect(after).toEqual({
      // alice: July billed (deleted); November not billed yet, and recent anyway
      'interval alice recent': 4,
      'import alice recent': 1,
      'prepay alice recent': 1,
      // bob: never billed: everything kept
      'interval bob old': 4,
      'interval bob recent': 4,
      'import bob old': 1,
      'import bob recent': 1,
      'prepay bob old': 1,
      'prepay bob recent': 1,
      // vacant P4: old data nobody will bill go
      'interval vacant recent': 4,
      'import vacant recent': 1,
      'prepay vacant recent': 1,
      // csq: policy disabled, nothing deleted
      'csq alice old': 1,
      'csq alice recent': 1,
      'csq bob old': 1,
      'csq bob recent': 1,
      'csq vacant old': 1,
      'csq vacant recent': 1,
      // sync runs: telemetry, no billing protection
      'sync alice recent': 1,
      'sync bob recent': 1,
      'sync vacant recent': 1,
      // notifications: old sent ones go; queued ones stay until sent
      'notification queued old': 1,
      'notification sent recent': 1,
    });
    // Idempotent: a second run finds nothing more to delete.
    await ctx.pool.query(`select internal.enqueue('retention__apply', '{}')`);
    await runJobsOnce(db);
    expect(await left(ctx.pool)).toEqual(after);
  });

  it('refuses bad input with a clear error', async () => {
    const error = (sql: string) =>
      ctx.pool.query(sql).then(
        () => 'none',
        (e: { code: string; message: string }) => `${e.code} ${e.message}`,
      );
    expect(await error(`select internal.retention_apply('public.customers')`)).toBe(
      '22023 no retention policy for public.customers',
    );
    expect(await error(`select internal.retention_apply('flows.meter_csq', 0)`)).toBe(
      '22023 batch_size must be a positive number',
    );
    expect(
      await error(`insert into internal.retention_policies (table_name, keep) values ('public.customers', '1 year')`),
    ).toMatch(/^23514 /);
    expect(await error(`update internal.retention_policies set keep = '1 hour'`)).toMatch(/^23514 /);
    expect(
      await error(`select internal.enqueue('retention__apply', '{"batchSize": -1}')`).then(async (r) => {
        expect(r).toBe('none');
        // The job rejects the payload (zod) without deleting anything.
        const before = await left(ctx.pool);
        await runJobsOnce(db);
        expect(await left(ctx.pool)).toEqual(before);
        return one<{ n: number }>(
          ctx.pool,
          `select count(*)::integer as n from graphile_worker.jobs where task_identifier = 'retention__apply' and last_error like '%batchSize%'`,
        ).then((x) => x.n);
      }),
    ).toBe(1);
  });
});
