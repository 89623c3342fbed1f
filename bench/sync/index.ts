// Fleet sync throughput against its lower bound: N simulated meters (default 1,000) whose every answer takes
// --latency ms (default 200), synced by graphile-worker exactly as in production — meters__sync_all (hourly)
// fans out one meters__sync per meter over the default 15 meter queues — with the per-meter gap set to 0.
// Lower bound = meters × requests per meter × max(latency, gap) ÷ concurrency. Prints wall time, the bound,
// their ratio (goal ≤ 1.3) and the process's peak memory (simulated fleet, worker and client together).
// Flags: --meters N, --latency MS, --concurrency N. Uses DATABASE_URL's server, else an ephemeral embedded one.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { run } from 'graphile-worker';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { one, quoteIdent, withClient, withDatabase, withLogin } from '../../src/db/client.ts';
import { startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { grantDatabase, setupRoles } from '../../src/db/roles.ts';
import { startSimulator } from '../../src/emop/simulator/index.ts';
import { emopConfig } from '../../src/emop/sync/settings.ts';
import { createLogger } from '../../src/log.ts';
import { workerLogger } from '../../src/worker/run.ts';
import { loadTaskList } from '../../src/worker/tasks.ts';

const { values: flags } = parseArgs({
  options: {
    meters: { type: 'string', default: '1000' },
    latency: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: String(emopConfig().meterSyncConcurrency) },
  },
});
const meterCount = Number(flags.meters);
const latencyMs = Number(flags.latency);
const concurrency = Number(flags.concurrency);
const gapMs = 0;
/** The hourly syncers on a single-element meter: csq, voltage, prepay balance, element A. */
const REQUESTS_PER_METER = 4;

const config = loadConfig(['database', 'roles'], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' });
const log = createLogger(config.runtime, 'command');
let embedded: EmbeddedServer | undefined;
let serverUrl = config.database.url;
if (serverUrl === undefined) {
  embedded = await startEmbedded({
    dataDir: path.join(os.tmpdir(), 'flows-bench-sync'),
    cacheDir: config.database.cacheDir,
    port: 0,
    log,
    ephemeral: true,
  });
  serverUrl = embedded.serverUrl;
}
const name = `flows_bench_sync_${randomBytes(4).toString('hex')}`;
await withClient(serverUrl, (client) => client.query(`create database ${quoteIdent(name)}`));
const url = withDatabase(serverUrl, name);
const simulator = await startSimulator({
  meters: Array.from({ length: meterCount }, (_, i) => ({ serial: `BENCH${String(i).padStart(5, '0')}`, latencyMs })),
});
try {
  await withClient(url, async (client) => {
    await setupRoles(client, config.roles);
    await grantDatabase(client);
  });
  await migrate(url, { log });
  await withClient(url, async (client) => {
    const esco = await one<{ id: string }>(
      client,
      `insert into flows.escos (code, name) values ('BENCH', 'Benchmark') returning id`,
    );
    await client.query(
      `with m as (
         insert into flows.meter_registry (esco, serial, ip_address, port)
         select $1, s.serial, '127.0.0.1', s.port from unnest($2::text[], $3::int[]) as s (serial, port)
         returning id)
       insert into flows.meter_registers (meter_id, esco, element, start_time)
       select m.id, $1, 'SINGLE', now() - interval '1 day' from m`,
      [esco.id, simulator.meters.map((m) => m.serial), simulator.meters.map((m) => m.port)],
    );
  });

  const pool = new pg.Pool({
    connectionString: withLogin(url, 'worker', config.roles.passwords.worker),
    max: concurrency * 3 + 6,
  });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const runner = await run({
    pgPool: pool,
    taskList: await loadTaskList(),
    concurrency: concurrency + 1,
    pollInterval: 100,
    logger: workerLogger(log),
    noHandleSignals: true,
  });
  let synced = 0;
  let failed = 0;
  const allSynced = new Promise<void>((resolve) => {
    runner.events.on('job:complete', ({ job, error }) => {
      if (job.task_identifier !== 'meters__sync') return;
      if (error) failed++;
      if (++synced === meterCount) resolve();
    });
  });
  const started = performance.now();
  await pool.query(`select graphile_worker.add_job('meters__sync_all', $1::json)`, [
    JSON.stringify({ frequency: 'hourly', concurrency, emop: { min_request_gap_ms: gapMs } }),
  ]);
  await allSynced;
  const wallMs = performance.now() - started;
  await runner.stop();
  await pool.end();

  const healthy = await withClient(url, (client) =>
    one<{ n: string }>(client, `select count(*) as n from flows.meter_shadows where health = 'healthy'`),
  );
  const requests = simulator.meters.reduce((sum, m) => sum + simulator.meter(m.serial).requests.length, 0);
  const boundMs = (meterCount * REQUESTS_PER_METER * Math.max(latencyMs, gapMs)) / concurrency;
  const peakMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    [
      `meters ${meterCount}, answers ${latencyMs} ms, concurrency ${concurrency}, gap ${gapMs} ms, ${REQUESTS_PER_METER} requests per meter`,
      `synced ${synced} (${failed} failed jobs), healthy ${healthy.n}, requests served ${requests}`,
      `wall time      ${(wallMs / 1000).toFixed(2)} s`,
      `lower bound    ${(boundMs / 1000).toFixed(2)} s  (meters × requests × max(latency, gap) ÷ concurrency)`,
      `ratio          ${(wallMs / boundMs).toFixed(3)}  (goal ≤ 1.3)`,
      `peak memory    ${peakMb.toFixed(0)} MB RSS`,
      '',
    ].join('\n'),
  );
} finally {
  await simulator.close();
  await withClient(serverUrl, (client) => client.query(`drop database if exists ${quoteIdent(name)} with (force)`));
  await embedded?.stop();
}
