// Two neighbouring homes on one shared service head, each with its own meter (flows.service_head_meter.property
// names the home a meter supplies): each customer sees their own meter and its data only — registers, readings,
// balance, half-hours, my_consumption, my_account — never the neighbour's. A meter that names no property supplies
// no one on a shared head (fail closed; elsewhere, the head's one property: every other fixture); a meter can name
// only a property that is on its service head.
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import {
  createCustomer,
  createEsco,
  createMeter,
  createOperator,
  createRegister,
  createTopology,
  ingest,
  type Topology,
} from './fixtures.ts';

describe('a service head shared by two properties', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let topo: Topology;
  let p1: string;
  let p2: string;
  let elsewhere: string;
  let m1: { id: string; serial: string };
  let m2: { id: string; serial: string };
  let r1: string;
  let r2: string;
  let c1: { sub: string; account: string };
  let c2: { sub: string; account: string };
  let operator: { sub: string };

  const link = (meter: string, property: string | null) =>
    ctx.pool.query(
      `insert into flows.service_head_meter (esco, service_head, meter, property) values ($1, $2, $3, $4)`,
      [topo.esco, topo.serviceHead, meter, property],
    );

  beforeAll(async () => {
    topo = await createTopology(ctx.pool, (await createEsco(ctx.pool)).id);
    p1 = topo.property;
    p2 = (
      await one<{ id: string }>(
        ctx.pool,
        `insert into flows.properties (esco, site, plot, address) values ($1, $2, '2', '2 Shared Lane') returning id`,
        [topo.esco, topo.site],
      )
    ).id;
    await ctx.pool.query(
      `insert into flows.properties_service_head (esco, property, service_head) values ($1, $2, $3)`,
      [topo.esco, p2, topo.serviceHead],
    );
    // A property of the same ESCO on another service head.
    elsewhere = (await createTopology(ctx.pool, topo.esco)).property;
    m1 = await createMeter(ctx.pool, topo.esco, { prepay: true });
    m2 = await createMeter(ctx.pool, topo.esco, { prepay: true });
    await link(m1.id, p1);
    await link(m2.id, p2);
    r1 = await createRegister(ctx.pool, topo.esco, m1.id);
    r2 = await createRegister(ctx.pool, topo.esco, m2.id);
    c1 = await createCustomer(ctx.pool, topo.esco, p1, '2026-03-01');
    c2 = await createCustomer(ctx.pool, topo.esco, p2, '2026-03-01');
    operator = await createOperator(ctx.pool, [topo.esco]);
    // Home 1 uses 0.1 kWh a half-hour, home 2 (the neighbour) 5 kWh.
    const rows = (register: string, kwh: string) =>
      ['2026-03-02T10:00Z', '2026-03-02T10:30Z', '2026-03-03T10:00Z'].map((t) => ({
        registerId: register,
        timestamp: t,
        importKwh: kwh,
        source: 'test',
      }));
    await ingest(ctx.pool, [...rows(r1, '0.1'), ...rows(r2, '5')]);
    for (const [register, read] of [
      [r1, 11],
      [r2, 222],
    ] as const) {
      await ctx.pool.query(`insert into flows.register_import (register_id, "timestamp", read) values ($1, $2, $3)`, [
        register,
        '2026-03-02T12:00Z',
        read,
      ]);
    }
    for (const [meter, balance] of [
      [m1.id, 12.5],
      [m2.id, 99.75],
    ] as const) {
      await ctx.pool.query(`update flows.meter_shadows set balance = $2, balance_updated_at = now() where id = $1`, [
        meter,
        balance,
      ]);
    }
  });

  const asCustomer = <T extends Record<string, unknown>>(sub: string, sql: string, values: unknown[] = []) =>
    asRole(ctx.pool, 'customer', { sub }, (c) => many<T>(c, sql, values));

  it("shows each customer their own meter, registers, readings and balance, not the neighbour's", async () => {
    for (const [who, meter, register, read, balance] of [
      [c1, m1, r1, '11.000', '12.50'],
      [c2, m2, r2, '222.000', '99.75'],
    ] as const) {
      expect(await asCustomer(who.sub, `select id from flows.meter_registry`)).toEqual([{ id: meter.id }]);
      expect(await asCustomer(who.sub, `select id, balance::text from flows.meter_shadows`)).toEqual([
        { id: meter.id, balance },
      ]);
      expect(await asCustomer(who.sub, `select register_id from flows.meter_registers`)).toEqual([
        { register_id: register },
      ]);
      expect(await asCustomer(who.sub, `select register_id, read::text from flows.register_import`)).toEqual([
        { register_id: register, read },
      ]);
      expect(await asCustomer(who.sub, `select distinct register_id from flows.register_interval_hh`)).toEqual([
        { register_id: register },
      ]);
      expect(await asCustomer(who.sub, `select distinct meter_id from public.meter_readings`)).toEqual([
        { meter_id: meter.id },
      ]);
      expect(await asCustomer(who.sub, `select meter_id, balance::text from public.meters`)).toEqual([
        { meter_id: meter.id, balance },
      ]);
    }
  });

  it("counts only the customer's own meter in my_consumption and my_account", async () => {
    const consumption = await asCustomer<{ serial: string; kwh: string }>(
      c1.sub,
      `select serial, sum(import_kwh)::text as kwh
         from public.my_consumption('2026-03-01', '2026-04-01', 'month') group by serial`,
    );
    expect(consumption).toEqual([{ serial: m1.serial, kwh: '0.300' }]);
    const account = await asCustomer<{ meters: { serial: string; balance: number }[] }>(
      c1.sub,
      `select jsonb_path_query_array(public.my_account(), '$.accounts[*].supplies[*].meters[*]') as meters`,
    );
    expect(account[0]!.meters.map((m) => [m.serial, m.balance])).toEqual([[m1.serial, 12.5]]);
  });

  it('lets a meter that names no property on a shared head supply no one, seen by neither neighbour', async () => {
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      const common = await createMeter(client, topo.esco);
      await client.query(`insert into flows.service_head_meter (esco, service_head, meter) values ($1, $2, $3)`, [
        topo.esco,
        topo.serviceHead,
        common.id,
      ]);
      const pairs = await many<{ pair: string }>(
        client,
        `select property || ':' || meter as pair from flows.property_meters where service_head = $1`,
        [topo.serviceHead],
      );
      const expected = [`${p1}:${m1.id}`, `${p2}:${m2.id}`];
      expect(pairs.map((r) => r.pair).sort()).toEqual(expected.sort());
      for (const [who, own] of [
        [c1, m1.id],
        [c2, m2.id],
      ] as const) {
        await client.query(`select set_config('role', 'customer', true), set_config('request.jwt.claims', $1, true)`, [
          JSON.stringify({ sub: who.sub, role: 'customer' }),
        ]);
        const seen = await many<{ id: string }>(client, `select id from flows.meter_registry`);
        expect(seen.map((r) => r.id)).toEqual([own]);
        await client.query('reset role');
      }
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  it('refuses a property that is not on the service head (23503), and keeps a named link from being removed', async () => {
    const spare = await createMeter(ctx.pool, topo.esco);
    await expect(link(spare.id, elsewhere)).rejects.toMatchObject({ code: '23503' });
    await asRole(ctx.pool, 'operator', { sub: operator.sub }, async (c) => {
      await expect(
        c.query(`update flows.service_head_meter set property = $2 where meter = $1`, [m1.id, elsewhere]),
      ).rejects.toMatchObject({ code: '23503' });
    });
    await asRole(ctx.pool, 'operator', { sub: operator.sub }, async (c) => {
      await expect(
        c.query(`delete from flows.properties_service_head where property = $1 and service_head = $2`, [
          p1,
          topo.serviceHead,
        ]),
      ).rejects.toMatchObject({ code: '23503' });
    });
  });

  it('lets an operator name and clear the property a meter supplies', async () => {
    await asRole(ctx.pool, 'operator', { sub: operator.sub }, async (c) => {
      const spare = await one<{ id: string }>(
        c,
        `insert into flows.meter_registry (esco, serial) values ($1, 'SHAREDSPARE1') returning id`,
        [topo.esco],
      );
      await c.query(
        `insert into flows.service_head_meter (esco, service_head, meter, property) values ($1, $2, $3, $4)`,
        [topo.esco, topo.serviceHead, spare.id, p2],
      );
      const moved = await c.query(`update flows.service_head_meter set property = $2 where meter = $1`, [spare.id, p1]);
      expect(moved.rowCount).toBe(1);
      const cleared = await c.query(`update flows.service_head_meter set property = null where meter = $1`, [spare.id]);
      expect(cleared.rowCount).toBe(1);
    });
  });
});
