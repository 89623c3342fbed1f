// meter_shadows: created with the meter, stamped on write, and history appended per changed value,
// attributed to the register valid at the time (across a meter exchange).
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import { createEsco, createMeter, createRegister } from './fixtures.ts';

describe('flows.meter_shadows', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let esco: string;

  beforeAll(async () => {
    esco = (await createEsco(ctx.pool)).id;
  });

  const historyCounts = (meter: string) =>
    one<Record<string, string>>(
      ctx.pool,
      `select (select count(*) from flows.register_import i join flows.meter_registers r using (register_id) where r.meter_id = $1) as import,
              (select count(*) from flows.register_export e join flows.meter_registers r using (register_id) where r.meter_id = $1) as export,
              (select count(*) from flows.meter_prepay_balance where meter_id = $1) as balance,
              (select count(*) from flows.meter_csq where meter_id = $1) as csq,
              (select count(*) from flows.meter_voltage where meter_id = $1) as voltage,
              (select count(*) from flows.meter_health_history where meter_id = $1) as health`,
      [meter],
    );

  it('creates the shadow with the meter', async () => {
    const meter = await createMeter(ctx.pool, esco);
    const shadow = await one<{ esco: string; balance: string | null }>(
      ctx.pool,
      'select esco, balance from flows.meter_shadows where id = $1',
      [meter.id],
    );
    expect(shadow).toEqual({ esco, balance: null });
  });

  it('appends exactly one history row per changed value and none for unchanged values', async () => {
    const meter = await createMeter(ctx.pool, esco, { prepay: true });
    const a = await createRegister(ctx.pool, esco, meter.id, 'A');
    const b = await createRegister(ctx.pool, esco, meter.id, 'B');
    // The worker writes shadows; the history comes for free.
    const update = (set: string) =>
      asRole(ctx.pool, 'worker', {}, async (c) => {
        await c.query(`update flows.meter_shadows set ${set} where id = $1`, [meter.id]);
        await c.query('commit');
      });
    await update(`import_a = 10, export_a = 1, import_b = 20, export_b = 2, balance = 5, emergency_credit = 0,
                  csq = 17, voltage = 240.1, health = 'healthy', health_details = 'ok'`);
    expect(await historyCounts(meter.id)).toEqual({
      import: '2',
      export: '2',
      balance: '1',
      csq: '1',
      voltage: '1',
      health: '1',
    });

    // Only import_a and csq change: one row each, nothing else.
    await update(`import_a = 11, export_a = 1, import_b = 20, export_b = 2, balance = 5, emergency_credit = 0,
                  csq = 18, voltage = 240.1, health = 'healthy', health_details = 'ok'`);
    expect(await historyCounts(meter.id)).toEqual({
      import: '3',
      export: '2',
      balance: '1',
      csq: '2',
      voltage: '1',
      health: '1',
    });
    // Nothing changes: nothing appended (the shadow's updated_at still moves: the meter was seen).
    const before = await one<{ updated_at: Date }>(
      ctx.pool,
      'select updated_at from flows.meter_shadows where id = $1',
      [meter.id],
    );
    await update(`import_a = 11, csq = 18`);
    expect(await historyCounts(meter.id)).toMatchObject({ import: '3', csq: '2' });
    const after = await one<{ updated_at: Date }>(
      ctx.pool,
      'select updated_at from flows.meter_shadows where id = $1',
      [meter.id],
    );
    expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());

    // Emergency credit alone, health details alone, voltage alone: one row each.
    await update(`emergency_credit = 2.5`);
    await update(`health_details = 'clock drift'`);
    await update(`voltage = 239.0`);
    expect(await historyCounts(meter.id)).toEqual({
      import: '3',
      export: '2',
      balance: '2',
      csq: '2',
      voltage: '2',
      health: '2',
    });

    const imports = await many<{ register_id: string; read: string }>(
      ctx.pool,
      `select register_id, read from flows.register_import where register_id in ($1, $2) order by "timestamp", register_id`,
      [a, b],
    );
    expect(imports).toEqual(
      expect.arrayContaining([
        { register_id: a, read: '10.000' },
        { register_id: b, read: '20.000' },
        { register_id: a, read: '11.000' },
      ]),
    );
    const health = await many<{ health: string; reason: string }>(
      ctx.pool,
      `select health, reason from flows.meter_health_history where meter_id = $1 order by "timestamp"`,
      [meter.id],
    );
    expect(health).toEqual([
      { health: 'healthy', reason: 'ok' },
      { health: 'healthy', reason: 'clock drift' },
    ]);
    const shadow = await one<{ balance_updated_at: Date | null; last_healthy_at: Date | null }>(
      ctx.pool,
      'select balance_updated_at, last_healthy_at from flows.meter_shadows where id = $1',
      [meter.id],
    );
    expect(shadow.balance_updated_at).not.toBeNull();
    expect(shadow.last_healthy_at).not.toBeNull();
  });

  it('two writes in one transaction append two rows', async () => {
    const meter = await createMeter(ctx.pool, esco);
    await createRegister(ctx.pool, esco, meter.id, 'SINGLE');
    await asRole(ctx.pool, 'worker', {}, async (c) => {
      await c.query('update flows.meter_shadows set import_a = 1 where id = $1', [meter.id]);
      await c.query('update flows.meter_shadows set import_a = 2 where id = $1', [meter.id]);
      const rows = await many(
        c,
        `select read from flows.register_import i join flows.meter_registers r using (register_id)
          where r.meter_id = $1 order by "timestamp"`,
        [meter.id],
      );
      expect(rows).toEqual([{ read: '1.000' }, { read: '2.000' }]);
    });
  });

  it('attributes reads to the register valid at the time across a meter exchange', async () => {
    const meter = await createMeter(ctx.pool, esco);
    const exchange = '2026-06-01T12:00:00Z';
    const old = await createRegister(ctx.pool, esco, meter.id, 'SINGLE', '2025-01-01T00:00:00Z', exchange);
    const replacement = await createRegister(ctx.pool, esco, meter.id, 'SINGLE', exchange);
    const write = (at: string, importA: number, exportA: number) =>
      ctx.pool.query('update flows.meter_shadows set import_a = $2, export_a = $3, updated_at = $4 where id = $1', [
        meter.id,
        importA,
        exportA,
        at,
      ]);
    await write('2026-06-01T11:30:00Z', 1500, 3);
    await write('2026-06-01T11:59:59Z', 1501, 3); // last read on the old register: export unchanged
    await write(exchange, 0.5, 0); // the new meter starts near zero
    await write('2026-06-01T13:00:00Z', 1.5, 0);
    const imports = await many<{ register_id: string; read: string }>(
      ctx.pool,
      `select register_id, read from flows.register_import where register_id in ($1, $2) order by "timestamp"`,
      [old, replacement],
    );
    expect(imports).toEqual([
      { register_id: old, read: '1500.000' },
      { register_id: old, read: '1501.000' },
      { register_id: replacement, read: '0.500' },
      { register_id: replacement, read: '1.500' },
    ]);
    const exports = await many<{ register_id: string; read: string }>(
      ctx.pool,
      `select register_id, read from flows.register_export where register_id in ($1, $2) order by "timestamp"`,
      [old, replacement],
    );
    expect(exports).toEqual([
      { register_id: old, read: '3.000' },
      { register_id: replacement, read: '0.000' },
    ]);
  });

  it('records nothing for an element without a valid register, and the shadow keeps the value', async () => {
    const meter = await createMeter(ctx.pool, esco);
    await ctx.pool.query('update flows.meter_shadows set import_b = 7 where id = $1', [meter.id]);
    expect(await historyCounts(meter.id)).toMatchObject({ import: '0' });
    const shadow = await one(ctx.pool, 'select import_b from flows.meter_shadows where id = $1', [meter.id]);
    expect(shadow).toEqual({ import_b: '7.000' });
  });

  it('lets the worker update shadows and firmware but not write history or other registry columns', async () => {
    const meter = await createMeter(ctx.pool, esco);
    await asRole(ctx.pool, 'worker', {}, async (c) => {
      await c.query(`update flows.meter_registry set firmware_version = '2.1', hardware = 'EMP1AX' where id = $1`, [
        meter.id,
      ]);
      await expect(
        c.query('update flows.meter_registry set esco = esco where id = $1', [meter.id]),
      ).rejects.toMatchObject({ code: '42501' });
    });
    await asRole(ctx.pool, 'worker', {}, (c) =>
      expect(
        c.query(`insert into flows.meter_csq (meter_id, "timestamp", csq) values ($1, now(), 3)`, [meter.id]),
      ).rejects.toMatchObject({ code: '42501' }),
    );
  });

  it('lets an operator register a meter (shadow included) only in their own ESCO', async () => {
    const other = await createEsco(ctx.pool);
    const { createOperator } = await import('./fixtures.ts');
    const operator = await createOperator(ctx.pool, [esco]);
    await asRole(ctx.pool, 'operator', { sub: operator.sub }, async (c) => {
      const meter = await one<{ id: string }>(
        c,
        `insert into flows.meter_registry (esco, serial) values ($1, 'OPMETER01') returning id`,
        [esco],
      );
      const shadow = await many(c, 'select id from flows.meter_shadows where id = $1', [meter.id]);
      expect(shadow).toHaveLength(1);
    });
    await asRole(ctx.pool, 'operator', { sub: operator.sub }, (c) =>
      expect(
        c.query(`insert into flows.meter_registry (esco, serial) values ($1, 'OPMETER02')`, [other.id]),
      ).rejects.toMatchObject({ code: '42501' }),
    );
  });
});
