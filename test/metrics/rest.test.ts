// The REST gateway's operations side: /metrics, /ready and /live on the admin port, request ids.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../src/rest/gateway.ts';
import { restConfig } from '../rest/support/config.ts';
import { fixtureSql } from '../rest/support/fixture.ts';
import { useGateway } from '../rest/support/gateway.ts';
import { eventually } from '../support/eventually.ts';
import { logSink } from './log-sink.ts';

const gw = useGateway({
  fixture: (roles) => `${fixtureSql(roles)}
create function test.boom() returns int language plpgsql as $$ begin raise exception 'boom' using errcode = 'XX000'; end $$;`,
  variables: () => ({ PGRST_DB_SCHEMAS: 'test', PGRST_ADMIN_SERVER_PORT: '0', PGRST_DB_POOL: '3' }),
});

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
const metrics = async () => (await fetch(`${gw.gateway.adminUrl}/metrics`)).text();

describe('REST metrics', () => {
  it('counts requests by route class and status class, times them and counts 5xx as errors', async () => {
    const before = await metrics();
    const token = await gw.token();
    const auth = { Authorization: `Bearer ${token}` };
    expect((await gw.fetch('/clients?id=eq.1', { headers: auth })).status).toBe(200);
    expect((await gw.fetch('/nope')).status).toBe(404);
    expect((await gw.fetch('/', { headers: auth })).status).toBe(200);
    expect((await gw.fetch('/rpc/settings', { headers: auth })).status).toBe(200);
    expect((await gw.fetch('/clients', { method: 'OPTIONS' })).status).toBe(200);
    expect((await gw.fetch('/rpc/boom', { method: 'POST', headers: auth })).status).toBe(500);
    const after = await metrics();
    const delta = (series: string) => sample(after, series) - sample(before, series);
    expect(delta('flows_rest_requests_total{route="read",status="2xx"}')).toBe(1);
    expect(delta('flows_rest_requests_total{route="read",status="4xx"}')).toBe(1);
    expect(delta('flows_rest_requests_total{route="openapi",status="2xx"}')).toBe(1);
    expect(delta('flows_rest_requests_total{route="rpc",status="2xx"}')).toBe(1);
    expect(delta('flows_rest_requests_total{route="options",status="2xx"}')).toBe(1);
    expect(delta('flows_rest_request_duration_seconds_count{route="read"}')).toBe(2);
    expect(sample(after, 'flows_rest_request_duration_seconds_bucket{route="read",le="+Inf"}')).toBe(
      sample(after, 'flows_rest_request_duration_seconds_count{route="read"}'),
    );
    expect(delta('flows_rest_requests_total{route="rpc",status="5xx"}')).toBe(1);
    expect(delta('flows_rest_errors_total{route="rpc"}')).toBe(1);
    expect(delta('flows_rest_errors_total{route="read"}')).toBe(0);
  });

  it('reports the pool under PostgREST’s metric names', async () => {
    const text = await metrics();
    expect(sample(text, 'pgrst_db_pool_max')).toBe(3);
    const available = sample(text, 'pgrst_db_pool_available');
    expect(available).toBeGreaterThanOrEqual(0);
    expect(available).toBeLessThanOrEqual(3);
    expect(text).toContain('pgrst_db_pool_waiting 0');
    expect(text).toMatch(/^flows_rest_db_pool_connections\{state="idle"\} \d+$/m);
  });

  it('reports schema cache loads and the last load’s query time under PostgREST’s names', async () => {
    const loads = (text: string, status: string) => sample(text, `pgrst_schema_cache_loads_total{status="${status}"}`);
    const before = await metrics();
    expect(loads(before, 'SUCCESS')).toBeGreaterThanOrEqual(1);
    expect(sample(before, 'pgrst_schema_cache_query_time_seconds')).toBeGreaterThan(0);
    await gw.admin.query(`notify pgrst, 'reload schema'`);
    await eventually(async () => loads(await metrics(), 'SUCCESS') === loads(before, 'SUCCESS') + 1);

    // a load that fails (a configured schema dropped) counts as FAIL; the cache loaded before stays in use
    await gw.admin.query(`create schema metrics_gone`);
    const config = { PGRST_DB_ANON_ROLE: gw.db.roles.anon, PGRST_ADMIN_SERVER_PORT: '0' };
    const gateway = await startGateway(
      restConfig(gw.db.authenticatorUrl, { ...config, PGRST_DB_SCHEMAS: 'test,metrics_gone' }),
      pino({ level: 'silent' }),
    );
    try {
      const scrape = async () => (await fetch(`${gateway.adminUrl}/metrics`)).text();
      expect(loads(await scrape(), 'FAIL')).toBe(0);
      await gw.admin.query(`drop schema metrics_gone; notify pgrst, 'reload schema'`);
      await eventually(async () => loads(await scrape(), 'FAIL') === 1);
      expect((await fetch(`${gateway.url}/clients?id=eq.0`)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('counts pool acquisition timeouts (504 PGRST003) as PostgREST does', async () => {
    const config = { PGRST_DB_ANON_ROLE: gw.db.roles.anon, PGRST_DB_SCHEMAS: 'test', PGRST_ADMIN_SERVER_PORT: '0' };
    const gateway = await startGateway(
      restConfig(gw.db.authenticatorUrl, { ...config, PGRST_DB_POOL: '1', PGRST_DB_POOL_ACQUISITION_TIMEOUT: '1' }),
      pino({ level: 'silent' }),
    );
    try {
      const scrape = async () => (await fetch(`${gateway.adminUrl}/metrics`)).text();
      expect(await scrape()).toMatch(/^pgrst_db_pool_timeouts_total 0$/m);
      const slow = fetch(`${gateway.url}/rpc/sleep`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ seconds: 1.5 }),
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await fetch(`${gateway.url}/clients`)).status).toBe(504);
      expect((await slow).status).toBe(204);
      expect(sample(await scrape(), 'pgrst_db_pool_timeouts_total')).toBe(1);
    } finally {
      await gateway.close();
    }
  });

  it('is ready when the schema cache is loaded and the database answers', async () => {
    const res = await fetch(`${gw.gateway.adminUrl}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true, checks: { schemaCache: 'ok', database: 'ok' } });
    expect((await fetch(`${gw.gateway.adminUrl}/live`)).status).toBe(200);
  });

  it('is live but not ready while the database is unreachable', async () => {
    const gateway = await startGateway(
      restConfig('postgresql://nobody@127.0.0.1:1/none', { PGRST_DB_ANON_ROLE: 'anon', PGRST_ADMIN_SERVER_PORT: '0' }),
      pino({ level: 'silent' }),
    );
    try {
      expect((await fetch(`${gateway.adminUrl}/live`)).status).toBe(200);
      const res = await fetch(`${gateway.adminUrl}/ready`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { ready: boolean; checks: Record<string, string> };
      expect(body.ready).toBe(false);
      expect(body.checks.database).not.toBe('ok');
    } finally {
      await gateway.close();
    }
  });
});

describe('request ids', () => {
  const sink = logSink();
  let gateway: Gateway;
  beforeAll(async () => {
    const config = { PGRST_DB_ANON_ROLE: gw.db.roles.anon, PGRST_JWT_SECRET: gw.secret, PGRST_DB_SCHEMAS: 'test' };
    gateway = await startGateway(restConfig(gw.db.authenticatorUrl, config), pino({ level: 'info' }, sink.stream));
  });
  afterAll(async () => {
    await gateway?.close();
  });
  const settings = async (headers: Record<string, string>) => {
    const res = await fetch(`${gateway.url}/rpc/settings`, {
      headers: { Authorization: `Bearer ${await gw.token()}`, ...headers },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { headers: Record<string, string> };
    return { id: res.headers.get('x-request-id'), seen: body.headers['x-request-id'] };
  };
  const loggedIds = () => sink.lines.filter((l) => l.msg === 'request').map((l) => l.requestId);

  it('keeps an incoming X-Request-Id: answered, logged and visible to SQL', async () => {
    const { id, seen } = await settings({ 'X-Request-Id': 'req-42.a:b_c' });
    expect(id).toBe('req-42.a:b_c');
    expect(seen).toBe('req-42.a:b_c');
    expect(loggedIds()).toContain('req-42.a:b_c');
  });

  it('generates one when there is none or it is not a plain token', async () => {
    const fresh = await settings({});
    expect(fresh.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh.seen).toBe(fresh.id);
    const hostile = await settings({ 'X-Request-Id': 'x"\\u0000 <script>'.repeat(2) });
    expect(hostile.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(hostile.seen).toBe(hostile.id);
    expect(loggedIds()).toEqual(expect.arrayContaining([fresh.id, hostile.id]));
  });
});
