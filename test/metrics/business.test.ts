// Business metrics (sql/660_metrics.sql): what the views count, that an operator sees only their
// ESCOs, and the exporter's path (internal.metrics_by_esco()) as the worker and the reporting login.
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../support/database.ts';
import { buildFixtures, type Fixtures } from '../support/fixtures.ts';

type Row = Record<string, string | null>;

describe('business metrics', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let f: Fixtures;

  /** A row of `view` for the ESCO, as its operator sees it. */
  const asOperator = async (view: string, key: 'a' | 'b' = 'a') =>
    asRole(
      ctx.pool,
      'operator',
      f[key].operator.claims,
      async (c) => (await c.query<Row>(`select * from ${view}`)).rows,
    );

  beforeAll(async () => {
    f = await buildFixtures(ctx.pool);
    const a = f.a;
    // m1 synced an hour ago and healthy, m2 synced an hour ago and unhealthy, m3 last synced two days ago.
    await ctx.pool.query(
      `update flows.meter_shadows set health = case id when $1 then 'healthy' else 'unhealthy' end
                           where id = any ($2)`,
      [a.meters.m1.id, [a.meters.m1.id, a.meters.m2.id, a.meters.m3.id]],
    );
    await ctx.pool.query('delete from flows.meter_sync_runs where esco = $1', [a.id]);
    const run = (meter: string, ago: string, outcome: string) =>
      ctx.pool.query(
        `insert into flows.meter_sync_runs (meter_id, esco, started_at, finished_at, outcome)
         values ($1, $2, now() - $3::interval, now() - $3::interval + interval '1 second', $4)`,
        [meter, a.id, ago, outcome],
      );
    await run(a.meters.m1.id, '1 hour', 'ok');
    await run(a.meters.m2.id, '1 hour', 'partial');
    await run(a.meters.m2.id, '2 hours', 'failed');
    await run(a.meters.m3.id, '2 days', 'ok');
    await run(a.meters.m3.id, '3 hours', 'failed');
    await ctx.pool.query(`select internal.ensure_interval_partitions(now() - interval '3 days', now())`);
    // Ten half-hours of yesterday (Europe/London) for m1's element A.
    await ctx.pool.query(
      `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, quality, source)
       select $1, ((now() at time zone 'Europe/London')::date - 1)::timestamp at time zone 'Europe/London'
                  + n * interval '30 minutes', 0.5, 'actual', 'test'
         from generate_series(0, 9) n`,
      [a.meters.m1.registers.A],
    );
    // A notification that failed for good.
    await ctx.pool.query(
      `insert into public.notifications (esco, channel, address, template, dedupe_key, status, attempts)
       values ($1, 'email', 'ops@example.invalid', 'test', 'metrics-test-failed', 'failed', 8)`,
      [a.id],
    );
  });

  it('counts meters healthy, unhealthy and stale, syncs of the last 24 hours, and yesterday’s completeness', async () => {
    const rows = await asOperator('flows.metrics_metering');
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      esco: f.a.id,
      esco_code: f.a.code,
      stale_after_hours: 6,
      meters: '3',
      meters_healthy: '1',
      meters_unhealthy: '1',
      meters_stale: '1',
      sync_runs_24h: '4',
      sync_runs_failed_24h: '2',
      sync_success_ratio_24h: '0.5000',
    });
    // The same figures as flows.register_interval_hh_completeness for yesterday.
    const reference = await one<{ expected: string; present: string }>(
      ctx.pool,
      `select sum(c.expected_half_hours)::text as expected, sum(c.present_half_hours)::text as present
         from flows.register_interval_hh_completeness c
         join flows.meter_registers r on r.register_id = c.register_id
        where r.esco = $1 and c.day = (now() at time zone 'Europe/London')::date - 1`,
      [f.a.id],
    );
    expect(row.half_hours_expected_yesterday).toBe(reference.expected);
    expect(row.half_hours_present_yesterday).toBe(reference.present);
    expect(Number(row.half_hours_present_yesterday)).toBeGreaterThanOrEqual(10);
    expect(Number(row.half_hours_completeness_yesterday)).toBeCloseTo(
      Number(reference.present) / Number(reference.expected),
      4,
    );
  });

  it('uses flows.meter_stale_after_hours for staleness', async () => {
    const rows = await asRole(ctx.pool, 'operator', f.a.operator.claims, async (c) => {
      await c.query(`select set_config('flows.meter_stale_after_hours', '72', true)`);
      return (await c.query<Row>('select stale_after_hours, meters_stale, meters_healthy from flows.metrics_metering'))
        .rows;
    });
    expect(rows).toEqual([{ stale_after_hours: 72, meters_stale: '0', meters_healthy: '1' }]);
  });

  it('reports billing drift, unmatched bank lines and failed notifications', async () => {
    const operations = async () =>
      (await asOperator('(select *, billing_period_start::text as period from public.metrics_operations) m'))[0]!;
    // The latest billed period is c2's October invoice (P2, metered by m2): it charges 12.345 kWh.
    await ctx.pool.query(
      `insert into public.invoice_lines (invoice, esco, position, line_type, element, description, quantity, unit,
                                         unit_price, amount, from_date, to_date)
       select i.id, i.esco, 2, 'unit_charge', 'SINGLE', 'units', 12.345, 'kWh', 0.2, 2.47, i.period_start, i.period_end
         from public.invoices i where i.esco = $1 and i.period_start = '2026-10-01'`,
      [f.a.id],
    );
    const before = await operations();
    expect(before).toMatchObject({ esco: f.a.id, period: '2026-10-01', billed_kwh: '12.345' });
    expect(Number(before.billing_drift_kwh)).toBeCloseTo(Number(before.metered_kwh) - 12.345, 3);
    const unmatched = await one<{ n: string }>(
      ctx.pool,
      `select count(*)::text as n from public.bank_transactions where esco = $1 and status = 'unmatched'`,
      [f.a.id],
    );
    expect(Number(unmatched.n)).toBeGreaterThanOrEqual(1);
    expect(before.bank_lines_unmatched).toBe(unmatched.n);
    expect(before.notifications_failed).toBe('1');
    expect(before.notifications_failed_24h).toBe('1');

    // A half-hour that reaches the meters after billing shows as drift: 2.5 kWh on m2 mid-October.
    await ctx.pool.query(`select internal.ensure_interval_partitions('2026-09-01', '2026-11-01')`);
    await ctx.pool.query(
      `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, quality, source)
       values ($1, '2026-10-11T12:30:00Z', 2.5, 'actual', 'late')`,
      [f.a.meters.m2.registers.SINGLE],
    );
    const after = await operations();
    expect(Number(after.metered_kwh) - Number(before.metered_kwh)).toBeCloseTo(2.5, 3);
    expect(Number(after.billing_drift_kwh) - Number(before.billing_drift_kwh)).toBeCloseTo(2.5, 3);
    // …and outside the supply or the period it does not: P3 is nobody's, September is not the latest period.
    await ctx.pool.query(
      `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, quality, source)
       values ($1, '2026-10-11T12:30:00Z', 4, 'actual', 'late'), ($2, '2026-09-11T12:30:00Z', 4, 'actual', 'late')`,
      [f.a.meters.m3.registers.SINGLE, f.a.meters.m1.registers.A],
    );
    expect((await operations()).metered_kwh).toBe(after.metered_kwh);
  });

  it('shows an operator only their ESCOs', async () => {
    for (const view of ['flows.metrics_metering', 'public.metrics_operations']) {
      const rows = await asOperator(view, 'b');
      expect(rows.map((r) => r.esco)).toEqual([f.b.id]);
      expect(JSON.stringify(rows)).not.toContain(f.a.id);
    }
  });

  it('is not readable by customers, services or anonymous callers', async () => {
    for (const view of ['flows.metrics_metering', 'public.metrics_operations']) {
      await expect(
        asRole(ctx.pool, 'customer', f.a.customers.c1.claims, (c) => c.query(`select * from ${view}`)),
      ).rejects.toMatchObject({ code: '42501' });
      await expect(
        asRole(ctx.pool, 'service', f.a.service.claims, (c) => c.query(`select * from ${view}`)),
      ).rejects.toMatchObject({
        code: '42501',
      });
      await expect(asRole(ctx.pool, 'anon', {}, (c) => c.query(`select * from ${view}`))).rejects.toMatchObject({
        code: '42501',
      });
    }
    await expect(
      asRole(ctx.pool, 'operator', f.a.operator.claims, (c) => c.query('select * from internal.metrics_by_esco()')),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('gives the worker and the reporting login every ESCO’s figures, with help text, through internal.metrics_by_esco()', async () => {
    for (const role of ['worker', 'reporting'] as const) {
      const pool = new pg.Pool({ connectionString: db.loginUrl(role), max: 1 });
      try {
        const rows = await many<{ esco_code: string; metric: string; help: string; value: string }>(
          pool,
          'select * from internal.metrics_by_esco()',
        );
        const stale = rows.filter((r) => r.metric === 'meters_stale');
        expect(stale.map((r) => r.esco_code).sort()).toEqual([f.a.code, f.b.code].sort());
        expect(stale.find((r) => r.esco_code === f.a.code)?.value).toBe('1');
        expect(stale[0]!.help).toBe('Active meters with no successful sync within stale_after_hours.');
        expect(rows.find((r) => r.metric === 'notifications_failed' && r.esco_code === f.a.code)?.value).toBe('1');
        expect(new Set(rows.map((r) => r.metric))).toContain('billing_drift_kwh');
        // Only figures: no ids, no dates, no threshold.
        expect(rows.every((r) => Number.isFinite(Number(r.value)))).toBe(true);
        expect(rows.some((r) => ['esco', 'billing_period_start', 'stale_after_hours'].includes(r.metric))).toBe(false);
        // reporting still reads no personal table
        if (role === 'reporting') {
          await expect(pool.query('select 1 from public.notifications')).rejects.toMatchObject({ code: '42501' });
          await expect(pool.query('select 1 from internal.api_keys')).rejects.toMatchObject({ code: '42501' });
        }
      } finally {
        await pool.end();
      }
    }
  });
});
