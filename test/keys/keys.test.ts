// Service keys through the REST layer (the built-in gateway with `flows dev`'s settings, so the pre-request
// function runs as under PostgREST): unknown and revoked keys get PostgREST's 401, scopes are enforced,
// other roles are untouched, the worker's listener records last use; `flows keys create|list|revoke`.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { one } from '../../src/db/client.ts';
import { createKey, listKeys, revokeKey } from '../../src/keys/registry.ts';
import { startKeyUsageRecorder } from '../../src/keys/usage.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway, type Gateway } from '../../src/rest/gateway.ts';
import { closablePool, type ClosablePool } from '../../src/rest/pool.ts';
import { flowsRestSettings } from '../../src/stack/rest-settings.ts';
import { runFlows } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { testEnv } from '../support/env.ts';
import { registerServiceKey } from '../support/keys.ts';
import { restConfig } from '../rest/support/config.ts';

const log = createLogger(loadConfig([], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' }).runtime);
const secret = randomBytes(24).toString('hex');
let db: TestDatabase;
let admin: ClosablePool;
let gateway: Gateway;
let esco: string;
const code = 'KEYS';

beforeAll(async () => {
  db = await createTestDatabase();
  admin = closablePool({ connectionString: db.url, max: 2 }, (error) => {
    throw error;
  });
  esco = (
    await one<{ id: string }>(
      admin.pool,
      `insert into flows.escos (code, name, region) values ($1, 'Keys Test ESCO', 'K') returning id`,
      [code],
    )
  ).id;
  await admin.pool.query(
    `insert into flows.meter_registry (esco, serial, ip_address) values ($1, 'KEYM1', '10.91.0.1')`,
    [esco],
  );
  gateway = await startGateway(
    restConfig(db.loginUrl('authenticator'), {
      ...flowsRestSettings,
      PGRST_JWT_SECRET: secret,
      PGRST_DB_EXTRA_SEARCH_PATH: 'public',
    }),
    log,
  );
});

afterAll(async () => {
  await gateway?.close();
  await admin?.end();
  await db?.drop();
});

const sign = (claims: Record<string, unknown>) =>
  new SignJWT({ exp: Math.floor(Date.now() / 1000) + 600, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));

function get(path: string, token: string): Promise<Response> {
  return fetch(`${gateway.url}${path}`, { headers: { 'Accept-Profile': 'flows', Authorization: `Bearer ${token}` } });
}

async function expectRefused(res: Response, status: number, message: string, challenge: RegExp): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('www-authenticate')).toMatch(challenge);
  expect(await res.json()).toMatchObject({ code: `PT${status}`, message });
}

describe('service keys over REST', () => {
  it('serves a registered key and refuses a token whose jti is unknown or missing, with 401', async () => {
    const key = await registerServiceKey(admin.pool, secret, code, { scopes: ['read'] });
    const ok = await get('/meter_registry?select=serial', key.token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual([{ serial: 'KEYM1' }]);

    const invalid = /^Bearer error="invalid_token", error_description="Unknown service key"$/;
    const unknownJti = await sign({ role: 'service', escos: [esco], jti: randomBytes(16).toString('hex') });
    await expectRefused(await get('/meter_registry', unknownJti), 401, 'Unknown service key', invalid);
    const noJti = await sign({ role: 'service', escos: [esco] });
    await expectRefused(await get('/meter_registry', noJti), 401, 'Unknown service key', invalid);
    const unregistered = await sign({ role: 'service', escos: [esco], jti: crypto.randomUUID() });
    await expectRefused(await get('/meter_registry', unregistered), 401, 'Unknown service key', invalid);
  });

  it('refuses a registered jti whose token claims another ESCO than its key', async () => {
    const key = await registerServiceKey(admin.pool, secret, code);
    const other = (
      await one<{ id: string }>(
        admin.pool,
        `insert into flows.escos (code, name, region) values ('KEYX', 'Other', 'K') returning id`,
      )
    ).id;
    const forged = await sign({ role: 'service', escos: [esco, other], jti: key.id });
    await expectRefused(await get('/meter_registry', forged), 401, 'Unknown service key', /invalid_token/);
  });

  it('refuses a revoked key from the next request on', async () => {
    const key = await registerServiceKey(admin.pool, secret, code);
    expect((await get('/meter_registry', key.token)).status).toBe(200);
    const revoked = await revokeKey(admin.pool, key.name, 'test', 'leaked');
    expect(revoked.already).toBe(false);
    await expectRefused(
      await get('/meter_registry', key.token),
      401,
      'Revoked service key',
      /^Bearer error="invalid_token", error_description="Revoked service key"$/,
    );
    expect((await revokeKey(admin.pool, key.id, 'test')).already).toBe(true);
  });

  it('refuses an expired key even if its token has no exp', async () => {
    const key = await registerServiceKey(admin.pool, secret, code);
    await admin.pool.query(
      `update internal.api_keys set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'
        where id = $1`,
      [key.id],
    );
    const noExp = await new SignJWT({ role: 'service', escos: [esco], jti: key.id })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
    await expectRefused(await get('/meter_registry', noExp), 401, 'Unknown service key', /invalid_token/);
  });

  it("enforces the key's scopes (403 insufficient_scope), reads with read and calls with rpc:<name>", async () => {
    const reader = await registerServiceKey(admin.pool, secret, code, { scopes: ['read'] });
    const call = (token: string) =>
      fetch(`${gateway.url}/rpc/ingest_interval_hh`, {
        method: 'POST',
        headers: { 'Content-Profile': 'flows', 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ rows: [] }),
      });
    await expectRefused(
      await call(reader.token),
      403,
      "The service key's scopes do not include rpc:ingest_interval_hh",
      /^Bearer error="insufficient_scope", scope="rpc:ingest_interval_hh"$/,
    );
    const ingester = await registerServiceKey(admin.pool, secret, code, { scopes: ['rpc:ingest_interval_hh'] });
    expect((await call(ingester.token)).status).toBe(200);
    await expectRefused(
      await get('/meter_registry', ingester.token),
      403,
      "The service key's scopes do not include read",
      /insufficient_scope/,
    );
  });

  it('leaves customer and operator tokens alone (they carry no registered jti)', async () => {
    const res = await get('/meter_registry', await sign({ role: 'operator', sub: 'nobody', jti: 'idp-123' }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
  });

  it("records a key's last use through the worker's listener, even from read-only GETs", async () => {
    const key = await registerServiceKey(admin.pool, secret, code, { scopes: ['read'] });
    let recorded!: () => void;
    const once = new Promise<void>((resolve) => (recorded = resolve));
    const recorder = startKeyUsageRecorder(db.loginUrl('worker'), log, {
      flushMs: 20,
      onRecorded: (n) => n > 0 && recorded(),
    });
    try {
      // The listener may not be listening yet: ask until a use has been recorded.
      let done = false;
      void once.then(() => (done = true));
      while (!done) {
        expect((await get('/meter_registry', key.token)).status).toBe(200);
        await Promise.race([once, new Promise((r) => setTimeout(r, 50))]);
      }
    } finally {
      await recorder.stop();
    }
    const row = (await listKeys(admin.pool)).find((k) => k.id === key.id)!;
    expect(row.last_used_at).toBeInstanceOf(Date);
    expect(Math.abs(row.last_used_at!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(row.status).toBe('live');
  });
});

describe('flows keys', () => {
  const env = () => testEnv({ DATABASE_URL: db.url, PGRST_JWT_SECRET: secret });

  it('creates a key (printing the token once), lists it without secrets, revokes it by name', async () => {
    const created = await runFlows(
      ['keys', 'create', '--name', 'cli-feed', '--esco', code, '--scopes', 'read,rpc:payment_webhook', '--by', 'ops'],
      env(),
    );
    expect(created.stderr).toMatch(/key [0-9a-f-]{36} 'cli-feed' for KEYS \(read, rpc:payment_webhook\)/);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    expect((await get('/meter_registry', token)).status).toBe(200);

    const listed = await runFlows(['keys', 'list'], env());
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /^id\s+name\s+esco\s+scopes\s+status\s+created\s+by\s+expires\s+last used\s+revoked$/m,
    );
    expect(listed.stdout).toMatch(/cli-feed\s+KEYS\s+read,rpc:payment_webhook\s+live\s+\S+\s+ops\s/);
    expect(listed.stdout).not.toContain(token.split('.')[2]);

    const revoked = await runFlows(['keys', 'revoke', 'cli-feed', '--reason', 'rotated'], env());
    expect(revoked).toMatchObject({ code: 0, stdout: expect.stringMatching(/'cli-feed' revoked/) });
    expect((await get('/meter_registry', token)).status).toBe(401);
    expect((await runFlows(['keys', 'list'], env())).stdout).toMatch(/cli-feed\s+KEYS\s+\S+\s+revoked/);
  }, 180_000);

  it('refuses bad input with a clear message and registers nothing', async () => {
    const before = (await listKeys(admin.pool)).length;
    const make = (name: string, escoCode: string, scopes: string[], ttl = '1h') =>
      createKey(admin.pool, secret, { name, esco: escoCode, scopes, ttl, createdBy: 'test' });
    await expect(make('x y', code, ['read'])).rejects.toThrow(/--name: 'x y' must be/);
    await expect(make('bad-esco', 'NOPE', ['read'])).rejects.toThrow(/--esco: no ESCO with code 'NOPE'/);
    await expect(make('bad-scope', code, ['read', 'admin'])).rejects.toThrow(/--scopes: 'admin' is not/);
    await expect(make('no-scope', code, [])).rejects.toThrow(/--scopes/);
    await expect(make('bad-ttl', code, ['read'], 'forever')).rejects.toThrow(/--ttl: 'forever' is not a duration/);
    await expect(make('zero-ttl', code, ['read'], '0d')).rejects.toThrow(/--ttl: '0d' must be more than nothing/);
    await expect(make('long-ttl', code, ['read'], '999999d')).rejects.toThrow(/at most 1826d/);
    await expect(make('no-fn', code, ['rpc:does_not_exist'])).rejects.toThrow(
      /--scopes: no API function named 'does_not_exist'/,
    );
    const cli = await runFlows(['keys', 'create', '--name', 'bad-esco', '--esco', 'NOPE'], env());
    expect(cli).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/no ESCO with code 'NOPE'/) });
    await expect(revokeKey(admin.pool, 'no-such-key', 'test')).rejects.toThrow(/no live key 'no-such-key'/);
    expect((await listKeys(admin.pool)).length).toBe(before);
  }, 120_000);

  it('refuses a second live key with the same name', async () => {
    await registerServiceKey(admin.pool, secret, code, { name: 'twice' });
    await expect(registerServiceKey(admin.pool, secret, code, { name: 'twice' })).rejects.toThrow(
      /a live key named 'twice' exists/,
    );
  });
});
