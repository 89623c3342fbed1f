// Customer RPCs and views: my_account(), my_consumption(), public.meters and public.meter_readings.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import { asRoleAfter, buildWorld, claims, insertHalfHours, quarters, sqlstate, type World } from './fixtures.ts';

/** UTC instant of 00:00 Europe/London on a day, as ISO text. */
const LONDON_MIDNIGHT = {
  '2025-12-31': '2025-12-31T00:00:00Z',
  '2026-01-01': '2026-01-01T00:00:00Z',
  '2026-01-02': '2026-01-02T00:00:00Z',
  '2026-03-28': '2026-03-28T00:00:00Z',
  '2026-03-29': '2026-03-29T00:00:00Z', // clocks go forward at 01:00 GMT: a 46-half-hour day
  '2026-03-30': '2026-03-29T23:00:00Z',
  '2026-03-31': '2026-03-30T23:00:00Z',
  '2026-10-24': '2026-10-23T23:00:00Z',
  '2026-10-25': '2026-10-24T23:00:00Z', // clocks go back at 02:00 BST: a 50-half-hour day
  '2026-10-26': '2026-10-26T00:00:00Z',
} as const;

interface Bucket {
  period_start: string;
  period_end: string;
  local_date: string;
  serial: string;
  element: string;
  import_kwh: string;
  export_kwh: string;
  half_hours: number;
  expected_half_hours: number;
  estimated_half_hours: number;
}

const consumption = (c: pg.PoolClient, from: string, to: string, granularity: string | null) =>
  many<Bucket>(
    c,
    `select to_char(period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as period_start,
            to_char(period_end at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as period_end,
            local_date::text, serial, element, import_kwh::text, export_kwh::text, half_hours, expected_half_hours,
            estimated_half_hours
       from public.my_consumption($1::date, $2::date, $3)`,
    [from, to, granularity],
  );

describe('public customer RPCs and views', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let world: World;
  let q: { current: string; next: string; previous: string };

  beforeAll(async () => {
    world = await buildWorld(ctx.pool);
    q = await quarters(ctx.pool);
    const m = LONDON_MIDNIGHT;
    // alice (supplied from 2026-01-01): element A around both clock changes, element B one day, and
    // a day before her supply began, which she must not see.
    await insertHalfHours(ctx.pool, world.registers.m1a, m['2025-12-31'], m['2026-01-02']);
    await insertHalfHours(ctx.pool, world.registers.m1a, m['2026-03-28'], m['2026-03-31']);
    await insertHalfHours(ctx.pool, world.registers.m1a, m['2026-10-24'], m['2026-10-26'], '0.500');
    await insertHalfHours(ctx.pool, world.registers.m1b, m['2026-03-29'], m['2026-03-30'], '0.250', 'estimated');
    // bob's meter, the same days: never in alice's figures.
    await insertHalfHours(ctx.pool, world.registers.m2, m['2026-03-28'], m['2026-03-31'], '9.000');
    // Tariffs in force today: ESCO A's, and alice's own.
    await ctx.pool.query(
      `insert into public.microgrid_tariffs (esco, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
         export_rate_gbp_kwh, standing_charge_gbp_day, emergency_credit_gbp, ecredit_availability_gbp, debt_recovery_gbp_day)
       values ($1, $2, 10, 0.21000, 0.20000, 0.15000, 0.51429, 15.00, 10.00, 0.50),
              ($1, $3, 12, 0.30000, 0.30000, 0.15000, 0.60000, 15.00, 10.00, 0.50)`,
      [world.escoA, q.current, q.next],
    );
    await ctx.pool.query(
      `insert into public.customer_tariffs (customer, esco, microgrid_tariff, effective_from, discount_pct,
         unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh, standing_charge_gbp_day)
       select $1, $2, id, effective_from, 20, 0.18667, 0.17778, 0.45714 from public.microgrid_tariffs
        where esco = $2 and effective_from = $3`,
      [world.customers.alice, world.escoA, q.current],
    );
  });

  describe('my_account', () => {
    it('returns the customer, accounts, supplies, meters with balance and the current tariff in one call', async () => {
      const account = await asRole(ctx.pool, 'customer', claims.alice, (c) =>
        one<{ a: Record<string, unknown> }>(c, `select public.my_account() as a`).then((r) => r.a),
      );
      expect(account).toMatchObject({
        customer: { id: world.customers.alice, name: 'Customer alice', email: 'alice@example.org', status: 'active' },
        esco: { code: 'WLCE' },
        tariff: {
          source: 'customer',
          effective_from: q.current,
          discount_pct: 20,
          unit_rate_a_gbp_kwh: 0.18667,
          unit_rate_b_gbp_kwh: 0.17778,
          standing_charge_gbp_day: 0.45714,
          export_rate_gbp_kwh: 0.15,
          emergency_credit_gbp: 15,
        },
        accounts: [
          {
            id: world.accounts.alice,
            account_number: 'ACC-ALICE',
            role: 'holder',
            billing_mode: 'prepay',
            vat_rate_pct: 5,
            supplies: [
              {
                id: world.supplies.alice,
                property: world.properties.p1,
                plot: 'P1',
                start_date: '2026-01-01',
                end_date: null,
                current: true,
                meters: [{ meter_id: world.meters.m1, serial: 'EML-P1', balance: 12.34, health: 'healthy' }],
              },
            ],
          },
        ],
      });
      expect(JSON.stringify(account)).not.toMatch(/bob|EML-P2|ACC-BOB/);
    });

    it('shows the ESCO tariff to a customer without their own', async () => {
      const tariff = await asRole(ctx.pool, 'customer', claims.bob, (c) =>
        one<{ t: Record<string, unknown> }>(c, `select public.my_account() -> 'tariff' as t`).then((r) => r.t),
      );
      expect(tariff).toMatchObject({
        source: 'esco',
        discount_pct: 10,
        unit_rate_a_gbp_kwh: 0.21,
        unit_rate_b_gbp_kwh: 0.2,
      });
    });

    it('hides a meter’s balance from a former occupant', async () => {
      const account = await asRoleAfter(
        ctx.pool,
        (s) =>
          s.query(`update public.account_supplies set end_date = '2026-06-01' where id = $1`, [world.supplies.alice]),
        'customer',
        claims.alice,
        (c) =>
          one<{ a: { accounts: { supplies: unknown[] }[] } }>(c, `select public.my_account() as a`).then((r) => r.a),
      );
      expect(account.accounts[0]!.supplies[0]).toMatchObject({
        end_date: '2026-06-01',
        current: false,
        meters: [{ serial: 'EML-P1', balance: null }],
      });
    });

    it('answers PT404 to a login without a customer record, and is for customers only', async () => {
      await expect(
        asRole(ctx.pool, 'customer', { sub: 'nobody' }, (c) => c.query(`select public.my_account()`)),
      ).rejects.toMatchObject({ code: 'PT404', hint: expect.stringMatching(/link your login/) });
      await expect(
        asRole(ctx.pool, 'operator', claims.opA, (c) => c.query(`select public.my_account()`)),
      ).rejects.toThrow(/permission denied for function my_account/);
    });
  });

  describe('my_consumption', () => {
    it('sums by Europe/London day: 46 half-hours on 2026-03-29, 50 on 2026-10-25', async () => {
      const rows = await asRole(ctx.pool, 'customer', claims.alice, (c) =>
        consumption(c, '2026-03-28', '2026-03-31', 'day'),
      );
      expect(rows.map((r) => [r.local_date, r.element, r.half_hours, r.expected_half_hours, r.import_kwh])).toEqual([
        ['2026-03-28', 'A', 48, 48, '48.000'],
        ['2026-03-29', 'A', 46, 46, '46.000'],
        ['2026-03-29', 'B', 46, 46, '11.500'],
        ['2026-03-30', 'A', 48, 48, '48.000'],
      ]);
      expect(rows[1]).toMatchObject({ period_start: '2026-03-29T00:00:00Z', period_end: '2026-03-29T23:00:00Z' });
      expect(rows[2]).toMatchObject({ estimated_half_hours: 46, serial: 'EML-P1' });

      const autumn = await asRole(ctx.pool, 'customer', claims.alice, (c) =>
        consumption(c, '2026-10-24', '2026-10-26', 'day'),
      );
      expect(
        autumn.map((r) => [r.local_date, r.half_hours, r.expected_half_hours, r.import_kwh, r.period_start]),
      ).toEqual([
        ['2026-10-24', 48, 48, '24.000', '2026-10-23T23:00:00Z'],
        ['2026-10-25', 50, 50, '25.000', '2026-10-24T23:00:00Z'],
      ]);
    });

    it('treats to_date as exclusive and puts each half-hour in its London day', async () => {
      const rows = await asRole(ctx.pool, 'customer', claims.alice, (c) =>
        consumption(c, '2026-10-25', '2026-10-26', 'halfhour'),
      );
      const a = rows.filter((r) => r.element === 'A');
      expect(a).toHaveLength(50);
      // 00:00 BST on the 25th is 23:00 UTC on the 24th; the last half-hour starts 23:30 GMT.
      expect(a[0]).toMatchObject({
        period_start: '2026-10-24T23:00:00Z',
        local_date: '2026-10-25',
        import_kwh: '0.500',
      });
      expect(a[49]).toMatchObject({ period_start: '2026-10-25T23:30:00Z', period_end: '2026-10-26T00:00:00Z' });
      expect(new Set(a.map((r) => r.local_date))).toEqual(new Set(['2026-10-25']));

      const spring = await asRole(ctx.pool, 'customer', claims.alice, (c) =>
        consumption(c, '2026-03-29', '2026-03-30', 'halfhour'),
      );
      expect(spring.filter((r) => r.element === 'A')).toHaveLength(46);
      expect(spring.filter((r) => r.element === 'B')).toHaveLength(46);
    });

    it('buckets by month, clipped to the range', async () => {
      const rows = await asRole(ctx.pool, 'customer', claims.alice, (c) =>
        consumption(c, '2026-03-15', '2026-04-01', 'month'),
      );
      expect(
        rows.map((r) => [r.local_date, r.element, r.period_start, r.period_end, r.half_hours, r.import_kwh]),
      ).toEqual([
        ['2026-03-01', 'A', '2026-03-15T00:00:00Z', '2026-03-31T23:00:00Z', 142, '142.000'],
        ['2026-03-01', 'B', '2026-03-15T00:00:00Z', '2026-03-31T23:00:00Z', 46, '11.500'],
      ]);
      // 17 London days, one of them 46 half-hours long
      expect(rows[0]!.expected_half_hours).toBe(17 * 48 - 2);
    });

    it('counts only half-hours within the customer’s supply', async () => {
      const rows = await asRole(ctx.pool, 'customer', claims.alice, (c) =>
        consumption(c, '2025-12-31', '2026-01-02', 'day'),
      );
      expect(rows.map((r) => [r.local_date, r.half_hours])).toEqual([['2026-01-01', 48]]);
      const bobs = await asRole(ctx.pool, 'customer', claims.bob, (c) =>
        consumption(c, '2026-03-28', '2026-03-31', 'day'),
      );
      expect(bobs.map((r) => [r.serial, r.import_kwh])).toEqual([
        ['EML-P2', '432.000'],
        ['EML-P2', '414.000'],
        ['EML-P2', '432.000'],
      ]);
      const carols = await asRole(ctx.pool, 'customer', claims.carol, (c) =>
        consumption(c, '2026-03-28', '2026-03-31', 'day'),
      );
      expect(carols).toEqual([]);
    });

    it('refuses bad input with 22023 and a hint', async () => {
      const cases: [string, string, string | null][] = [
        ['2026-03-01', '2026-03-02', 'week'],
        ['2026-03-01', '2026-03-02', null],
        ['2026-03-02', '2026-03-02', 'day'],
        ['2026-03-05', '2026-03-02', 'day'],
        ['2026-01-01', '2026-06-01', 'halfhour'],
        ['2020-01-01', '2026-01-01', 'day'],
      ];
      for (const [from, to, granularity] of cases) {
        await expect(
          asRole(ctx.pool, 'customer', claims.alice, (c) => consumption(c, from, to, granularity)),
        ).rejects.toMatchObject({ code: '22023', hint: expect.any(String) });
      }
      await expect(
        asRole(ctx.pool, 'customer', { sub: 'nobody' }, (c) => consumption(c, '2026-03-01', '2026-03-02', 'day')),
      ).rejects.toMatchObject({ code: 'PT404' });
      expect(
        await sqlstate(
          asRole(ctx.pool, 'operator', claims.opA, (c) => consumption(c, '2026-03-01', '2026-03-02', 'day')),
        ),
      ).toBe('42501');
    });
  });

  describe('views', () => {
    const meters = (c: pg.PoolClient) =>
      many<{ serial: string; plot: string | null; balance: string | null; supplied_now: boolean; esco_code: string }>(
        c,
        `select serial, plot, balance::text, supplied_now, esco_code from public.meters order by serial`,
      );

    it('public.meters shows a customer their meters with balance, an operator their ESCOs’ meters', async () => {
      expect(await asRole(ctx.pool, 'customer', claims.alice, meters)).toEqual([
        { serial: 'EML-P1', plot: 'P1', balance: '12.34', supplied_now: true, esco_code: 'WLCE' },
      ]);
      expect((await asRole(ctx.pool, 'customer', claims.carol, meters)).map((m) => m.serial)).toEqual(['EML-P3']);
      expect((await asRole(ctx.pool, 'operator', claims.opA, meters)).map((m) => [m.serial, m.plot])).toEqual([
        ['EML-P1', 'P1'],
        ['EML-P2', 'P2'],
        ['EML-P4', 'P4'],
      ]);
      expect((await asRole(ctx.pool, 'operator', claims.opB, meters)).map((m) => m.serial)).toEqual(['EML-P3']);
      expect(await asRole(ctx.pool, 'customer', { sub: 'nobody' }, meters)).toEqual([]);
    });

    it('public.meters hides the balance from a former occupant', async () => {
      const rows = await asRoleAfter(
        ctx.pool,
        (s) =>
          s.query(`update public.account_supplies set end_date = '2026-06-01' where id = $1`, [world.supplies.alice]),
        'customer',
        claims.alice,
        meters,
      );
      expect(rows).toEqual([{ serial: 'EML-P1', plot: 'P1', balance: null, supplied_now: false, esco_code: 'WLCE' }]);
    });

    it('public.meter_readings shows a customer their readings within supply only', async () => {
      const read = (c: pg.PoolClient) =>
        one<{ n: number; first: string; serials: string[] }>(
          c,
          `select count(*)::integer as n, to_char(min("timestamp") at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as first, array_agg(distinct serial) as serials
             from public.meter_readings`,
        );
      const alice = await asRole(ctx.pool, 'customer', claims.alice, read);
      expect(alice).toEqual({ n: 48 + 142 + 98 + 46, first: '2026-01-01T00:00Z', serials: ['EML-P1'] });
      const op = await asRole(ctx.pool, 'operator', claims.opA, read);
      expect(op.n).toBe(96 + 142 + 98 + 46 + 142);
      const opB = await asRole(ctx.pool, 'operator', claims.opB, read);
      expect(opB.n).toBe(0);
      await expect(asRole(ctx.pool, 'anon', {}, read)).rejects.toThrow(/permission denied/);
    });
  });
});
