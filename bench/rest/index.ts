// REST gateway throughput and latency against the floor: the same SQL sent with `pg` directly
// from the benchmark's process. Flags: --seconds N (per phase, default 5), --clients N (default 16),
// --db URL (a superuser URL of the server to use, default an embedded PostgreSQL of its own), --only NAME
// (one case: 'filtered read', 'embed', 'insert' or 'rpc'), --profile DIR (the gateways write V8 CPU
// profiles there). The gateway runs as production runs it: `flows rest` in a process of its own,
// configured by PGRST_* variables alone, logging at info (to /dev/null here); this process is the
// load generator (KeepAliveConnection from keep-alive-client.ts; node:http only for the readiness HEAD)
// and runs the floor. Each case is measured three times in one run, interleaved: the gateway as
// configured by default (prepared statements), a second gateway with PGRST_DB_PREPARED_STATEMENTS=false,
// and the floor (named statements, as the gateway sends them).
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { closablePool } from '../../src/rest/pool.ts';
import { childrenCpu, parentOf, processCpu } from './cpu.ts';
import { encodeRequest, KeepAliveConnection } from './keep-alive-client.ts';
import { createFixtureDatabase } from '../../test/rest/support/database.ts';
import { freePort } from '../../src/db/embedded.ts';
import { openScratchServer } from '../../src/db/provision.ts';
import { fixtureSql } from '../../test/rest/support/fixture.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '16' },
    db: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
  },
});
const seconds = Number(flags.seconds);
const clients = Number(flags.clients);

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  /** CPU µs per request: this process, the gateway's process (if any), the database server. */
  cpu: { bench: number; gateway: number; postgres: number };
}

/** What is measured: an op run by each client loop, served by the gateway process `pid` if any. */
interface Phase {
  op: (client: number) => Promise<void>;
  pid: number | undefined;
}

/** `clients` loops doing `op(client)` for `ms`, latencies (ms) appended to `into`. */
async function run(op: (client: number) => Promise<void>, ms: number, into: number[]): Promise<void> {
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < end) {
        const start = performance.now();
        await op(client);
        into.push(performance.now() - start);
      }
    }),
  );
}

/** CPU µs so far of this process, the gateway process `pid` and the database server's backends. */
function cpuNow(pid: number | undefined): Figures['cpu'] {
  const own = process.cpuUsage();
  return {
    bench: own.user + own.system,
    gateway: pid === undefined ? 0 : processCpu(pid),
    postgres: postmaster === undefined ? 0 : childrenCpu(postmaster),
  };
}

/**
 * Each phase for `seconds` in total, in interleaved slices of half a second, so that load from
 * elsewhere on the machine weighs on every phase alike.
 */
async function measure(phases: Phase[]): Promise<Figures[]> {
  const latencies = phases.map((): number[] => []);
  const cpu = phases.map(() => ({ bench: 0, gateway: 0, postgres: 0 }));
  const slices = Math.max(1, Math.round(seconds * 2));
  for (const { op } of phases) await run(op, 500, []); // warm-up
  for (let i = 0; i < slices; i++) {
    for (const [k, { op, pid }] of phases.entries()) {
      const before = cpuNow(pid);
      await run(op, (seconds * 1000) / slices, latencies[k]!);
      const after = cpuNow(pid);
      for (const key of ['bench', 'gateway', 'postgres'] as const) cpu[k]![key] += after[key] - before[key];
    }
  }
  return latencies.map((l, k) => {
    const count = l.length;
    l.sort((a, b) => a - b);
    const at = (q: number) => l[Math.min(l.length - 1, Math.floor(q * l.length))] ?? 0;
    const per = (micros: number) => micros / Math.max(1, count);
    const { bench, gateway, postgres } = cpu[k]!;
    return {
      rps: count / seconds,
      p50: at(0.5),
      p99: at(0.99),
      cpu: { bench: per(bench), gateway: per(gateway), postgres: per(postgres) },
    };
  });
}

const logger = createLogger(loadConfig([], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' }).runtime);
// --db names a server to use; by default an embedded one of the benchmark's own (or DATABASE_URL's server).
const server =
  flags.db === undefined
    ? await openScratchServer(loadConfig(['database']).database, logger)
    : { serverUrl: flags.db, stop: async () => {} };
const db = await createFixtureDatabase(
  (roles) => `${fixtureSql(roles)}
create table test.events (id bigserial primary key, payload text);
grant insert, select on test.events to "${roles.anon}";
grant usage on sequence test.events_id_seq to "${roles.anon}";`,
  server.serverUrl,
);

const flowsBin = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bin/flows.js');

/**
 * `flows rest` in a process of its own, from PGRST_* variables alone (no PATH, so never a
 * postgrest binary); resolves once it answers. `close()` sends SIGTERM and waits for the exit.
 */
async function startGatewayProcess(prepared: boolean): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...(flags.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${flags.profile}`]), flowsBin, 'rest'],
    {
      env: {
        FLOWS_ENV: 'production',
        PGRST_DB_URI: db.authenticatorUrl,
        PGRST_DB_ANON_ROLE: db.roles.anon,
        PGRST_DB_SCHEMAS: 'test',
        PGRST_DB_POOL: String(clients),
        PGRST_DB_PREPARED_STATEMENTS: String(prepared),
        PGRST_SERVER_HOST: '127.0.0.1',
        PGRST_SERVER_PORT: String(port),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Never outlives the benchmark, even when it fails before its clean-up.
  process.once('exit', () => child.kill());
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`flows rest exited with code ${child.exitCode}`);
    const up = await new Promise<boolean>((resolve) => {
      const req = http.request(`${url}/`, { method: 'HEAD' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (up) break;
    if (attempt > 300) throw new Error(`flows rest did not answer on ${url} within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    pid: child.pid!,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
const gateway = await startGatewayProcess(true);
const unprepared = await startGatewayProcess(false);
// As the authenticator and pipelined like the gateway's pool, so that the floor sends the same
// statements the same way.
const { pool: direct, end: endDirect } = closablePool(
  { connectionString: db.authenticatorUrl, max: clients, pipeline: true },
  (error) => {
    throw error;
  },
);

// The database server's postmaster (the parent of a backend), when it runs on this machine.
const postmaster = await direct
  .query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  .then(({ rows }) => parentOf(rows[0]!.pid));

/** A request of a case, encoded once: the client's headers are what the settings carry. */
interface Call {
  method: 'GET' | 'POST';
  target: string;
  body?: string;
}
const clientHeaders = (url: string, call: Call): [string, string][] => [
  ['Host', new URL(url).host],
  ...(call.body === undefined ? [] : [['Content-Type', 'application/json'] as [string, string]]),
];

/** `clients` keep-alive connections to a gateway, one per client loop, sending `call`. */
function httpOp(url: string, call: Call): { op: (client: number) => Promise<void>; close(): void } {
  const { hostname, port } = new URL(url);
  const request = encodeRequest(call.method, call.target, clientHeaders(url, call), call.body);
  const connections = Array.from({ length: clients }, () => new KeepAliveConnection(hostname, Number(port)));
  return {
    async op(client) {
      const answer = await connections[client]!.send(request);
      if (answer.status >= 300) throw new Error(`${call.target}: ${answer.status} ${answer.body.toString()}`);
    },
    close: () => connections.forEach((c) => c.close()),
  };
}

/** Named after the text's hash, as the gateway names its prepared statements. */
const named = (text: string, values: unknown[]) => ({
  name: `floor_${createHash('sha1').update(text).digest('base64url')}`,
  text,
  values,
});

const settingsSql =
  'SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true), set_config($7, $8, true), ' +
  'set_config($9, $10, true), set_config($11, $12, true), set_config($13, $14, true)';

/**
 * The floor: the statements the gateway sends for `call` (BEGIN, the settings SELECT with the same
 * values, the main query, COMMIT), pipelined in one batch and prepared as the gateway sends them;
 * what remains between the two is the gateway's own cost (HTTP, JWT, parsing, planning, logging).
 */
function floorOp(readOnly: boolean, call: Call, main: string, values: unknown[]): () => Promise<void> {
  const path = call.target.split('?')[0]!;
  // The gateway adds a generated X-Request-Id to the headers it passes on (src/log.ts, requestIdFrom).
  const headers = Object.fromEntries([
    ...clientHeaders(gateway.url, call).map(([k, v]): [string, string] => [k.toLowerCase(), v]),
    ...(call.body === undefined ? [] : [['content-length', String(Buffer.byteLength(call.body))]]),
    ['x-request-id', randomUUID()],
  ]);
  const settings = named(settingsSql, [
    'search_path',
    '"test"',
    'role',
    db.roles.anon,
    'request.jwt.claims',
    JSON.stringify({ role: db.roles.anon }),
    'request.method',
    call.method,
    'request.path',
    path,
    'request.headers',
    JSON.stringify(headers),
    'request.cookies',
    '{}',
  ]);
  const mainQuery = named(main, values);
  const begin = `BEGIN ISOLATION LEVEL READ COMMITTED ${readOnly ? 'READ ONLY' : 'READ WRITE'}`;
  return async () => {
    const client = await direct.connect();
    try {
      await Promise.all([client.query(begin), client.query(settings), client.query(mainQuery), client.query('COMMIT')]);
    } finally {
      client.release();
    }
  };
}

/** The gateway's main query around `rows` (total, page count, body, Location, response GUCs in one row). */
const wrap = (rows: string, body: string, source = '') =>
  `${source}SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ${body} AS body, ` +
  `NULL::bytea AS bytes, NULL::text AS location, nullif(current_setting('response.headers', true), '') AS response_headers, ` +
  `nullif(current_setting('response.status', true), '') AS response_status, NULL::bigint AS inserted FROM (${rows}) _postgrest_t`;
const jsonArray = "coalesce(json_agg(_postgrest_t), '[]')::text";

interface Case {
  name: string;
  readOnly: boolean;
  call: Call;
  main: string;
  values: unknown[];
}
const cases: Case[] = [
  {
    name: 'filtered read',
    readOnly: true,
    call: { method: 'GET', target: '/projects?client_id=eq.1&select=id,name' },
    main: wrap(
      'SELECT "test"."projects"."id", "test"."projects"."name" FROM "test"."projects" WHERE "test"."projects"."client_id" = $1',
      jsonArray,
    ),
    values: ['1'],
  },
  {
    name: 'embed',
    readOnly: true,
    call: { method: 'GET', target: '/clients?select=id,name,projects(id,name)&id=eq.1' },
    main: wrap(
      'SELECT "test"."clients"."id", "test"."clients"."name", COALESCE("clients_projects_2"."clients_projects_2", \'[]\') AS "projects" ' +
        'FROM "test"."clients" LEFT JOIN LATERAL (SELECT json_agg("clients_projects_2") AS "clients_projects_2" FROM ' +
        '(SELECT "projects_1"."id", "projects_1"."name" FROM "test"."projects" AS "projects_1" WHERE "projects_1"."client_id" = "test"."clients"."id") ' +
        'AS "clients_projects_2") AS "clients_projects_2" ON TRUE WHERE "test"."clients"."id" = $1',
      jsonArray,
    ),
    values: ['1'],
  },
  {
    name: 'insert',
    readOnly: false,
    call: { method: 'POST', target: '/events', body: JSON.stringify({ payload: 'x' }) },
    main: wrap(
      'SELECT 1 FROM pgrst_source',
      'NULL::text',
      'WITH pgrst_source AS (INSERT INTO "test"."events"("payload") SELECT pgrst_body."payload" FROM json_array_elements($1::json) AS pgrst_raw(j), ' +
        'LATERAL json_to_record(pgrst_raw.j) AS pgrst_body("payload" text) RETURNING "test"."events".*) ',
    ),
    values: [JSON.stringify([{ payload: 'x' }])],
  },
  {
    name: 'rpc',
    readOnly: true,
    call: { method: 'POST', target: '/rpc/add', body: JSON.stringify({ a: 1, b: 2 }) },
    main: wrap(
      'SELECT pgrst_source.pgrst_scalar FROM pgrst_source',
      "coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')",
      'WITH pgrst_source AS (SELECT pgrst_call.pgrst_scalar FROM json_to_record($1::json) AS pgrst_body("a" integer, "b" integer), ' +
        'LATERAL (SELECT "test"."add"("a" := pgrst_body."a", "b" := pgrst_body."b") pgrst_scalar) pgrst_call) ',
    ),
    values: [JSON.stringify({ a: 1, b: 2 })],
  },
];

const fmt = (f: Figures) =>
  `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(7)} ms  ` +
  `cpu/req µs: gateway ${f.cpu.gateway.toFixed(0).padStart(4)} bench ${f.cpu.bench.toFixed(0).padStart(4)} postgres ${f.cpu.postgres.toFixed(0).padStart(4)}`;
process.stdout.write(
  `${clients} concurrent clients, ${seconds} s per phase; goal: reads ≥ 50 % of the floor, p50 ≤ 1.5×\n`,
);
const selected = cases.filter((k) => flags.only === undefined || k.name === flags.only);
const phasesOf = selected.map((c) => {
  const prepared = httpOp(gateway.url, c.call);
  const unpreparedOp = httpOp(unprepared.url, c.call);
  return {
    c,
    phases: [
      { op: prepared.op, pid: gateway.pid },
      { op: unpreparedOp.op, pid: unprepared.pid },
      { op: floorOp(c.readOnly, c.call, c.main, c.values), pid: undefined },
    ] as Phase[],
    close() {
      prepared.close();
      unpreparedOp.close();
    },
  };
});
/** CPU of a request, all processes together (load generator or floor, gateway, PostgreSQL). */
const cpuTotal = (f: Figures) => f.cpu.bench + f.cpu.gateway + f.cpu.postgres;
try {
  // Every request once (a failing one stops the run), then every phase of every case for a second,
  // so that no case is measured while the processes are still cold (JIT, connections).
  for (const { c, phases } of phasesOf) {
    await Promise.all(phases.map(({ op }) => op(0))).catch((error: unknown) => {
      throw new Error(`${c.name}: ${String(error)}`);
    });
  }
  for (const { phases } of phasesOf) for (const { op } of phases) await run(op, 1000, []);
  for (const { c, phases } of phasesOf) {
    const [g, u, f] = (await measure(phases)) as [Figures, Figures, Figures];
    process.stdout.write(
      `${c.name.padEnd(14)} gateway ${fmt(g)}\n${''.padEnd(14)} unprep. ${fmt(u)}\n${''.padEnd(14)} floor   ${fmt(f)}\n` +
        `${''.padEnd(14)} ratio   throughput ${((g.rps / f.rps) * 100).toFixed(0)} %  p50 ${(g.p50 / f.p50).toFixed(2)}×  ` +
        `cpu/req (all processes) floor/gateway ${((cpuTotal(f) / cpuTotal(g)) * 100).toFixed(0)} %\n`,
    );
  }
} finally {
  phasesOf.forEach((p) => p.close());
  await gateway.close();
  await unprepared.close();
  await endDirect();
  await db.drop();
  await server.stop();
}
