// meters__sync_all and meters__sync against a simulated fleet over real TCP, run by graphile-worker as the
// worker role: a third of the meters misbehave, the rest end healthy and complete; a repeated sync adds
// nothing; the clock is corrected; the per-meter advisory lock keeps other processes out.
import { Logger, type JobHelpers, type WithPgClient } from 'graphile-worker';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { advisoryMeterLock, type WithConnection } from '../../src/emop/pg-lock.ts';
import { fleetFromRegistry } from '../../src/emop/simulator/fleet.ts';
import { loadTaskList } from '../../src/worker/tasks.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { fastClient, simulate, targetOf } from '../emop/helpers.ts';
import { addJob, counts, FAST, failedJobs, registerFleet, runJobs } from './support.ts';

const HALF_HOUR = 1_800_000;

describe('meter sync jobs', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);

  it('syncs a fleet where a third misbehave: the rest healthy and complete, failures recorded, nothing duplicated', async () => {
    // The simulated clock stands still just after the last half-hour boundary, so every half-hour the
    // database counts as complete has its closing read on the meter.
    const t0 = Math.floor(Date.now() / HALF_HOUR) * HALF_HOUR + 1_000;
    const serials = Array.from({ length: 9 }, (_, i) => `SYNC${i + 1}`);
    const sim = await simulate({
      now: () => t0,
      meters: serials.map((serial, i) => ({ serial, twinElement: i % 3 === 0, balance: '12.34567' })),
    });
    const bad = { SYNC2: 'silence', SYNC5: 'refuse', SYNC8: 'garbage' } as const;
    sim.meter('SYNC2').injectFault({ fault: { kind: 'silence' }, times: Infinity });
    await sim.meter('SYNC5').refuseConnections();
    sim.meter('SYNC8').injectFault({ fault: { kind: 'garbage' }, times: Infinity });
    const fleet = await registerFleet(ctx.pool, sim);

    const syncAll = async () => {
      await addJob(ctx.pool, 'meters__sync_all', { frequency: 'hourly', emop: FAST, concurrency: 3 });
      await addJob(ctx.pool, 'meters__sync_all', { frequency: 'daily', emop: FAST, concurrency: 3, backfill_days: 1 });
      await runJobs(db, 4);
    };
    await syncAll();
    expect(await failedJobs(ctx.pool)).toEqual([]);

    const shadows = await many<{
      serial: string;
      health: string;
      health_details: string | null;
      csq: number | null;
      balance: string | null;
      emergency_credit: string | null;
      import_a: string | null;
      import_b: string | null;
      voltage: string | null;
    }>(
      ctx.pool,
      `select m.serial, s.health, s.health_details, s.csq, s.balance::text, s.emergency_credit::text, s.import_a::text,
              s.import_b::text, s.voltage::text
         from flows.meter_shadows s join flows.meter_registry m on m.id = s.id
        where m.esco = $1 order by m.serial`,
      [fleet.esco],
    );
    for (const shadow of shadows) {
      const model = sim.meter(shadow.serial).model;
      if (shadow.serial in bad) {
        expect(shadow).toMatchObject({ health: 'unhealthy', csq: null });
        expect(shadow.health_details).toMatch(/^Emop\w+Error: /);
      } else {
        expect(shadow).toMatchObject({ health: 'healthy', health_details: null, csq: 16, voltage: '240.0' });
        expect(shadow).toMatchObject({ balance: '12.35', emergency_credit: '0.00' });
        expect(shadow.import_a).not.toBeNull();
        expect(shadow.import_b === null).toBe(!model.twinElement);
      }
    }
    expect(shadows.find((s) => s.serial === 'SYNC2')!.health_details).toMatch(/EmopTimeoutError/);
    expect(shadows.find((s) => s.serial === 'SYNC5')!.health_details).toMatch(/ECONNREFUSED/);
    expect(shadows.find((s) => s.serial === 'SYNC8')!.health_details).toMatch(/EmopDelimiterError/);

    // Every run is recorded: hourly and daily per meter, failed for the bad ones.
    const runs = await many<{ serial: string; outcome: string; metrics: string[]; error: string | null }>(
      ctx.pool,
      `select m.serial, r.outcome, r.metrics, r.error from flows.meter_sync_runs r
         join flows.meter_registry m on m.id = r.meter_id where m.esco = $1 order by m.serial, r.started_at`,
      [fleet.esco],
    );
    expect(runs).toHaveLength(18);
    for (const run of runs) {
      if (run.serial in bad) expect(run).toMatchObject({ outcome: 'failed', metrics: [] });
      else expect(run).toMatchObject({ outcome: 'ok', error: null });
    }
    expect(runs.filter((r) => r.outcome === 'ok').flatMap((r) => r.metrics)).toEqual(
      expect.arrayContaining(['csq', 'prepay_balance', 'element_a', 'hardware', 'profile_log_1']),
    );

    // The good meters' registers have every half-hour of the last day, from the meter's profile log.
    const completeness = await many<{ serial: string; element: string; rows: string; missing: string }>(
      ctx.pool,
      `select m.serial, r.element, count(i.*) as rows,
              48 - count(i.*) filter (where i."timestamp" >= $2::timestamptz - interval '1 day') as missing
         from flows.meter_registers r join flows.meter_registry m on m.id = r.meter_id
         left join flows.register_interval_hh i on i.register_id = r.register_id
        where m.esco = $1 group by m.serial, r.element order by m.serial, r.element`,
      [fleet.esco, new Date(t0 - 1_000)],
    );
    for (const c of completeness) {
      expect({ ...c, rows: Number(c.rows), missing: Number(c.missing) }).toEqual(
        c.serial in bad
          ? { serial: c.serial, element: c.element, rows: 0, missing: 48 }
          : { serial: c.serial, element: c.element, rows: 48, missing: 0 },
      );
    }
    // Each interval is the difference of the meter's cumulative reads.
    const last = await one<{ import_kwh: string; timestamp: Date }>(
      ctx.pool,
      `select i.import_kwh::text, i."timestamp" from flows.register_interval_hh i
        where i.register_id = $1 order by i."timestamp" desc limit 1`,
      [fleet.meters[2]!.registers.SINGLE],
    );
    const [start, end] = (await fastClient().profileLog1(targetOf(sim, 'SYNC3'), last.timestamp)).records;
    expect(Number(last.import_kwh)).toBe((end!.importAWh - start!.importAWh) / 1000);

    // Registers and balance went to the shadow and, by trigger, to history: one row each per good meter.
    const before = await counts(ctx.pool);
    expect(before['flows.register_import']).toBe(6 + 3); // SINGLE or A per good meter, plus B on the three twins
    expect(before['flows.meter_prepay_balance']).toBe(6);

    // A repeated sync (nothing changed on the meters) adds no history and no interval rows.
    await syncAll();
    expect(await counts(ctx.pool)).toEqual(before);
    expect(Number((await one<{ n: string }>(ctx.pool, `select count(*) as n from flows.meter_sync_runs`)).n)).toBe(36);
  });

  it('corrects a drifting clock above the threshold, and records the drift left', async () => {
    const sim = await simulate({
      meters: [
        { serial: 'CLK1', clockOffsetSeconds: 95 },
        { serial: 'CLK2', clockOffsetSeconds: 8 },
      ],
    });
    const fleet = await registerFleet(ctx.pool, sim);
    for (const meter of fleet.meters) {
      await addJob(ctx.pool, 'meters__sync', {
        meter_id: meter.id,
        frequency: '12hourly',
        syncers: ['clock_time'],
        emop: FAST,
      });
    }
    await runJobs(db, 2);
    const drift = await many<{ serial: string; clock_time_diff_seconds: number }>(
      ctx.pool,
      `select m.serial, s.clock_time_diff_seconds from flows.meter_shadows s join flows.meter_registry m using (id)
        where m.esco = $1 order by m.serial`,
      [fleet.esco],
    );
    expect(Math.abs(drift[0]!.clock_time_diff_seconds)).toBeLessThanOrEqual(1);
    expect(drift[1]!.clock_time_diff_seconds).toBeGreaterThanOrEqual(7);
    const writes = (serial: string) =>
      sim
        .meter(serial)
        .requests.filter((r) => r.request !== 'undecodable' && 'access' in r.request && r.request.access === 'write');
    expect(writes('CLK1')).toHaveLength(1);
    expect(writes('CLK2')).toHaveLength(0);
  });

  it('syncs at most `concurrency` meters at once, however many workers run', async () => {
    const sim = await simulate({
      meters: Array.from({ length: 6 }, (_, i) => ({ serial: `CAP${i + 1}`, latencyMs: 25 })),
    });
    await registerFleet(ctx.pool, sim);
    await addJob(ctx.pool, 'meters__sync_all', { frequency: 'hourly', emop: FAST, concurrency: 2 });
    await runJobs(db, 5);
    // Each meter's sync as recorded (a queue starts its next job only after the previous one committed).
    const sessions = (
      await many<{ start: Date; end: Date }>(
        ctx.pool,
        `select r.started_at as start, r.finished_at as end from flows.meter_sync_runs r
           join flows.meter_registry m on m.id = r.meter_id where m.serial like 'CAP%'`,
      )
    ).map((r) => ({ start: r.start.getTime(), end: r.end.getTime() }));
    expect(sessions).toHaveLength(6);
    // The most syncs running at one instant (each sync's start is such an instant).
    const most = Math.max(...sessions.map((s) => sessions.filter((o) => o.start <= s.start && s.start < o.end).length));
    expect(most).toBeLessThanOrEqual(2);
  });

  it('stops when the worker aborts: the run is recorded as aborted, the health left alone', async () => {
    const sim = await simulate({ meters: [{ serial: 'ABRT1' }] });
    sim.meter('ABRT1').injectFault({ fault: { kind: 'silence' }, times: Infinity });
    const fleet = await registerFleet(ctx.pool, sim);
    const task = (await loadTaskList()).meters__sync!;
    const pool = new pg.Pool({ connectionString: db.loginUrl('worker'), max: 4 });
    const controller = new AbortController();
    const withPgClient: WithPgClient = async (fn) => {
      const client = await pool.connect();
      try {
        return await fn(client);
      } finally {
        client.release();
      }
    };
    // The parts of graphile-worker's helpers the task uses, over a real pool as the worker role.
    const helpers = {
      logger: new Logger(() => () => {}),
      job: { task_identifier: 'meters__sync' },
      abortSignal: controller.signal,
      withPgClient,
    } as unknown as JobHelpers;
    try {
      const running = task(
        { meter_id: fleet.meters[0]!.id, frequency: 'hourly', emop: { ...FAST, read_timeout_ms: 10_000 } },
        helpers,
      );
      await sim.meter('ABRT1').waitForRequests(1);
      controller.abort(new Error('worker stopping'));
      await expect(running).rejects.toMatchObject({ name: 'EmopAbortedError' });
    } finally {
      await pool.end();
    }
    const run = await one<{ outcome: string; error: string; health: string | null }>(
      ctx.pool,
      `select r.outcome, r.error, s.health from flows.meter_sync_runs r join flows.meter_shadows s on s.id = r.meter_id
        where r.meter_id = $1`,
      [fleet.meters[0]!.id],
    );
    expect(run).toEqual({ outcome: 'failed', error: 'aborted (worker shutting down)', health: null });
  });

  it('holds the advisory lock per meter: another process waits for it, and gives up when aborted', async () => {
    const sim = await simulate({ meters: [{ serial: 'LOCK1', latencyMs: 60 }] });
    const pool = new pg.Pool({ connectionString: db.url, max: 6 });
    const withConnection: WithConnection = async (fn) => {
      const client = await pool.connect();
      try {
        return await fn(client);
      } finally {
        client.release();
      }
    };
    try {
      const first = advisoryMeterLock(withConnection, { holdAfterMs: 50 });
      const meter = targetOf(sim, 'LOCK1');
      await fastClient({ withMeterLock: first.withMeterLock }).csq(meter);
      // Another "process": its own queue key would not help; the database lock does.
      const other = advisoryMeterLock(withConnection);
      const started = performance.now();
      await other.withMeterLock('LOCK1', async () => undefined);
      expect(performance.now() - started).toBeGreaterThanOrEqual(40);
      await first.drain();

      let release!: () => void;
      const held = first.withMeterLock('LOCK1', () => new Promise<void>((resolve) => (release = resolve)));
      const controller = new AbortController();
      const waiting = other.withMeterLock('LOCK1', async () => 'ran', controller.signal);
      setTimeout(() => controller.abort(), 30);
      await expect(waiting).rejects.toMatchObject({ name: 'EmopAbortedError' });
      release();
      await held;
      await first.drain();
      await other.drain();
    } finally {
      await pool.end();
    }
  });

  it('builds a simulated fleet from the registry: ports, twin elements, prepay flag', async () => {
    const sim = await simulate({ meters: [{ serial: 'REG1', twinElement: true }, { serial: 'REG2' }] });
    await registerFleet(ctx.pool, sim, { prepay: false });
    const fleet = (await fleetFromRegistry(ctx.pool)).filter((m) => m.serial.startsWith('REG'));
    expect(fleet).toEqual([
      {
        serial: 'REG1',
        port: sim.meter('REG1').info.port,
        twinElement: true,
        prepayEnabled: false,
        daylightSavings: false,
      },
      {
        serial: 'REG2',
        port: sim.meter('REG2').info.port,
        twinElement: false,
        prepayEnabled: false,
        daylightSavings: false,
      },
    ]);
  });
});
