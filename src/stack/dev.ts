// `flows dev` (= `npm start`): database → setup → migrate → REST layer → worker → banner, then (in the
// background) demo data on an empty database and a simulated meter fleet.
// Ctrl-C (SIGINT) or SIGTERM stops everything this process started, newest first.
import pg from 'pg';
import { loadConfig, processEnv } from '../config.ts';
import { mintToken } from '../auth/token.ts';
import { withClient } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { setup } from '../db/roles.ts';
import { loginUrl, openDatabase } from '../db/server.ts';
import { createLogger, type Logger } from '../log.ts';
import { startRegistryFleet } from '../emop/simulator/fleet.ts';
import { seedDemo } from '../seed/demo.ts';
import { seedDemoPayments } from '../seed/demo-payments.ts';
import { progressBar } from '../seed/progress.ts';
import { exitOnSignals, onShutdown, shutdown } from '../shutdown.ts';
import { exitOnCrash, startWorker } from '../worker/run.ts';
import { logNotifyChannels } from '../notify/tasks.ts';
import { devRestEnv } from './rest-settings.ts';
import { startRestLayer } from './rest-layer.ts';
import { startRealtime } from '../realtime/server.ts';

/** Days of half-hourly data `npm start` seeds into an empty database. */
const demoDays = 90;

export async function runDev(): Promise<void> {
  const env = processEnv();
  const config = loadConfig(['database', 'roles', 'worker', 'token', 'notify', 'metrics'], env);
  const log = createLogger(config.runtime);
  logNotifyChannels(config.notify, log);
  exitOnSignals(log, config.runtime.shutdownTimeoutMs);
  try {
    const db = await openDatabase(config.database, log, { owner: true });
    await withClient(db.adminUrl, (client) => setup(client, config.roles));
    await migrate(db.adminUrl, { log });

    const restEnv = devRestEnv(env, loginUrl(db.adminUrl, config.roles, 'authenticator'), config.token.jwtSecret);
    const { rest: restConfig, realtime: realtimeConfig } = loadConfig(['rest', 'realtime'], restEnv);
    const rest = await startRestLayer(restConfig, restEnv, log);
    onShutdown('rest', () => rest.stop());
    const realtime = await startRealtime(restConfig, realtimeConfig, log.child({ component: 'realtime' }));
    onShutdown('realtime', () => realtime.close());

    const workerUrl = config.worker.url ?? loginUrl(db.adminUrl, config.roles, 'worker');
    const worker = await startWorker(workerUrl, config.worker, log, config.metrics);
    onShutdown('worker', () => worker.stop());
    exitOnCrash(worker, log);

    seedAndSimulate(db.adminUrl, log);

    // The demo data's administrator, a member of both demo ESCOs.
    const token = await mintToken(config.token.jwtSecret, { role: 'operator', sub: 'flows-admin', ttl: '12h' });
    printBanner({
      restUrl: rest.url,
      realtimeUrl: realtime.url,
      restKind: rest.kind,
      pgdata: db.pgdata,
      token,
      seconds: process.uptime(),
    });
  } catch (error) {
    await shutdown(log, 'start-up failed');
    throw error;
  }
}

/**
 * A database without ESCOs gets the demo data set, in the background so the banner comes first
 * (progress is logged every tenth of the way). Then the meters of the registry at 127.0.0.1 come
 * alive as a simulated fleet, and a first hourly sync is enqueued so the worker fills their shadows.
 * Last, a freshly seeded WLCE gets last month billed and issued, and a bank statement paying it
 * imported (the worker's bank__reconcile matches it).
 */
function seedAndSimulate(adminUrl: string, log: Logger): void {
  const client = new pg.Client({ connectionString: adminUrl });
  const stop = onShutdown('demo-seed', () => client.end());
  const work = (async () => {
    await client.connect();
    const { rowCount } = await client.query('select 1 from flows.escos limit 1');
    if (!rowCount) {
      log.info({ days: demoDays }, 'empty database: seeding the demo data set in the background');
      let reported = 0;
      const summary = await seedDemo(client, {
        days: demoDays,
        seed: 1,
        onProgress: (done, total) => {
          if (done === total || done - reported >= total / 10) {
            reported = done;
            log.info({ progress: progressBar(done, total) }, 'seeding demo data');
          }
        },
      });
      log.info(summary, 'demo data ready');
    }
    const fleet = await startRegistryFleet(client);
    if (fleet) {
      onShutdown('simulator', () => fleet.close());
      log.info({ meters: fleet.meters.length }, 'simulated meters listening on 127.0.0.1');
      await client.query(`select internal.enqueue('meters__sync_all', '{"frequency":"hourly"}', 'dev-first-sync')`);
    }
    if (!rowCount) {
      const paid = await seedDemoPayments(client);
      log.info(
        { esco: paid.esco, month: paid.month, invoices: paid.invoices, statement: paid.statement.fileName },
        'demo invoices issued; a bank statement paying them imported',
      );
    }
  })();
  work
    .catch((error: unknown) => log.error({ err: error }, 'demo data, simulated meters or demo payments failed'))
    .finally(() => {
      stop();
      void client.end();
    });
}

interface Banner {
  restUrl: string;
  realtimeUrl: string;
  restKind: 'postgrest' | 'gateway';
  /** The embedded server's data folder; undefined for DATABASE_URL. */
  pgdata: string | undefined;
  token: string;
  seconds: number;
}

function printBanner(b: Banner): void {
  const kind = b.restKind === 'postgrest' ? 'PostgREST' : 'built-in PostgREST-compatible gateway';
  const lines = [
    '',
    `Flows is running (ready in ${b.seconds.toFixed(1)} s). Ctrl-C stops everything.`,
    '',
    `  REST API   ${b.restUrl}   (${kind})`,
    `  Live       ${b.realtimeUrl}/ws   (WebSocket; SSE at /subscribe/<schema>/<table>, docs/realtime.md)`,
    `  Database   ${b.pgdata === undefined ? 'DATABASE_URL' : `embedded PostgreSQL 15 (data in ${b.pgdata})`}`,
    '  psql       npx flows db psql',
    '  Tokens     npx flows token --role operator --sub <operator auth subject>',
    '',
    '  Try it (the demo operator flows-admin, valid 12 h):',
    `  curl -H 'Authorization: Bearer ${b.token}' '${b.restUrl}/accounts?select=account_number,billing_mode&limit=5'`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
