// `npm run test:resilience [-- --seconds 60 --clients 200 --meters 500]`: the load-and-fault scenario.
// On loopback, bounded in time: N API clients mix reads and writes through the REST layer (`flows rest`,
// its own process) while the worker (`flows worker`, its own process) syncs the simulated fleet (one meter
// in ten faulty), bills last month for the demo ESCOs and sends the notifications. During the load the
// worker is killed with SIGKILL and restarted, and the database is restarted once. Then the load stops,
// the system settles, and the checks of checks.ts run. Prints its figures; exits 1 if a check fails.
// Always runs on its own embedded PostgreSQL (it restarts it), never on DATABASE_URL's server.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { mintToken } from '../../src/auth/token.ts';
import { loadConfig, processEnv } from '../../src/config.ts';
import { many, maybeOne, one } from '../../src/db/client.ts';
import { freePort, startEmbedded } from '../../src/db/embedded.ts';
import { createMigratedDatabase } from '../../src/db/provision.ts';
import { loginUrl } from '../../src/db/server.ts';
import { flowsRestSettings } from '../../src/stack/rest-settings.ts';
import { createLogger } from '../../src/log.ts';
import { startMailbox, startTwilio, TWILIO_SID } from '../notify/support.ts';
import { runChecks } from './checks.ts';
import { prepareFleet } from './fleet.ts';
import { ensureDemoBankAccount, importDemoStatement } from '../../src/seed/demo-payments.ts';
import { quantile, runLoad } from './load.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '200' },
    meters: { type: 'string', default: '500' },
    'settle-seconds': { type: 'string', default: '240' },
    /** LOG_LEVEL of the REST layer and the worker (their logs are kept in a temporary folder). */
    'log-level': { type: 'string', default: 'warn' },
  },
});
const seconds = Number(flags.seconds);
const clients = Number(flags.clients);
const meterCount = Number(flags.meters);
const settleMs = Number(flags['settle-seconds']) * 1000;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HALF_HOUR_MS = 1_800_000;
const BACKFILL_DAYS = 2;

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const say = (line: string) => process.stdout.write(`[${elapsed()}] ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const config = loadConfig(['database', 'roles'], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' });
const log = createLogger(config.runtime, 'command');
const logDir = await fs.mkdtemp(path.join(os.tmpdir(), 'flows-resilience-'));
const server = await startEmbedded({
  dataDir: path.join(logDir, 'data'),
  cacheDir: config.database.cacheDir,
  port: await freePort(),
  log,
  ephemeral: true,
});
const children = new Set<ChildProcess>();
let stopping = false;
let exitCode = 1;
try {
  const url = await createMigratedDatabase(server.serverUrl, 'flows_resilience', { roles: config.roles, log });
  const now = new Date();
  const fleet = await prepareFleet(url, meterCount, now);
  say(
    `seeded the demo data and ${fleet.total} simulated meters (${fleet.unreachable.size} unreachable, ${fleet.flaky.size} flaky)`,
  );
  const admin = new pg.Pool({ connectionString: url, max: 3 });
  admin.on('error', () => {});

  const mailbox = await startMailbox();
  const twilio = await startTwilio();
  const jwtSecret = randomBytes(32).toString('base64url');
  const restPort = await freePort();
  const restUrl = `http://127.0.0.1:${restPort}`;
  // Only what the children need: nothing of the caller's DATABASE_URL, PGRST_* or SMTP settings leaks in.
  const { PATH = '', HOME = '' } = processEnv();
  const baseEnv = { PATH, HOME, FLOWS_ENV: 'development', LOG_LEVEL: flags['log-level'] };
  const restEnv = {
    ...baseEnv,
    ...flowsRestSettings,
    PGRST_DB_URI: loginUrl(url, config.roles, 'authenticator'),
    PGRST_JWT_SECRET: jwtSecret,
    PGRST_SERVER_HOST: '127.0.0.1',
    PGRST_SERVER_PORT: String(restPort),
    PGRST_DB_POOL: '20',
  };
  const workerEnv = {
    ...baseEnv,
    WORKER_DATABASE_URL: loginUrl(url, config.roles, 'worker'),
    WORKER_CONCURRENCY: '20',
    WORKER_POLL_INTERVAL_MS: '250',
    WORKER_RECOVERY_INTERVAL_MS: '1000',
    WORKER_RECOVERY_GRACE_MS: '4000',
    FLOWS_EMOP_MIN_GAP_MS: '0',
    FLOWS_EMOP_CONNECT_TIMEOUT_MS: '1000',
    FLOWS_EMOP_READ_TIMEOUT_MS: '1000',
    FLOWS_EMOP_ATTEMPTS: '5',
    FLOWS_EMOP_BACKOFF_MS: '20',
    FLOWS_EMOP_MAX_BACKOFF_MS: '200',
    FLOWS_BACKFILL_DAYS: String(BACKFILL_DAYS),
    SMTP_URL: `smtp://127.0.0.1:${mailbox.port}`,
    TWILIO_ACCOUNT_SID: TWILIO_SID,
    TWILIO_AUTH_TOKEN: 'resilience',
    TWILIO_FROM: '+447700900000',
    TWILIO_API_BASE_URL: twilio.url,
    NOTIFY_BACKOFF_MS: '200',
    NOTIFY_MAX_BACKOFF_MS: '2000',
    NOTIFY_SEND_TIMEOUT_MS: '15000',
    NOTIFY_EMAIL_MIN_INTERVAL_MS: '0',
    NOTIFY_SMS_MIN_INTERVAL_MS: '0',
  };
  const spawnFlows = (command: string, env: Record<string, string>) => {
    const out = createWriteStream(path.join(logDir, `${command}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [path.join(repo, 'bin/flows.js'), command], { env, cwd: repo });
    // one log for both streams: neither may end it (the other may still write); it ends when both have closed
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('close', () => out.end());
    children.add(child);
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (!stopping) say(`flows ${command} exited (${signal ?? `code ${code}`})`);
    });
    return child;
  };

  const rest = spawnFlows('rest', restEnv);
  // The worker runs under a supervisor, as docker-compose's `restart: unless-stopped` does: whenever it
  // exits (killed, or crashed when the database went away), a new one starts a second later.
  let workerStarts = 0;
  let worker: ChildProcess;
  const superviseWorker = () => {
    workerStarts++;
    worker = spawnFlows('worker', workerEnv);
    worker.on('exit', () => {
      if (!stopping) setTimeout(superviseWorker, 1000);
    });
  };
  superviseWorker();
  for (let ready = false; !ready; await sleep(100)) {
    if (rest.exitCode !== null) throw new Error(`flows rest exited; see ${logDir}/rest.log`);
    ready = await fetch(`${restUrl}/`).then(
      (r) => r.ok,
      () => false,
    );
  }
  say(`REST layer on ${restUrl}, worker started (logs in ${logDir})`);

  const escos = await many<{ code: string; id: string }>(admin, `select code, id from flows.escos`);
  await admin.connect().then(async (client) => {
    await ensureDemoBankAccount(client, 'WLCE').finally(() => client.release());
  });
  const esco = (code: string) => escos.find((e) => e.code === code)!.id;
  const tokens = {
    operator: await mintToken(jwtSecret, { role: 'operator', sub: 'wlce-operator', ttl: '1h' }),
    customer: await mintToken(jwtSecret, { role: 'customer', sub: 'wlce-customer-01', ttl: '1h' }),
    admin: await mintToken(jwtSecret, { role: 'operator', sub: 'flows-admin', ttl: '1h' }),
    esco: esco('WLCE'),
  };

  // Jobs retried: any job seen on a second or later attempt.
  const retried = new Set<string>();
  const watchJobs = setInterval(() => {
    admin.query<{ id: string }>(`select id::text from graphile_worker.jobs where attempts > 1`).then(
      ({ rows }) => rows.forEach((r) => retried.add(r.id)),
      () => {},
    );
  }, 500);

  /** POSTs an RPC as the admin operator until it gets an answer that is not a 5xx. */
  const rpc = async (name: string, body: unknown) => {
    for (;;) {
      const response = await fetch(`${restUrl}/rpc/${name}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).catch(() => undefined);
      if (response && response.status < 500) return { status: response.status, body: await response.text() };
      await sleep(250);
    }
  };

  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 10);
  /** Bills last month for an ESCO: start the run (once), wait for the drafts, issue them. */
  const bill = async (code: string) => {
    const existing = async () =>
      maybeOne<{ id: string; status: string }>(
        admin,
        `select id, status from public.billing_runs where esco = $1 and period_start = $2`,
        [esco(code), month],
      ).catch(() => undefined);
    if (!(await existing())) {
      const started = await rpc('billing_run_start', { esco_code: code, month });
      if (started.status >= 300 && !(await existing())) throw new Error(`billing_run_start: ${started.body}`);
    }
    for (;;) {
      const run = await existing();
      if (run?.status === 'issued') return;
      if (run?.status === 'failed') throw new Error(`billing run ${run.id} failed`);
      if (run?.status === 'drafted') {
        const issued = await rpc('billing_run_issue', { run_id: run.id });
        if (issued.status >= 300 && (await existing())?.status !== 'issued') {
          throw new Error(`billing_run_issue: ${issued.body}`);
        }
        return;
      }
      await sleep(250);
    }
  };

  const windowEnd = Math.floor(now.getTime() / HALF_HOUR_MS) * HALF_HOUR_MS;
  /** Every meter synced at both frequencies: hourly (state, reads) and daily (profile log backfill). */
  const syncFleet = (key: string) =>
    admin.query(
      `select internal.enqueue('meters__sync_all', json_build_object('frequency', f), $1 || '-' || f)
         from unnest(array['hourly', 'daily']) f`,
      [key],
    );
  await syncFleet('resilience-sync');
  const stopLoad = new AbortController();
  const loadStarted = performance.now();
  const loadDone = runLoad(restUrl, tokens, clients, stopLoad.signal);
  say(`${clients} API clients started; the fleet's hourly and daily syncs enqueued`);

  const billing = (async () => {
    await sleep(seconds * 100);
    say(`billing ${month} for WLCE and HMCE`);
    await Promise.all([bill('WLCE'), bill('HMCE')]);
    say('billing runs issued');
    // WLCE's customers pay: a bank statement imported now is reconciled by the worker while the faults hit.
    const run = await one<{ id: string }>(
      admin,
      `select id from public.billing_runs where esco = $1 and period_start = $2`,
      [esco('WLCE'), month],
    );
    const client = await admin.connect();
    try {
      const paid = await importDemoStatement(client, 'WLCE', run.id, now.toISOString().slice(0, 10));
      say(`bank statement paying ${paid.invoices} WLCE invoices imported`);
    } finally {
      client.release();
    }
  })();

  await sleep(seconds * 300);
  say('SIGKILL to the worker');
  worker!.kill('SIGKILL');

  await sleep(seconds * 250);
  say('restarting the database');
  await server.restart();
  say('database back');

  await sleep(Math.max(0, seconds * 1000 - (performance.now() - loadStarted)));
  stopLoad.abort();
  const load = await loadDone;
  say(`load stopped: ${load.requests} requests`);
  let billingTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    billing,
    new Promise<void>((resolve) => {
      billingTimer = setTimeout(() => {
        say('billing did not finish within the settle time');
        resolve();
      }, settleMs);
    }),
  ]);
  clearTimeout(billingTimer);

  // Settle: one more sync of the fleet, then wait until no job is due and no message is pending.
  await syncFleet('resilience-settle');
  const settleUntil = performance.now() + settleMs;
  let polls = 0;
  for (;;) {
    const pending = await one<{ jobs: number; messages: number }>(
      admin,
      `select (select count(*)::int from graphile_worker.jobs
                where task_identifier <> 'system__heartbeat' and attempts < max_attempts) as jobs,
              (select count(*)::int from public.notifications where status in ('queued', 'sending')) as messages`,
    ).catch(() => ({ jobs: -1, messages: -1 }));
    if (pending.jobs === 0 && pending.messages === 0) break;
    if (++polls % 20 === 0) say(`settling: ${pending.jobs} jobs and ${pending.messages} messages pending`);
    if (performance.now() > settleUntil) {
      say(`settle time over with ${pending.jobs} jobs and ${pending.messages} messages pending`);
      break;
    }
    await sleep(500);
  }
  clearInterval(watchJobs);
  say('settled');

  const statuses = [...load.byStatus].sort(([a], [b]) => a - b);
  const serverErrors = statuses.filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
  const checks = await runChecks(admin, {
    load,
    unreachable: fleet.unreachable,
    // The backfill window of the first sync, less an hour at each end (it slides while the scenario runs).
    window: {
      from: new Date(windowEnd - BACKFILL_DAYS * 86_400_000 + 2 * HALF_HOUR_MS),
      to: new Date(windowEnd - 2 * HALF_HOUR_MS),
    },
    // Each email names its outbox row (X-Flows-Notification) and carries the Message-ID the outbox records.
    emails: mailbox.received.map((m) => ({
      notification: String(m.headers.get('x-flows-notification') ?? ''),
      messageId: m.messageId ?? '',
    })),
    smsCount: twilio.requests.length,
    workerDeaths: workerStarts - 1,
    workerConcurrency: Number(workerEnv.WORKER_CONCURRENCY),
  });
  const lines = [
    '',
    `Load and fault scenario: ${seconds} s, ${clients} API clients, ${fleet.total} meters (${fleet.unreachable.size + fleet.flaky.size} faulty)`,
    `  requests served     ${load.requests} (${(load.requests / seconds).toFixed(0)}/s); by status ${statuses.map(([s, c]) => `${s}: ${c}`).join(', ')}`,
    `  5xx                 ${serverErrors}; no answer at all: ${load.networkErrors}`,
    `  latency             p50 ${quantile(load.latenciesMs, 0.5).toFixed(1)} ms, p99 ${quantile(load.latenciesMs, 0.99).toFixed(1)} ms`,
    `  jobs retried        ${retried.size}; worker processes started: ${workerStarts}`,
    '',
    ...checks.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}\n        ${c.detail}`),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  exitCode = checks.every((c) => c.ok) ? 0 : 1;
  await admin.end();
  await fleet.simulator.close();
  await mailbox.stop();
  await twilio.stop();
} catch (error) {
  process.stderr.write(`resilience scenario failed: ${(error as Error).stack ?? String(error)}\n`);
} finally {
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
  await sleep(500);
  for (const child of children) child.kill('SIGKILL');
  await server.stop();
  say(`logs: ${logDir}`);
}
process.exit(exitCode);
