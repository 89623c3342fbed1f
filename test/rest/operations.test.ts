// Operations: pool acquisition timeout (504 PGRST003), database unreachable (503 PGRST002 with
// Retry-After), the admin server, a missing schema at start-up, the body size limit (413), graceful
// shutdown and the one log line per request.
import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { defaultMaxBodyBytes, startGateway, type Gateway } from '../../src/rest/gateway.ts';
import { MissingSchemaError } from '../../src/rest/schema-listener.ts';
import { restConfig } from './support/config.ts';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({
  fixture: (roles) => `${fixtureSql(roles)}
create function test.prepared_statements() returns text[] language sql stable
  as 'select coalesce(array_agg(name::text order by name), ''{}'') from pg_prepared_statements';`,
  variables: () => ({
    PGRST_DB_SCHEMAS: 'test',
    PGRST_DB_POOL: '1',
    PGRST_DB_POOL_ACQUISITION_TIMEOUT: '1',
    PGRST_ADMIN_SERVER_PORT: '0',
  }),
});

const logger = () => createLogger(loadConfig([], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' }).runtime);

describe('pool', () => {
  it('answers 504 PGRST003 when no connection frees up in time', async () => {
    const slow = gw.fetch('/rpc/sleep', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ seconds: 2 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const res = await gw.fetch('/clients');
    expect(res.status).toBe(504);
    expect(await res.json()).toEqual({
      code: 'PGRST003',
      details: null,
      hint: null,
      message: 'Timed out acquiring connection from connection pool.',
    });
    expect((await slow).status).toBe(204);
  });
});

describe('prepared statements', () => {
  const statements = async (url: string) => {
    const res = await fetch(`${url}/rpc/prepared_statements`);
    expect(res.status).toBe(200);
    return (await res.json()) as string[];
  };

  it('names the settings and main statements after their text (PGRST_DB_PREPARED_STATEMENTS=true)', async () => {
    const names = await statements(gw.url);
    expect(names.length).toBeGreaterThanOrEqual(2);
    expect(names.every((n) => /^pgrst_[\w-]{27}$/.test(n))).toBe(true);
    expect(await statements(gw.url)).toEqual(names);
  });

  it('sends unnamed statements when they are off', async () => {
    const gateway = await startGateway(
      restConfig(gw.db.authenticatorUrl, {
        PGRST_DB_ANON_ROLE: gw.db.roles.anon,
        PGRST_DB_SCHEMAS: 'test',
        PGRST_DB_PREPARED_STATEMENTS: 'false',
      }),
      logger(),
    );
    try {
      expect(await statements(gateway.url)).toEqual([]);
    } finally {
      await gateway.close();
    }
  });
});

describe('admin server', () => {
  it('answers /live and /ready', async () => {
    expect(gw.gateway.adminUrl).toBeDefined();
    expect((await fetch(`${gw.gateway.adminUrl}/live`)).status).toBe(200);
    expect((await fetch(`${gw.gateway.adminUrl}/ready`)).status).toBe(200);
  });
});

describe('database trouble', () => {
  it('recovers when its connections are killed', async () => {
    expect((await gw.fetch('/clients?id=eq.1')).status).toBe(200);
    await gw.admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [
      gw.db.roles.authenticator,
    ]);
    const during = await gw.fetch('/clients?id=eq.1');
    expect([200, 503]).toContain(during.status);
    if (during.status === 503) expect(during.headers.get('retry-after')).toBe('0');
    expect((await gw.fetch('/clients?id=eq.1')).status).toBe(200);
  });

  it('serves 503 PGRST002 with Retry-After while the database is unreachable', async () => {
    const gateway = await startGateway(
      restConfig('postgresql://nobody@127.0.0.1:1/none', { PGRST_DB_ANON_ROLE: 'anon' }),
      logger(),
    );
    try {
      const res = await fetch(`${gateway.url}/clients`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('0');
      expect(((await res.json()) as { code: string }).code).toBe('PGRST002');
    } finally {
      await gateway.close();
    }
  });

  it('refuses to start when a configured schema does not exist', async () => {
    const config = restConfig(gw.db.authenticatorUrl, { PGRST_DB_SCHEMAS: 'test,missing_schema' });
    await expect(startGateway(config, logger())).rejects.toBeInstanceOf(MissingSchemaError);
  });
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on its own connection (no keep-alive pool), the body sent in `chunks` (chunked without Content-Length). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; chunks?: string[] } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end();
  });
}

/** A gateway on the fixture database whose log lines are kept, with a 1 KiB body limit. */
describe('observed gateway', () => {
  const lines: Record<string, unknown>[] = [];
  let gateway: Gateway;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    gateway = await startGateway(
      restConfig(gw.db.authenticatorUrl, {
        PGRST_DB_ANON_ROLE: gw.db.roles.anon,
        PGRST_JWT_SECRET: gw.secret,
        PGRST_DB_SCHEMAS: 'test',
      }),
      pino({ level: 'info' }, sink),
      { maxBodyBytes: 1024 },
    );
  });
  afterAll(async () => {
    await gateway?.close();
  });
  const requestLines = () => lines.filter((l) => l.msg === 'request');

  it('logs one line per request with method, path, status, duration and role, never the token or query', async () => {
    const token = await gw.token();
    const before = requestLines().length;
    const ok = await fetch(`${gateway.url}/clients?name=eq.Secret%20Name`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(200);
    const missing = await fetch(`${gateway.url}/nope`);
    expect(missing.status).toBe(404);
    const logged = requestLines().slice(before);
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({
      level: 30,
      method: 'GET',
      path: '/clients',
      status: 200,
      role: gw.db.roles.user,
    });
    expect(typeof logged[0]!.durationMs).toBe('number');
    expect(logged[1]).toMatchObject({ level: 40, method: 'GET', path: '/nope', status: 404, role: gw.db.roles.anon });
    const text = JSON.stringify(logged);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[2]!);
    expect(text).not.toContain('Secret');
  });

  it('answers 413 with a PostgREST error body when Content-Length exceeds the limit', async () => {
    const token = await gw.token();
    const res = await rawRequest(`${gateway.url}/items`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      chunks: [JSON.stringify({ name: 'x'.repeat(2000) })],
    });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(res.body)).toEqual({
      code: 'PGRST102',
      details: 'The request body exceeds the limit of 1024 bytes',
      hint: null,
      message: 'Request body too large',
    });
    expect((await gw.admin.query('select 1 from test.items where length(name) = 2000')).rowCount).toBe(0);
  });

  it('answers 413 when a chunked body grows past the limit', async () => {
    const token = await gw.token();
    const res = await rawRequest(`${gateway.url}/items`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      chunks: ['{"name":"', 'y'.repeat(600), 'y'.repeat(600), '"}'],
    });
    expect(res.headers['content-length']).toBeDefined();
    expect(res.status).toBe(413);
    expect((JSON.parse(res.body) as { code: string }).code).toBe('PGRST102');
  });

  it('accepts bodies up to the limit', async () => {
    const token = await gw.token();
    const body = JSON.stringify({ name: 'z'.repeat(1024 - 11) });
    expect(Buffer.byteLength(body)).toBe(1024);
    const res = await fetch(`${gateway.url}/items`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body,
    });
    expect(res.status).toBe(201);
    expect(defaultMaxBodyBytes).toBe(10 * 1024 * 1024);
  });
});

describe('graceful shutdown', () => {
  it('finishes the requests in flight, refuses new connections, then closes', async () => {
    const gateway = await startGateway(
      restConfig(gw.db.authenticatorUrl, { PGRST_DB_ANON_ROLE: gw.db.roles.anon, PGRST_DB_SCHEMAS: 'test' }),
      logger(),
    );
    const slow = rawRequest(`${gateway.url}/rpc/sleep`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Connection: 'keep-alive' },
      chunks: [JSON.stringify({ seconds: 0.6 })],
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    let closed = false;
    const closing = gateway.close().then(() => {
      closed = true;
    });
    await expect(rawRequest(`${gateway.url}/clients`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(closed).toBe(false);
    const res = await slow;
    expect(res.status).toBe(204);
    expect(res.headers.connection).toBe('close');
    await closing;
    expect(closed).toBe(true);
  });
});
