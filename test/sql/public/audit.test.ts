// The audit trail: who (role, sub), what (table, key, the difference only), when; append-only.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import { buildWorld, claims, sqlstate, type World } from './fixtures.ts';

interface Entry {
  db_role: string;
  subject: string | null;
  table_name: string;
  operation: string;
  row_key: Record<string, string>;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
}

/** Audit entries written in this transaction (read as superuser, then back to the request role). */
async function entries(c: pg.PoolClient): Promise<Entry[]> {
  const role = (await c.query<{ role: string }>(`select current_user as role`)).rows[0]!.role;
  await c.query('reset role');
  try {
    return await many<Entry>(
      c,
      `select db_role, subject, table_name, operation, row_key, old_values, new_values
         from internal.audit_log where at = now() order by id`,
    );
  } finally {
    await c.query(`select set_config('role', $1, true)`, [role]);
  }
}

describe('audit trail', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let world: World;

  beforeAll(async () => {
    world = await buildWorld(ctx.pool);
  });

  it('records inserts of the audited tables, with the role', async () => {
    const rows = await many<{ table_name: string; n: string }>(
      ctx.pool,
      `select table_name, count(*)::text as n from internal.audit_log where operation = 'INSERT'
        group by table_name order by table_name`,
    );
    expect(rows).toEqual([
      { table_name: 'flows.meter_registry', n: '4' },
      { table_name: 'flows.properties', n: '4' },
      { table_name: 'public.account_supplies', n: '3' },
      { table_name: 'public.accounts', n: '3' },
      { table_name: 'public.customer_accounts', n: '3' },
      { table_name: 'public.customers', n: '3' },
      { table_name: 'public.notification_preferences', n: '3' },
      { table_name: 'public.operator_escos', n: '2' },
      { table_name: 'public.operators', n: '2' },
    ]);
  });

  it('records who changed what: role, JWT sub, table, key and only the columns that changed', async () => {
    await asRole(ctx.pool, 'customer', claims.alice, async (c) => {
      await c.query(`update public.customers set phone = '+447700900123', name = name`);
      const [entry, ...rest] = await entries(c);
      expect(rest).toEqual([]);
      expect(entry).toMatchObject({
        db_role: 'customer',
        subject: 'alice',
        table_name: 'public.customers',
        operation: 'UPDATE',
        row_key: { id: world.customers.alice },
      });
      // name was set to itself: not a difference. updated_at is maintained by trigger, so it changed too.
      expect(Object.keys(entry!.old_values!).sort()).toEqual(['phone', 'updated_at']);
      expect(entry!.old_values!.phone).toBeNull();
      expect(entry!.new_values!.phone).toBe('+447700900123');
    });
  });

  it('records nothing for an update that changes nothing', async () => {
    await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
      const result = await c.query(`update public.accounts set vat_rate_pct = vat_rate_pct`);
      expect(result.rowCount).toBe(2);
      expect(await entries(c)).toEqual([]);
    });
  });

  it('records an operator’s insert, update and delete of supplies and tariffs', async () => {
    await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
      await c.query(`update public.account_supplies set end_date = '2026-12-01' where id = $1`, [world.supplies.bob]);
      const { rows } = await c.query<{ id: string }>(
        `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
           standing_charge_gbp_day) values ($1, '2027-01-01', 0.2, 0.2, 0.5) returning id`,
        [world.escoA],
      );
      await c.query(`delete from public.microgrid_tariffs where id = $1`, [rows[0]!.id]);
      const log = await entries(c);
      expect(log.map((e) => [e.table_name, e.operation, e.db_role, e.subject])).toEqual([
        ['public.account_supplies', 'UPDATE', 'operator', 'op-a'],
        ['public.microgrid_tariffs', 'INSERT', 'operator', 'op-a'],
        ['public.microgrid_tariffs', 'DELETE', 'operator', 'op-a'],
      ]);
      expect(log[0]).toMatchObject({ old_values: { end_date: null }, new_values: { end_date: '2026-12-01' } });
      expect(log[1]).toMatchObject({
        old_values: null,
        new_values: { effective_from: '2027-01-01', esco: world.escoA },
      });
      expect(log[2]).toMatchObject({ new_values: null, old_values: { effective_from: '2027-01-01' } });
      expect(log[2]!.row_key).toEqual({ id: rows[0]!.id });
    });
  });

  it('records one entry per changed row of a bulk statement, and a key change as the old and the new row', async () => {
    const c = await ctx.pool.connect();
    try {
      await c.query('begin');
      // one statement over WLCE's two accounts, changing only Bob's
      await c.query(
        `update public.accounts set vat_rate_pct = case when id = $1 then 20 else vat_rate_pct end where esco = $2`,
        [world.accounts.bob, world.escoA],
      );
      // a row whose key changes: operator A's membership moved to ESCO B
      const { rows } = await c.query<{ operator: string }>(
        `update public.operator_escos set esco = $2 where esco = $1 returning operator`,
        [world.escoA, world.escoB],
      );
      expect(rows).toHaveLength(1);
      await c.query(`delete from public.account_supplies where account = any ($1)`, [
        [world.accounts.alice, world.accounts.bob],
      ]);
      const log = await entries(c);
      expect(log.map((e) => [e.table_name, e.operation])).toEqual([
        ['public.accounts', 'UPDATE'],
        ['public.operator_escos', 'UPDATE'],
        ['public.operator_escos', 'UPDATE'],
        ['public.account_supplies', 'DELETE'],
        ['public.account_supplies', 'DELETE'],
      ]);
      expect(log[0]).toMatchObject({
        row_key: { id: world.accounts.bob },
        old_values: { vat_rate_pct: 5 },
        new_values: { vat_rate_pct: 20 },
      });
      const moved = log.slice(1, 3).sort((a, b) => (a.old_values === null ? 1 : 0) - (b.old_values === null ? 1 : 0));
      expect(moved[0]).toMatchObject({
        row_key: { operator: rows[0]!.operator, esco: world.escoA },
        old_values: { operator: rows[0]!.operator, esco: world.escoA },
        new_values: null,
      });
      expect(moved[1]).toMatchObject({
        row_key: { operator: rows[0]!.operator, esco: world.escoB },
        old_values: null,
        new_values: { operator: rows[0]!.operator, esco: world.escoB },
      });
      expect(
        log
          .slice(3)
          .map((e) => e.row_key.id)
          .sort(),
      ).toEqual([world.supplies.alice, world.supplies.bob].sort());
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('audits the meter registry', async () => {
    await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
      await c.query(`update flows.meter_registry set firmware_version = '2.1' where id = $1`, [world.meters.m1]);
      const [entry] = await entries(c);
      expect(entry).toMatchObject({
        table_name: 'flows.meter_registry',
        operation: 'UPDATE',
        row_key: { id: world.meters.m1 },
        old_values: { firmware_version: null },
        new_values: { firmware_version: '2.1' },
      });
    });
  });

  it('is append-only, for every role including the owner', async () => {
    for (const role of ['anon', 'customer', 'operator', 'service', 'worker', 'reporting', 'flows_owner']) {
      for (const sql of ['update internal.audit_log set subject = null', 'delete from internal.audit_log']) {
        expect([role, sql, await sqlstate(asRole(ctx.pool, role, { sub: 'x' }, (c) => c.query(sql)))]).toEqual([
          role,
          sql,
          '42501',
        ]);
      }
    }
    // Even a superuser is refused by the append-only trigger.
    for (const sql of [
      'update internal.audit_log set subject = null',
      'delete from internal.audit_log',
      'truncate internal.audit_log',
    ]) {
      const client = await ctx.pool.connect();
      try {
        await client.query('begin');
        await expect(client.query(sql)).rejects.toMatchObject({ code: '42501', message: /append-only/ });
      } finally {
        await client.query('rollback');
        client.release();
      }
    }
    const { n } = await one<{ n: number }>(ctx.pool, `select count(*)::integer as n from internal.audit_log`);
    expect(n).toBeGreaterThan(0);
  });

  it('no web role can read it', async () => {
    for (const role of ['anon', 'customer', 'operator', 'service', 'reporting']) {
      expect(
        await sqlstate(asRole(ctx.pool, role, { sub: 'x' }, (c) => c.query('select * from internal.audit_log'))),
      ).toBe('42501');
    }
  });
});
