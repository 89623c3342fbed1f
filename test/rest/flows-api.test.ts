// The Flows API through the gateway, as its clients see it: every exposed table and view read over
// HTTP by each kind of actor with a real JWT reveals nothing the actor must not see (the fixtures'
// markers), and bad tokens are refused. Runs on the shared harness (a clone of the migrated
// template), with the same PGRST_* settings as `flows dev`.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway, type Gateway } from '../../src/rest/gateway.ts';
import { closablePool, type ClosablePool } from '../../src/rest/pool.ts';
import { flowsRestSettings } from '../../src/stack/rest-settings.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { buildFixtures, findForbidden, findOwn, roleOf, type Actor, type Fixtures } from '../support/fixtures.ts';
import { restConfig } from './support/config.ts';

let db: TestDatabase;
let admin: ClosablePool;
let fixtures: Fixtures;
let gateway: Gateway;
const secret = randomBytes(24).toString('hex');

beforeAll(async () => {
  db = await createTestDatabase();
  admin = closablePool({ connectionString: db.url, max: 2 }, (error) => {
    throw error;
  });
  fixtures = await buildFixtures(admin.pool);
  const config = restConfig(db.loginUrl('authenticator'), {
    ...flowsRestSettings,
    PGRST_JWT_SECRET: secret,
    PGRST_DB_EXTRA_SEARCH_PATH: 'public',
  });
  gateway = await startGateway(
    config,
    createLogger(loadConfig([], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' }).runtime),
  );
});

afterAll(async () => {
  await gateway?.close();
  await admin?.end();
  await db?.drop();
});

/** A token for the actor, valid for an hour unless `exp` says otherwise. */
async function tokenFor(actor: Actor, exp = Math.floor(Date.now() / 1000) + 3600): Promise<string | undefined> {
  if (actor.kind === 'anon') return undefined;
  const { role, claims } = roleOf(fixtures, actor);
  return new SignJWT({ ...claims, role, exp })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));
}

async function get(path: string, schema: string, token: string | undefined): Promise<Response> {
  return fetch(`${gateway.url}${path}`, {
    headers: { 'Accept-Profile': schema, ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }) },
  });
}

const actors: Actor[] = [
  { kind: 'anon' },
  { kind: 'customer', customer: 'A1' },
  { kind: 'operator', esco: 'A' },
  { kind: 'service', esco: 'B' },
];

describe('the Flows API over HTTP', () => {
  it('serves every exposed relation to every actor without revealing others’ data', async () => {
    const { rows } = await admin.pool.query<{ schema: string; name: string }>(
      `select table_schema as schema, table_name as name from information_schema.tables
       where table_schema in ('public', 'flows') order by 1, 2`,
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const actor of actors) {
      const token = await tokenFor(actor);
      for (const { schema, name } of rows) {
        const res = await get(`/${encodeURIComponent(name)}`, schema, token);
        const label = `${JSON.stringify(actor)} ${schema}.${name}: ${res.status}`;
        expect([200, 401, 403], label).toContain(res.status);
        const body: unknown = await res.json();
        expect(findForbidden(fixtures, body, actor), label).toEqual([]);
      }
    }
  });

  it('shows a customer their own meters', async () => {
    const actor: Actor = { kind: 'customer', customer: 'A1' };
    const res = await get('/meters', 'public', await tokenFor(actor));
    expect(res.status).toBe(200);
    expect(findOwn(fixtures, await res.json(), actor).length).toBeGreaterThan(0);
  });

  it('refuses expired and forged tokens', async () => {
    const actor: Actor = { kind: 'customer', customer: 'A1' };
    const expired = await get('/meters', 'public', await tokenFor(actor, Math.floor(Date.now() / 1000) - 120));
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { code: string }).code).toBe('PGRST303');
    const { role, claims } = roleOf(fixtures, actor);
    const forged = await new SignJWT({ ...claims, role })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('f'.repeat(48)));
    const res = await get('/meters', 'public', forged);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toBe('JWT cryptographic operation failed');
  });
});
