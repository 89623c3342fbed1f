// The per-request transaction (contract §2): settings, access mode, isolation, pre-request,
// response GUCs, tx end and Prefer: tx.
import { describe, expect, it } from 'vitest';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({
  fixture: fixtureSql,
  variables: () => ({
    PGRST_DB_SCHEMAS: 'test',
    PGRST_DB_EXTRA_SEARCH_PATH: 'public',
    PGRST_DB_PRE_REQUEST: 'test.pre_request',
    PGRST_DB_TX_END: 'commit-allow-override',
    PGRST_APP_SETTINGS_GREETING: 'hello',
  }),
});

interface Settings {
  role: string;
  search_path: string;
  claims: Record<string, unknown>;
  method: string;
  path: string;
  headers: Record<string, string>;
  cookies: Record<string, string>;
  timezone: string;
  read_only: string;
  isolation: string;
  app: string;
  statement_timeout: string;
}

describe('settings statement', () => {
  it('sets search_path, role, claims, method, path, headers, cookies and app settings', async () => {
    const token = await gw.token({ role: gw.db.roles.user, sub: 'abc' });
    const res = await gw.fetch('/rpc/settings?', {
      headers: { Authorization: `Bearer ${token}`, 'X-Custom': 'Value', Cookie: 'a=1; session=xyz' },
    });
    expect(res.status).toBe(200);
    const s = (await res.json()) as Settings;
    expect(s.role).toBe(gw.db.roles.user);
    expect(s.search_path).toBe('"test", "public"');
    expect(s.claims).toEqual({ role: gw.db.roles.user, sub: 'abc', exp: expect.any(Number) });
    expect(s.method).toBe('GET');
    expect(s.path).toBe('/rpc/settings');
    expect(s.headers['x-custom']).toBe('Value');
    expect(s.headers.authorization).toBe(`Bearer ${token}`);
    expect(s.headers.cookie).toBeUndefined();
    expect(s.cookies).toEqual({ a: '1', session: 'xyz' });
    expect(s.app).toBe('hello');
    expect(s.read_only).toBe('on');
    expect(s.isolation).toBe('read committed');
    // The role's own ALTER ROLE … SET settings apply.
    expect(s.statement_timeout).toBe('5s');
  });

  it('sets the time zone from Prefer and echoes it', async () => {
    const res = await gw.fetch('/rpc/settings', { headers: { Prefer: 'timezone=America/New_York' } });
    expect(((await res.json()) as Settings).timezone).toBe('America/New_York');
    expect(res.headers.get('preference-applied')).toBe('timezone=America/New_York');
    const invalid = await gw.fetch('/rpc/settings', { headers: { Prefer: 'timezone=Mars/Olympus' } });
    expect(invalid.headers.get('preference-applied')).toBeNull();
  });

  it('runs POST to non-volatile functions READ ONLY and volatile ones READ WRITE', async () => {
    const stable = await gw.fetch('/rpc/settings', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(((await stable.json()) as Settings).read_only).toBe('on');
    const serializable = await gw.fetch('/rpc/serializable', { method: 'POST' });
    expect(await serializable.json()).toBe('serializable');
  });

  it('answers a write in a READ ONLY transaction with 405 (25006)', async () => {
    const res = await gw.fetch('/rpc/write_volatile');
    expect(res.status).toBe(405);
    expect(await res.json()).toMatchObject({ code: '25006' });
  });
});

describe('pre-request and response GUCs', () => {
  it('runs the pre-request function, which may set headers or abort', async () => {
    const ok = await gw.fetch('/clients?id=eq.1');
    expect(ok.headers.get('x-pre-request')).toBe('ran');
    const blocked = await gw.fetch('/clients', { headers: { 'X-Block': '1' } });
    expect(blocked.status).toBe(403);
    expect(await blocked.json()).toEqual({
      code: 'PT403',
      details: null,
      hint: null,
      message: 'Blocked by pre-request',
    });
  });

  it('applies response.headers (repeatable) and response.status', async () => {
    const res = await gw.fetch('/rpc/custom_response', { method: 'POST' });
    expect(res.status).toBe(202);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('answers malformed response.headers with 500 PGRST111', async () => {
    const res = await gw.fetch('/rpc/bad_headers');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST111');
  });
});

describe('transaction end', () => {
  it('rolls back on Prefer: tx=rollback when overridable, and echoes it', async () => {
    const res = await gw.fetch('/clients', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Prefer: 'tx=rollback, return=representation',
        Authorization: `Bearer ${await gw.token()}`,
      },
      body: JSON.stringify({ id: 50, name: 'Ephemeral' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('preference-applied')).toBe('return=representation, tx=rollback');
    expect(await res.json()).toEqual([{ id: 50, name: 'Ephemeral' }]);
    const { rows } = await gw.admin.query('select 1 from test.clients where id = 50');
    expect(rows).toHaveLength(0);
  });

  it('surfaces deferred constraint violations at commit, and before a rollback', async () => {
    const insert = (prefer: string) =>
      gw.token().then((token) =>
        gw.fetch('/deferred', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, Prefer: prefer },
          body: JSON.stringify({ id: 1, client_id: 999 }),
        }),
      );
    for (const prefer of ['tx=commit', 'tx=rollback']) {
      const res = await insert(prefer);
      expect(res.status, prefer).toBe(409);
      expect(((await res.json()) as { code: string }).code).toBe('23503');
    }
    expect((await gw.admin.query('select 1 from test.deferred')).rows).toHaveLength(0);
  });

  it('commits by default', async () => {
    const res = await gw.fetch('/pairs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await gw.token()}` },
      body: JSON.stringify({ a: 7, b: 7 }),
    });
    expect(res.status).toBe(201);
    const { rows } = await gw.admin.query('select 1 from test.pairs where a = 7');
    expect(rows).toHaveLength(1);
  });
});
