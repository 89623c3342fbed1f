// flows views and RPCs: completeness and circuit totals across the UK clock changes (46- and
// 50-half-hour days), the meter watch lists, flattened shadow tariffs, and get_meters_for_cli.
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import {
  createEsco,
  createMeter,
  createOperator,
  createRegister,
  createTopology,
  halfHours,
  type Topology,
  ingest,
} from './fixtures.ts';

describe('flows views', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let a: Topology;
  let b: Topology;
  let codeA: string;
  let codeB: string;
  let register: string;
  let circuit: string;

  beforeAll(async () => {
    const escoA = await createEsco(ctx.pool);
    const escoB = await createEsco(ctx.pool);
    codeA = escoA.code;
    codeB = escoB.code;
    a = await createTopology(ctx.pool, escoA.id);
    b = await createTopology(ctx.pool, escoB.id);
    const meter = await createMeter(ctx.pool, a.esco, { serviceHead: a.serviceHead, ip: '10.0.0.1' });
    register = await createRegister(ctx.pool, a.esco, meter.id);
    circuit = (
      await one<{ id: string }>(
        ctx.pool,
        `insert into flows.circuits (esco, site, type, name) values ($1, $2, 'power', 'Plot 1') returning id`,
        [a.esco, a.site],
      )
    ).id;
    await ctx.pool.query(
      `insert into flows.circuit_register (esco, circuit, register, start_time) values ($1, $2, $3, '2020-01-01')`,
      [a.esco, circuit, register],
    );
    // Full local days around both 2026 clock changes, and a day with one half-hour missing.
    const day = (fromUtc: string, toUtc: string) =>
      halfHours(fromUtc, toUtc).map((t) => ({
        registerId: register,
        timestamp: t,
        importKwh: '0.5',
        exportKwh: '0.1',
        source: 'test',
      }));
    await ingest(ctx.pool, [
      ...day('2026-03-29T00:00Z', '2026-03-29T23:00Z'), // Sunday 29 March: clocks go forward, 23 hours
      ...day('2026-03-29T23:00Z', '2026-03-30T23:00Z').slice(1), // Monday 30 March, first half-hour missing
      ...day('2026-10-24T23:00Z', '2026-10-26T00:00Z'), // Sunday 25 October: clocks go back, 25 hours
    ]);
  });

  it('expects 46, 48 and 50 half-hours on the local days around the clock changes', async () => {
    const rows = await many(
      ctx.pool,
      `select day::text, expected_half_hours, present_half_hours, missing_half_hours
         from flows.register_interval_hh_completeness
        where register_id = $1 and (day between '2026-03-28' and '2026-03-31' or day = '2026-10-25')
        order by day`,
      [register],
    );
    expect(rows).toEqual([
      // days in service without any data are listed too: nothing of them is there
      { day: '2026-03-28', expected_half_hours: 48, present_half_hours: 0, missing_half_hours: 48 },
      { day: '2026-03-29', expected_half_hours: 46, present_half_hours: 46, missing_half_hours: 0 },
      { day: '2026-03-30', expected_half_hours: 48, present_half_hours: 47, missing_half_hours: 1 },
      { day: '2026-03-31', expected_half_hours: 48, present_half_hours: 0, missing_half_hours: 48 },
      { day: '2026-10-25', expected_half_hours: 50, present_half_hours: 50, missing_half_hours: 0 },
    ]);
  });

  it('totals circuits by Europe/London day and month', async () => {
    const days = await many(
      ctx.pool,
      `select day::text, total_import_kwh, total_export_kwh, half_hours
         from flows.circuit_interval_daily where circuit_id = $1 order by day`,
      [circuit],
    );
    expect(days).toEqual([
      { day: '2026-03-29', total_import_kwh: '23.000', total_export_kwh: '4.600', half_hours: '46' },
      { day: '2026-03-30', total_import_kwh: '23.500', total_export_kwh: '4.700', half_hours: '47' },
      { day: '2026-10-25', total_import_kwh: '25.000', total_export_kwh: '5.000', half_hours: '50' },
    ]);
    const months = await many(
      ctx.pool,
      `select month::text, total_import_kwh, days_in_month, days_with_data
         from flows.circuit_interval_monthly where circuit_id = $1 order by month`,
      [circuit],
    );
    expect(months).toEqual([
      { month: '2026-03-01', total_import_kwh: '46.500', days_in_month: 31, days_with_data: '2' },
      { month: '2026-10-01', total_import_kwh: '25.000', days_in_month: 31, days_with_data: '1' },
    ]);
  });

  it('follows a register exchange and swaps import and export for a reversed register', async () => {
    const meter = await createMeter(ctx.pool, a.esco);
    const old = await createRegister(ctx.pool, a.esco, meter.id, 'SINGLE', '2020-01-01', '2026-01-10T12:00Z');
    const reversed = await createRegister(ctx.pool, a.esco, meter.id, 'SINGLE', '2026-01-10T12:00Z');
    await ctx.pool.query(`update flows.meter_registers set direction_reversed = true where register_id = $1`, [
      reversed,
    ]);
    const solar = await one<{ id: string }>(
      ctx.pool,
      `insert into flows.circuits (esco, site, type, name) values ($1, $2, 'solar', 'PV') returning id`,
      [a.esco, a.site],
    );
    await ctx.pool.query(
      `insert into flows.circuit_register (esco, circuit, register, start_time, end_time) values
         ($1, $2, $3, '2020-01-01', '2026-01-10T12:00Z'), ($1, $2, $4, '2026-01-10T12:00Z', null)`,
      [a.esco, solar.id, old, reversed],
    );
    await ingest(ctx.pool, [
      { registerId: old, timestamp: '2026-01-10T11:30Z', importKwh: '0', exportKwh: '1.0', source: 'test' },
      { registerId: reversed, timestamp: '2026-01-10T12:00Z', importKwh: '2.0', exportKwh: '0', source: 'test' },
    ]);
    const rows = await many(
      ctx.pool,
      `select to_char("timestamp" at time zone 'UTC', 'HH24:MI') as t, import_kwh, export_kwh
         from flows.circuit_interval_hh where circuit_id = $1 order by "timestamp"`,
      [solar.id],
    );
    expect(rows).toEqual([
      { t: '11:30', import_kwh: '0.000', export_kwh: '1.000' },
      { t: '12:00', import_kwh: '0.000', export_kwh: '2.000' },
    ]);
  });

  it('lists low balances, offline meters and clock drift against each ESCO setting', async () => {
    const low = await createMeter(ctx.pool, a.esco, { prepay: true });
    const fine = await createMeter(ctx.pool, a.esco, { prepay: true });
    const credit = await createMeter(ctx.pool, a.esco);
    await ctx.pool.query(`update flows.meter_shadows set balance = 3 where id = $1`, [low.id]);
    await ctx.pool.query(`update flows.meter_shadows set balance = 10 where id = $1`, [fine.id]);
    await ctx.pool.query(`update flows.meter_shadows set balance = 1 where id = $1`, [credit.id]);
    const offline = await createMeter(ctx.pool, a.esco);
    await ctx.pool.query(
      `update flows.meter_shadows set health = 'healthy', last_healthy_at = now() - interval '7 hours',
              clock_time_diff_seconds = -300 where id = $1`,
      [offline.id],
    );
    const ids = [low.id, fine.id, credit.id, offline.id];
    expect(
      await many(ctx.pool, `select serial, balance, threshold_gbp from flows.meters_low_balance where id = any($1)`, [
        ids,
      ]),
    ).toEqual([{ serial: low.serial, balance: '3.00', threshold_gbp: '5.00' }]);
    expect(
      await many(
        ctx.pool,
        `select serial, last_online < now() - interval '6 hours' as old from flows.meters_offline_recently where id = any($1)`,
        [ids],
      ),
    ).toEqual([{ serial: offline.serial, old: true }]);
    expect(
      await many(ctx.pool, `select serial, clock_time_diff_seconds from flows.meters_clock_drift where id = any($1)`, [
        ids,
      ]),
    ).toEqual([{ serial: offline.serial, clock_time_diff_seconds: -300 }]);
    // A stricter ESCO setting lists the fine meter too.
    await ctx.pool.query(`update flows.escos set low_balance_threshold_gbp = 20 where id = $1`, [a.esco]);
    try {
      expect(await many(ctx.pool, `select 1 from flows.meters_low_balance where id = any($1)`, [ids])).toHaveLength(2);
    } finally {
      await ctx.pool.query(`update flows.escos set low_balance_threshold_gbp = 5 where id = $1`, [a.esco]);
    }
  });

  it('flattens the shadow tariff JSON', async () => {
    const meter = await createMeter(ctx.pool, a.esco, { prepay: true });
    await ctx.pool.query(`update flows.meter_shadows set tariffs_active = $2, tariffs_future = $3 where id = $1`, [
      meter.id,
      { standing_charge: 0.6, unit_rate_element_a: 0.24567, unit_rate_element_b: 0.1, prepayment_emergency_credit: 15 },
      {
        standing_charge: 0.61,
        unit_rate_element_a: 0.25,
        activation_datetime: '2026-01-01T00:00:00Z',
        threshold_mask: 33,
      },
    ]);
    const row = await one(
      ctx.pool,
      `select serial, active_standing_charge, active_unit_rate_a, active_unit_rate_b, active_emergency_credit,
              active_debt_recovery_rate, future_standing_charge, future_unit_rate_a,
              future_activation_datetime = '2026-01-01T00:00Z' as activates, future_threshold_mask
         from flows.meter_shadows_tariffs where id = $1`,
      [meter.id],
    );
    expect(row).toEqual({
      serial: meter.serial,
      active_standing_charge: '0.6',
      active_unit_rate_a: '0.24567',
      active_unit_rate_b: '0.1',
      active_emergency_credit: '15',
      active_debt_recovery_rate: null,
      future_standing_charge: '0.61',
      future_unit_rate_a: '0.25',
      activates: true,
      future_threshold_mask: 33,
    });
  });

  describe('flows.get_meters_for_cli', () => {
    let operatorA: { sub: string };
    let operatorB: { sub: string };
    let serials: Record<string, string>;

    beforeAll(async () => {
      const onFeeder = await createMeter(ctx.pool, a.esco, { serviceHead: a.serviceHead, ip: '10.0.1.1', port: 9000 });
      const noFeeder = await createMeter(ctx.pool, a.esco, { ip: '10.0.1.2' });
      const passive = await createMeter(ctx.pool, a.esco, { serviceHead: a.serviceHead, mode: 'passive' });
      const other = await createMeter(ctx.pool, b.esco, { serviceHead: b.serviceHead, ip: '10.0.2.1' });
      serials = { onFeeder: onFeeder.serial, noFeeder: noFeeder.serial, passive: passive.serial, other: other.serial };
      operatorA = await createOperator(ctx.pool, [a.esco]);
      operatorB = await createOperator(ctx.pool, [b.esco]);
    });

    const cli = (sub: string, esco: string | null, feeder: string | null) =>
      asRole(ctx.pool, 'operator', { sub }, (c) =>
        many<{ serial: string; ip_address: string | null; port: number; esco: string; feeder: string | null }>(
          c,
          `select serial, ip_address, port, esco, feeder from flows.get_meters_for_cli($1, $2)`,
          [esco, feeder],
        ),
      );

    it('returns the active meters the caller may see, with address, ESCO code and feeder', async () => {
      const all = await cli(operatorA.sub, null, null);
      expect(all).toContainEqual({
        serial: serials.onFeeder,
        ip_address: '10.0.1.1',
        port: 9000,
        esco: codeA,
        feeder: a.feederName,
      });
      expect(all).toContainEqual({
        serial: serials.noFeeder,
        ip_address: '10.0.1.2',
        port: 8080,
        esco: codeA,
        feeder: null,
      });
      expect(all.map((m) => m.serial)).not.toContain(serials.passive);
      expect(all.map((m) => m.serial)).not.toContain(serials.other);
      expect(all.every((m) => m.esco === codeA)).toBe(true);
    });

    it('filters by ESCO code (any case) and by feeder, or "null" for no feeder', async () => {
      expect((await cli(operatorA.sub, codeA.toLowerCase(), a.feederName)).map((m) => m.serial)).toEqual(
        expect.arrayContaining([serials.onFeeder]),
      );
      expect((await cli(operatorA.sub, null, a.feederName)).map((m) => m.serial)).not.toContain(serials.noFeeder);
      expect((await cli(operatorA.sub, null, 'null')).map((m) => m.serial)).toContain(serials.noFeeder);
      expect((await cli(operatorA.sub, null, 'null')).map((m) => m.serial)).not.toContain(serials.onFeeder);
      // Another ESCO's code or feeder yields nothing, not an error.
      expect(await cli(operatorA.sub, codeB, null)).toEqual([]);
      expect(await cli(operatorA.sub, null, b.feederName)).toEqual([]);
      expect((await cli(operatorB.sub, null, null)).map((m) => m.serial)).toEqual([serials.other]);
    });

    it('is not callable by customers or anon', async () => {
      for (const role of ['customer', 'anon']) {
        await asRole(ctx.pool, role, { sub: 'x' }, (c) =>
          expect(c.query(`select * from flows.get_meters_for_cli(null, null)`)).rejects.toMatchObject({
            code: '42501',
          }),
        );
      }
    });
  });
});
