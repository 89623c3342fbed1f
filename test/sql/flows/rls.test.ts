// Row-level security on flows tables: customers see their meters' data only within their supply
// windows, operators only their ESCOs (membership checked per statement), anon only the ESCO list.
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
  type Topology,
  ingest,
} from './fixtures.ts';

describe('flows row-level security', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let a: Topology;
  let b: Topology;
  let meterA: string;
  let meterB: string;
  let registerA: string;
  let registerB: string;
  let customer: { sub: string };
  let previous: { sub: string };

  beforeAll(async () => {
    a = await createTopology(ctx.pool, (await createEsco(ctx.pool)).id);
    b = await createTopology(ctx.pool, (await createEsco(ctx.pool)).id);
    meterA = (await createMeter(ctx.pool, a.esco, { serviceHead: a.serviceHead, ip: '10.9.0.1' })).id;
    meterB = (await createMeter(ctx.pool, b.esco, { serviceHead: b.serviceHead })).id;
    registerA = await createRegister(ctx.pool, a.esco, meterA);
    registerB = await createRegister(ctx.pool, b.esco, meterB);
    // The current customer moved in on 1 March 2026 (local); the previous one moved out that day.
    customer = await createCustomer(ctx.pool, a.esco, a.property, '2026-03-01');
    previous = await createCustomer(ctx.pool, a.esco, a.property, '2026-01-01', '2026-03-01');
    const rows = (register: string) =>
      ['2026-02-28T23:30Z', '2026-03-01T00:00Z', '2026-03-31T22:30Z', '2026-03-31T23:00Z'].map((t) => ({
        registerId: register,
        timestamp: t,
        importKwh: '0.2',
        source: 'test',
      }));
    await ingest(ctx.pool, [...rows(registerA), ...rows(registerB)]);
    for (const [at, read] of [
      ['2026-02-28T12:00Z', 100],
      ['2026-03-15T12:00Z', 150],
    ] as const) {
      await ctx.pool.query(`update flows.meter_shadows set import_a = $2, csq = $3, updated_at = $4 where id = $1`, [
        meterA,
        read,
        read / 10,
        at,
      ]);
    }
  });

  const asCustomer = <T>(sub: string, sql: string) =>
    asRole(ctx.pool, 'customer', { sub }, (c) => many<T & Record<string, unknown>>(c, sql));

  it('shows a customer interval data of their meters only within their supply', async () => {
    const rows = await asCustomer<{ t: string; register_id: string }>(
      customer.sub,
      `select register_id, to_char("timestamp" at time zone 'UTC', 'MM-DD"T"HH24:MI') as t
         from flows.register_interval_hh order by "timestamp"`,
    );
    // Supply dates are local days: 1 March starts at 00:00 GMT; the supply is open-ended.
    expect(rows).toEqual([
      { register_id: registerA, t: '03-01T00:00' },
      { register_id: registerA, t: '03-31T22:30' },
      { register_id: registerA, t: '03-31T23:00' },
    ]);
    const before = await asCustomer<{ t: string }>(
      previous.sub,
      `select to_char("timestamp" at time zone 'UTC', 'MM-DD"T"HH24:MI') as t from flows.register_interval_hh`,
    );
    expect(before).toEqual([{ t: '02-28T23:30' }]);
    expect(await asCustomer('nobody', `select 1 from flows.register_interval_hh`)).toEqual([]);
  });

  it('shows a customer reading and meter history only within their supply', async () => {
    expect(await asCustomer(customer.sub, `select read from flows.register_import`)).toEqual([{ read: '150.000' }]);
    expect(await asCustomer(customer.sub, `select csq from flows.meter_csq`)).toEqual([{ csq: 15 }]);
    expect(await asCustomer(previous.sub, `select read from flows.register_import`)).toEqual([{ read: '100.000' }]);
  });

  it('shows a customer their meter, but not its network address, and no other meter', async () => {
    expect(await asCustomer(customer.sub, `select id from flows.meter_registry`)).toEqual([{ id: meterA }]);
    expect(await asCustomer(customer.sub, `select id from flows.meter_shadows`)).toEqual([{ id: meterA }]);
    expect(await asCustomer(customer.sub, `select register_id from flows.meter_registers`)).toEqual([
      { register_id: registerA },
    ]);
    await expect(asCustomer(customer.sub, `select ip_address from flows.meter_registry`)).rejects.toMatchObject({
      code: '42501',
    });
    await expect(asCustomer(customer.sub, `select * from flows.feeder_registry`)).rejects.toMatchObject({
      code: '42501',
    });
  });

  it('shows a customer their own ESCO and the properties their accounts supply or supplied', async () => {
    expect(await asCustomer(customer.sub, `select id from flows.escos`)).toEqual([{ id: a.esco }]);
    expect(await asCustomer(customer.sub, `select id from flows.properties`)).toEqual([{ id: a.property }]);
    expect(await asCustomer(previous.sub, `select id from flows.properties`)).toEqual([{ id: a.property }]);
    expect(await asCustomer('nobody', `select id from flows.properties`)).toEqual([]);
  });

  it('keeps operators inside their ESCOs, and revokes with the membership', async () => {
    const operator = await createOperator(ctx.pool, [a.esco]);
    const seen = () =>
      asRole(ctx.pool, 'operator', { sub: operator.sub }, (c) =>
        one<{ meters: string; registers: string; intervals: string; shadows: string }>(
          c,
          `select (select count(*) from flows.meter_registry) as meters,
                  (select count(*) from flows.meter_registers) as registers,
                  (select count(*) from flows.register_interval_hh) as intervals,
                  (select count(*) from flows.meter_shadows) as shadows`,
        ),
      );
    expect(await seen()).toEqual({ meters: '1', registers: '1', intervals: '4', shadows: '1' });
    await asRole(ctx.pool, 'operator', { sub: operator.sub }, async (c) => {
      const moved = await c.query(`update flows.meter_registry set name = 'mine now' where id = $1`, [meterB]);
      expect(moved.rowCount).toBe(0);
    });
    for (const [sql, params] of [
      [`insert into flows.sites_new (esco, name, code) values ($1, 'x', 'XSITE')`, [b.esco]],
      [`update flows.meter_registry set esco = $2 where id = $1`, [meterA, b.esco]],
      [`insert into flows.meter_shadows (id, esco) values (gen_random_uuid(), $1)`, [a.esco]],
    ] as const) {
      await asRole(ctx.pool, 'operator', { sub: operator.sub }, (c) =>
        expect(c.query(sql, [...params])).rejects.toMatchObject({ code: '42501' }),
      );
    }
    await ctx.pool.query(`delete from public.operator_escos where operator = $1`, [operator.id]);
    expect(await seen()).toEqual({ meters: '0', registers: '0', intervals: '0', shadows: '0' });
  });

  it('shows a service only the ESCOs of its token', async () => {
    const count = await asRole(ctx.pool, 'service', { sub: 'svc', escos: [b.esco] }, (c) =>
      one<{ n: string }>(c, `select count(*) as n from flows.register_interval_hh where register_id = $1`, [registerA]),
    );
    expect(count.n).toBe('0');
  });

  it('shows anon the ESCO list (code and name) and nothing else', async () => {
    await asRole(ctx.pool, 'anon', {}, async (c) => {
      const escos = await many(c, `select code, name from flows.escos`);
      expect(escos.length).toBeGreaterThanOrEqual(2);
    });
    for (const sql of [
      `select id from flows.escos`,
      `select 1 from flows.meter_registry`,
      `select 1 from flows.register_interval_hh`,
    ]) {
      await asRole(ctx.pool, 'anon', {}, (c) => expect(c.query(sql)).rejects.toMatchObject({ code: '42501' }));
    }
  });
});
