// Operations: pool acquisition timeout (504 PGRST003), database unreachable (503 PGRST002 with
// Retry-After), the admin server, a missing schema at start-up.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway } from '../../src/rest/gateway.ts';
import { MissingSchemaError } from '../../src/rest/schema-listener.ts';
import { restConfig } from './support/config.ts';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({
  fixture: fixtureSql,
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
