// REST gateway throughput and latency against the floor: the same SQL sent with `pg` directly
// from the same process. Flags: --seconds N (per phase, default 5), --clients N (default 16),
// --db URL (a superuser URL of the server to use, default an embedded PostgreSQL of its own), --only NAME
// (one case: 'filtered read', 'embed', 'insert' or 'rpc'). Each case is measured three times in
// one run, interleaved: the gateway as configured by default (prepared statements), the gateway
// with PGRST_DB_PREPARED_STATEMENTS=false, and the floor (named statements, as the gateway sends them).
import { createHash } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway } from '../../src/rest/gateway.ts';
import { closablePool } from '../../src/rest/pool.ts';
import { restConfig } from '../../test/rest/support/config.ts';
import { createFixtureDatabase } from '../../test/rest/support/database.ts';
import { openScratchServer } from '../../src/db/provision.ts';
import { fixtureSql } from '../../test/rest/support/fixture.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '16' },
    db: { type: 'string' },
    only: { type: 'string' },
  },
});
const seconds = Number(flags.seconds);
const clients = Number(flags.clients);

interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

/** `clients` loops doing `op` for `ms`, latencies (ms) appended to `into`. */
async function run(op: () => Promise<void>, ms: number, into: number[]): Promise<void> {
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        await op();
        into.push(performance.now() - start);
      }
    }),
  );
}

/**
 * Each op for `seconds` in total, in interleaved slices of half a second, so that load from
 * elsewhere on the machine weighs on every op alike.
 */
async function measure(ops: (() => Promise<void>)[]): Promise<Figures[]> {
  const latencies = ops.map((): number[] => []);
  const slices = Math.max(1, Math.round(seconds * 2));
  for (const op of ops) await run(op, 500, []); // warm-up
  for (let i = 0; i < slices; i++) {
    for (const [k, op] of ops.entries()) await run(op, (seconds * 1000) / slices, latencies[k]!);
  }
  return latencies.map((l) => {
    l.sort((a, b) => a - b);
    const at = (q: number) => l[Math.min(l.length - 1, Math.floor(q * l.length))] ?? 0;
    return { rps: l.length / seconds, p50: at(0.5), p99: at(0.99) };
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
const startBenchGateway = (prepared: boolean) =>
  startGateway(
    restConfig(db.authenticatorUrl, {
      PGRST_DB_ANON_ROLE: db.roles.anon,
      PGRST_DB_SCHEMAS: 'test',
      PGRST_DB_POOL: String(clients),
      PGRST_DB_PREPARED_STATEMENTS: String(prepared),
    }),
    logger,
  );
const gateway = await startBenchGateway(true);
const unprepared = await startBenchGateway(false);
// Pipelined like the gateway's pool, so that the floor sends the same statements the same way.
const { pool: direct, end: endDirect } = closablePool(
  { connectionString: db.url, max: clients, pipeline: true },
  (error) => {
    throw error;
  },
);

// node:http with keep-alive: fetch() costs more client CPU than the gateway itself here.
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
interface Init {
  method: string;
  body: string;
}

function call(path: string, init?: Init, base: string = gateway.url): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { agent, method: init?.method ?? 'GET', headers: init ? { 'Content-Type': 'application/json' } : {} },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode !== undefined && res.statusCode < 300
            ? resolve()
            : reject(new Error(`${path}: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(init?.body);
  });
}
const postJson = (body: unknown): Init => ({ method: 'POST', body: JSON.stringify(body) });

/** Named after the text's hash, as the gateway names its prepared statements. */
const named = (text: string, values: unknown[]) => ({
  name: `floor_${createHash('sha1').update(text).digest('base64url')}`,
  text,
  values,
});

/**
 * The floor: the statements the gateway sends for a request (BEGIN, the settings SELECT, the
 * main query, COMMIT), pipelined in one batch and prepared as the gateway sends them; what
 * remains between the two is the gateway's own cost (HTTP, JWT, parsing, planning).
 */
async function floor(readOnly: boolean, path: string, main: string, values: unknown[]): Promise<void> {
  const client = await direct.connect();
  try {
    const begin = client.query(`BEGIN ISOLATION LEVEL READ COMMITTED ${readOnly ? 'READ ONLY' : 'READ WRITE'}`);
    const settings = client.query(
      named(
        'SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true), set_config($7, $8, true), ' +
          'set_config($9, $10, true), set_config($11, $12, true), set_config($13, $14, true)',
        [
          'search_path',
          '"test"',
          'role',
          db.roles.anon,
          'request.jwt.claims',
          JSON.stringify({ role: db.roles.anon }),
          'request.method',
          readOnly ? 'GET' : 'POST',
          'request.path',
          path,
          'request.headers',
          JSON.stringify({ host: 'localhost', connection: 'keep-alive' }),
          'request.cookies',
          '{}',
        ],
      ),
    );
    const mainQuery = client.query(named(main, values));
    const commit = client.query('COMMIT');
    await Promise.all([begin, settings, mainQuery, commit]);
  } finally {
    client.release();
  }
}

/** The main query's wrapper (total, page count, body, response GUCs in one row). */
const wrap = (rows: string, source = '') =>
  `${source}SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ` +
  `coalesce(json_agg(_postgrest_t), '[]')::text AS body, nullif(current_setting('response.headers', true), '') AS response_headers, ` +
  `nullif(current_setting('response.status', true), '') AS response_status FROM (${rows}) _postgrest_t`;

const cases: { name: string; gateway: (base?: string) => Promise<void>; floor: () => Promise<void> }[] = [
  {
    name: 'filtered read',
    gateway: (base) => call('/projects?client_id=eq.1&select=id,name', undefined, base),
    floor: () =>
      floor(
        true,
        '/projects',
        wrap(
          'SELECT "test"."projects"."id", "test"."projects"."name" FROM "test"."projects" WHERE "test"."projects"."client_id" = $1',
        ),
        ['1'],
      ),
  },
  {
    name: 'embed',
    gateway: (base) => call('/clients?select=id,name,projects(id,name)&id=eq.1', undefined, base),
    floor: () =>
      floor(
        true,
        '/clients',
        wrap(
          'SELECT "test"."clients"."id", "test"."clients"."name", COALESCE("p"."p", \'[]\') AS "projects" FROM "test"."clients" ' +
            'LEFT JOIN LATERAL (SELECT json_agg("p") AS "p" FROM (SELECT "x"."id", "x"."name" FROM "test"."projects" AS "x" ' +
            'WHERE "x"."client_id" = "test"."clients"."id") AS "p") AS "p" ON TRUE WHERE "test"."clients"."id" = $1',
        ),
        ['1'],
      ),
  },
  {
    name: 'insert',
    gateway: (base) => call('/events', postJson({ payload: 'x' }), base),
    floor: () =>
      floor(
        false,
        '/events',
        wrap(
          'SELECT 1 FROM pgrst_source',
          'WITH pgrst_source AS (INSERT INTO "test"."events"("payload") SELECT pgrst_body."payload" FROM json_array_elements($1::json) AS pgrst_raw(j), ' +
            'LATERAL json_to_record(pgrst_raw.j) AS pgrst_body("payload" text) RETURNING "test"."events".*) ',
        ),
        [JSON.stringify([{ payload: 'x' }])],
      ),
  },
  {
    name: 'rpc',
    gateway: (base) => call('/rpc/add', postJson({ a: 1, b: 2 }), base),
    floor: () =>
      floor(
        true,
        '/rpc/add',
        wrap(
          'SELECT pgrst_source.pgrst_scalar FROM pgrst_source',
          'WITH pgrst_source AS (SELECT pgrst_call.pgrst_scalar FROM json_to_record($1::json) AS pgrst_body("a" integer, "b" integer), ' +
            'LATERAL (SELECT "test"."add"("a" := pgrst_body."a", "b" := pgrst_body."b") pgrst_scalar) pgrst_call) ',
        ),
        [JSON.stringify({ a: 1, b: 2 })],
      ),
  },
];

const fmt = (f: Figures) =>
  `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms`;
process.stdout.write(
  `${clients} concurrent clients, ${seconds} s per phase; goal: reads ≥ 50 % of the floor, p50 ≤ 1.5×\n`,
);
try {
  for (const c of cases.filter((k) => flags.only === undefined || k.name === flags.only)) {
    await Promise.all([c.gateway(), c.gateway(unprepared.url), c.floor()]).catch((error: unknown) => {
      throw new Error(`${c.name}: ${String(error)}`);
    });
    const [g, u, f] = (await measure([() => c.gateway(), () => c.gateway(unprepared.url), c.floor])) as [
      Figures,
      Figures,
      Figures,
    ];
    process.stdout.write(
      `${c.name.padEnd(14)} gateway ${fmt(g)}\n${''.padEnd(14)} unprep. ${fmt(u)}\n${''.padEnd(14)} floor   ${fmt(f)}\n` +
        `${''.padEnd(14)} ratio   throughput ${((g.rps / f.rps) * 100).toFixed(0)} %  p50 ${(g.p50 / f.p50).toFixed(2)}×\n`,
    );
  }
} finally {
  agent.destroy();
  await gateway.close();
  await unprepared.close();
  await endDirect();
  await db.drop();
  await server.stop();
}
