// Grants and row-level security of the public tables (docs/security.md), column grants that stop a
// customer escalating, and move-in / move-out (no property supplied twice on one day).
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import { asRoleAfter, buildWorld, claims, sqlstate, type World } from './fixtures.ts';

describe('public security', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let world: World;

  beforeAll(async () => {
    world = await buildWorld(ctx.pool);
    await ctx.pool.query(
      `insert into public.benchmark_tariffs (region, quarter_start, unit_rate_inc_vat_gbp_kwh, standing_charge_inc_vat_gbp_day)
       values ('J', '2026-10-01', 0.245, 0.6)`,
    );
    for (const [escoId, customer] of [
      [world.escoA, world.customers.alice],
      [world.escoB, world.customers.carol],
    ] as const) {
      const t = await one<{ id: string }>(
        ctx.pool,
        `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
           standing_charge_gbp_day) values ($1, '2026-10-01', 0.2, 0.2, 0.5) returning id`,
        [escoId],
      );
      await ctx.pool.query(
        `insert into public.customer_tariffs (customer, esco, microgrid_tariff, effective_from, discount_pct,
           unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh, standing_charge_gbp_day)
         values ($1, $2, $3, '2026-10-01', 20, 0.19, 0.19, 0.45)`,
        [customer, escoId, t.id],
      );
    }
  });

  const ids = (c: pg.PoolClient, table: string, column = 'id') =>
    many<{ id: string }>(c, `select ${column}::text as id from ${table} order by 1`).then((rows) =>
      rows.map((r) => r.id).sort(),
    );
  const sorted = (...values: string[]) => [...values].sort();

  describe('customers', () => {
    it('a customer sees only their own rows', async () => {
      await asRole(ctx.pool, 'customer', claims.alice, async (c) => {
        expect(await ids(c, 'public.customers')).toEqual([world.customers.alice]);
        expect(await ids(c, 'public.accounts')).toEqual([world.accounts.alice]);
        expect(await ids(c, 'public.customer_accounts', 'account')).toEqual([world.accounts.alice]);
        expect(await ids(c, 'public.account_supplies')).toEqual([world.supplies.alice]);
        expect(await ids(c, 'public.customer_tariffs', 'customer')).toEqual([world.customers.alice]);
        expect(await ids(c, 'public.microgrid_tariffs', 'esco')).toEqual([world.escoA]);
        expect(await ids(c, 'public.benchmark_tariffs', 'region')).toEqual(['J']);
      });
      for (const table of ['public.operators', 'public.operator_escos', 'internal.audit_log']) {
        expect(
          await sqlstate(asRole(ctx.pool, 'customer', claims.alice, (c) => c.query(`select * from ${table}`))),
        ).toBe('42501');
      }
    });

    it('a customer may change their contact details', async () => {
      await asRole(ctx.pool, 'customer', claims.alice, async (c) => {
        const updated = await c.query(
          `update public.customers set name = 'Alice A', email = 'a@example.org', phone = '+447700900123',
                  contact_preferences = '{"sms": true}' where true`,
        );
        expect(updated.rowCount).toBe(1); // only their own row, though the statement says `where true`
        const row = await one<{ name: string; updated: boolean }>(
          c,
          `select name, updated_at > created_at as updated from public.customers`,
        );
        expect(row).toEqual({ name: 'Alice A', updated: true });
      });
    });

    it('a customer cannot escalate: auth_subject, status, ESCO, flags, billing mode, VAT rate', async () => {
      const attempts = [
        `update public.customers set auth_subject = 'bob'`,
        `update public.customers set status = 'closed'`,
        `update public.customers set esco = '${world.escoB}'`,
        `update public.customers set vulnerable = true`,
        `update public.customers set priority_services = true`,
        `update public.accounts set billing_mode = 'credit'`,
        `update public.accounts set vat_rate_pct = 0`,
        `update public.accounts set esco = '${world.escoB}'`,
        `update public.account_supplies set end_date = null`,
        `update public.customer_tariffs set discount_pct = 100`,
        `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
           values ('${world.escoA}', 'X-1', 'credit', 'REF-XXXX1')`,
        `insert into public.customer_accounts (customer, account, esco) values
           ('${world.customers.alice}', '${world.accounts.bob}', '${world.escoA}')`,
        `delete from public.customers`,
        `insert into public.customers (esco, name) values ('${world.escoA}', 'Mallory')`,
      ];
      for (const sql of attempts) {
        expect([sql, await sqlstate(asRole(ctx.pool, 'customer', claims.alice, (c) => c.query(sql)))]).toEqual([
          sql,
          '42501',
        ]);
      }
    });

    it('a customer cannot touch another customer’s row', async () => {
      await asRole(ctx.pool, 'customer', claims.alice, async (c) => {
        const result = await c.query(`update public.customers set name = 'Hacked' where id = $1`, [
          world.customers.bob,
        ]);
        expect(result.rowCount).toBe(0);
      });
      const bob = await one<{ name: string }>(ctx.pool, `select name from public.customers where id = $1`, [
        world.customers.bob,
      ]);
      expect(bob.name).toBe('Customer bob');
    });

    it('anon sees nothing of the public schema', async () => {
      for (const table of ['public.customers', 'public.accounts', 'public.benchmark_tariffs', 'public.meters']) {
        expect(await sqlstate(asRole(ctx.pool, 'anon', {}, (c) => c.query(`select * from ${table}`)))).toBe('42501');
      }
    });
  });

  describe('operators', () => {
    it('see and change their ESCOs’ rows only', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await ids(c, 'public.customers')).toEqual(sorted(world.customers.alice, world.customers.bob));
        expect(await ids(c, 'public.accounts')).toEqual(sorted(world.accounts.alice, world.accounts.bob));
        expect(await ids(c, 'public.account_supplies')).toEqual(sorted(world.supplies.alice, world.supplies.bob));
        expect(await ids(c, 'public.microgrid_tariffs', 'esco')).toEqual([world.escoA]);
        expect(await ids(c, 'public.customer_tariffs', 'customer')).toEqual([world.customers.alice]);
        const other = await c.query(`update public.customers set name = 'x' where id = $1`, [world.customers.carol]);
        expect(other.rowCount).toBe(0);
        const gone = await c.query(`delete from public.customer_tariffs where esco = $1`, [world.escoB]);
        expect(gone.rowCount).toBe(0);
        const mine = await c.query(`update public.customers set status = 'inactive', vulnerable = true where id = $1`, [
          world.customers.bob,
        ]);
        expect(mine.rowCount).toBe(1);
      });
    });

    it('cannot create rows in, or move rows to, another ESCO', async () => {
      const attempts = [
        `insert into public.customers (esco, name) values ('${world.escoB}', 'Mallory')`,
        `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
           values ('${world.escoB}', 'X-1', 'credit', 'REF-XXXX1')`,
        `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
           standing_charge_gbp_day) values ('${world.escoB}', '2027-01-01', 0.1, 0.1, 0.1)`,
        `update public.customers set esco = '${world.escoB}'`,
        `update public.accounts set esco = '${world.escoB}'`,
        `update public.account_supplies set property = '${world.properties.p3}'`,
        `update public.customer_tariffs set customer = '${world.customers.carol}'`,
        `insert into public.benchmark_tariffs (region, quarter_start, unit_rate_inc_vat_gbp_kwh,
           standing_charge_inc_vat_gbp_day) values ('J', '2027-01-01', 0.2, 0.5)`,
        `insert into public.operator_escos (operator, esco) select id, '${world.escoB}' from public.operators`,
      ];
      for (const sql of attempts) {
        expect([sql, await sqlstate(asRole(ctx.pool, 'operator', claims.opA, (c) => c.query(sql)))]).toEqual([
          sql,
          '42501',
        ]);
      }
    });

    it('read their own operator row and memberships only', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await many(c, `select auth_subject from public.operators`)).toEqual([{ auth_subject: 'op-a' }]);
        expect(await ids(c, 'public.operator_escos', 'esco')).toEqual([world.escoA]);
      });
    });

    it('lose access the moment their membership ends, with the same token', async () => {
      const seen = await asRoleAfter(
        ctx.pool,
        (s) =>
          s.query(
            `delete from public.operator_escos where operator = (select id from public.operators where auth_subject = 'op-a')`,
          ),
        'operator',
        claims.opA,
        (c) => ids(c, 'public.customers'),
      );
      expect(seen).toEqual([]);
    });

    it('a service token reads its ESCOs’ accounts only', async () => {
      await asRole(ctx.pool, 'service', { sub: 'bank-feed', escos: [world.escoB] }, async (c) => {
        expect(await ids(c, 'public.accounts')).toEqual([world.accounts.carol]);
        expect(await sqlstate(c.query(`select * from public.customers`))).toBe('42501');
      });
    });
  });

  it('lets reporting count top-ups but never read their tokens', async () => {
    await asRole(ctx.pool, 'reporting', {}, async (c) => {
      await c.query(`select id, amount, status, requested_at from public.topups`);
    });
    for (const column of ['token', 'token_sequence', 'error', '*']) {
      await asRole(ctx.pool, 'reporting', {}, async (c) => {
        expect(await sqlstate(c.query(`select ${column} from public.topups`)), column).toBe('42501');
      });
    }
  });

  describe('account supplies: move-in and move-out', () => {
    const supply = (c: pg.PoolClient, property: string, start: string, end: string | null) =>
      c.query(
        `insert into public.account_supplies (account, property, esco, start_date, end_date) values ($1, $2, $3, $4, $5)`,
        [world.accounts.alice, property, world.escoA, start, end],
      );

    it('refuses a supply that overlaps another of the same property with PT409 and a hint', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        await expect(supply(c, world.properties.p2, '2026-12-01', null)).rejects.toMatchObject({
          code: 'PT409',
          message: 'the property is already supplied from 2025-06-01 to open-ended',
          hint: expect.stringMatching(/end_date is exclusive/),
        });
      });
    });

    it('refuses a supply that ends before it starts, naming both dates', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        await expect(supply(c, world.properties.p2, '2027-01-01', '2026-12-01')).rejects.toMatchObject({
          code: '23514',
          message: 'end_date 2026-12-01 is not after start_date 2027-01-01',
          hint: expect.stringMatching(/end_date is exclusive/),
        });
      });
    });

    it('accepts a move-out followed by a move-in on the same day (end_date exclusive)', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        await c.query(`update public.account_supplies set end_date = '2026-12-01' where id = $1`, [world.supplies.bob]);
        await supply(c, world.properties.p2, '2026-12-01', null);
        await expect(
          c.query(`update public.account_supplies set end_date = '2026-12-02' where id = $1`, [world.supplies.bob]),
        ).rejects.toMatchObject({ code: 'PT409' });
      });
    });

    it('keeps the exclusion constraint as the guarantee (23P01) underneath the trigger', async () => {
      const client = await ctx.pool.connect();
      try {
        await client.query('begin');
        await client.query('alter table public.account_supplies disable trigger _100_no_overlap');
        await expect(supply(client, world.properties.p2, '2026-12-01', null)).rejects.toMatchObject({
          code: '23P01',
          constraint: 'account_supplies_no_overlap',
        });
      } finally {
        await client.query('rollback');
        client.release();
      }
    });
  });
});
