// Meter job tests: an ESCO with meters registered at a simulated fleet's loopback ports, and graphile-worker
// running the queued jobs as the worker role (runOnce), with millisecond EMOP timings.
import { runOnce } from 'graphile-worker';
import pg from 'pg';
import { many, one } from '../../src/db/client.ts';
import type { EmopSettings } from '../../src/emop/sync/settings.ts';
import type { Simulator } from '../../src/emop/simulator/index.ts';
import { createLogger } from '../../src/log.ts';
import { workerLogger } from '../../src/worker/run.ts';
import { loadTaskList } from '../../src/worker/tasks.ts';
import type { TestDatabase } from '../support/database.ts';
import { workerPool } from '../support/worker.ts';

const log = createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 });

/** Fast timings for tests: no gap, short timeouts, two attempts 5 ms apart. */
export const FAST: EmopSettings = {
  min_request_gap_ms: 0,
  connect_timeout_ms: 300,
  read_timeout_ms: 150,
  attempts: 2,
  initial_backoff_ms: 5,
  max_backoff_ms: 10,
};

export interface RegisteredMeter {
  id: string;
  serial: string;
  registers: { A?: string; B?: string; SINGLE?: string };
}

let escoCounter = 0;

/** An ESCO with the simulator's meters registered (twin-element meters get A and B registers). */
export async function registerFleet(
  pool: pg.Pool,
  sim: Simulator,
  options: { registersFrom?: Date; prepay?: boolean } = {},
): Promise<{ esco: string; code: string; meters: RegisteredMeter[] }> {
  const code = `T${++escoCounter}${Math.random().toString(36).slice(2, 6).toUpperCase()}`;
  const esco = await one<{ id: string }>(
    pool,
    `insert into flows.escos (code, name, region) values ($1, $1, 'A') returning id`,
    [code],
  );
  const meters: RegisteredMeter[] = [];
  for (const info of sim.meters) {
    // An earlier test's meter may hold this address: its simulator closed, and the system gave the port out again.
    await pool.query(`update flows.meter_registry set ip_address = null where ip_address = $1 and port = $2`, [
      info.host,
      info.port,
    ]);
    const meter = await one<{ id: string }>(
      pool,
      `insert into flows.meter_registry (esco, serial, ip_address, port, mode, prepay_enabled)
       values ($1, $2, $3, $4, 'active', $5) returning id`,
      [esco.id, info.serial, info.host, info.port, options.prepay ?? true],
    );
    const registers: RegisteredMeter['registers'] = {};
    for (const element of info.twinElement ? (['A', 'B'] as const) : (['SINGLE'] as const)) {
      registers[element] = (
        await one<{ register_id: string }>(
          pool,
          `insert into flows.meter_registers (meter_id, esco, element, start_time) values ($1, $2, $3, $4)
           returning register_id`,
          [meter.id, esco.id, element, options.registersFrom ?? new Date(Date.now() - 30 * 86_400_000)],
        )
      ).register_id;
    }
    meters.push({ id: meter.id, serial: info.serial, registers });
  }
  return { esco: esco.id, code, meters };
}

/** Adds a job as the worker would get it. */
export async function addJob(pool: pg.Pool, task: string, payload: unknown, jobKey?: string): Promise<void> {
  await pool.query(`select graphile_worker.add_job($1, $2::json, job_key => $3)`, [
    task,
    JSON.stringify(payload),
    jobKey ?? null,
  ]);
}

/** Runs every job due (and the jobs they add) as the worker role, `workers` at a time, until none is due. */
export async function runJobs(db: TestDatabase, workers = 4): Promise<void> {
  const pool = workerPool(db, workers * 3 + 2);
  const taskList = await loadTaskList();
  try {
    for (;;) {
      await Promise.all(
        Array.from({ length: workers }, () => runOnce({ pgPool: pool, taskList, logger: workerLogger(log) })),
      );
      const due = await one<{ n: string }>(
        pool,
        `select count(*) as n from graphile_worker.jobs
          where run_at <= now() and locked_at is null and attempts < max_attempts`,
      );
      if (Number(due.n) === 0) return;
    }
  } finally {
    await pool.end();
  }
}

export async function failedJobs(pool: pg.Pool): Promise<{ task_identifier: string; last_error: string | null }[]> {
  return many(pool, `select task_identifier, last_error from graphile_worker.jobs where last_error is not null`);
}

/** Row counts of the tables a sync writes, to compare before and after. */
export async function counts(pool: pg.Pool): Promise<Record<string, number>> {
  const tables = [
    'flows.register_import',
    'flows.register_export',
    'flows.meter_prepay_balance',
    'flows.meter_csq',
    'flows.meter_voltage',
    'flows.meter_health_history',
    'flows.register_interval_hh',
  ];
  const out: Record<string, number> = {};
  for (const table of tables) {
    out[table] = Number((await one<{ n: string }>(pool, `select count(*) as n from ${table}`)).n);
  }
  return out;
}
