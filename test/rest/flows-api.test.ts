// The Flows API through the gateway, as its clients see it: every exposed table and view read over
// HTTP by each kind of actor with a real JWT reveals nothing the actor must not see (the fixtures'
// markers), and bad tokens are refused. Runs on the shared harness (a clone of the migrated
// template), with the same PGRST_* settings as `flows dev`. The last block makes a few of the same
// calls through @supabase/postgrest-js, as the portal does.
import { randomBytes } from 'node:crypto';
import { PostgrestClient } from '@supabase/postgrest-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway, type Gateway } from '../../src/rest/gateway.ts';
import { closablePool, type ClosablePool } from '../../src/rest/pool.ts';
import { flowsRestSettings } from '../../src/stack/rest-settings.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import {
  buildFixtures,
  escoOf,
  findForbidden,
  findOwn,
  roleOf,
  type Actor,
  type Fixtures,
} from '../support/fixtures.ts';
import { registerServiceKey } from '../support/keys.ts';
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
  if (actor.kind === 'service')
    return (await registerServiceKey(admin.pool, secret, escoOf(fixtures, actor.esco).code)).token;
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

  it('embeds the account of invoices, payments, ledger entries and reminders, and the other way round', async () => {
    // These tables reach accounts by (account, esco) and hold other keys besides; none is a
    // many-to-many junction (PostgREST wants the keys' columns in the primary key for that).
    const token = await tokenFor({ kind: 'operator', esco: 'A' });
    for (const path of [
      '/invoices?select=number,accounts(account_number)',
      '/invoices?select=number,accounts!invoices_account_esco_fkey(account_number)',
      '/payments?select=amount,accounts(account_number)',
      '/ledger_entries?select=amount,accounts(account_number)',
      '/payment_reminders?select=step,accounts(account_number),invoices(number)',
      '/bank_transactions?select=amount,accounts(account_number),payments(amount)',
      '/accounts?select=account_number,invoices(number),payments(amount),ledger_entries(amount)',
    ]) {
      const res = await get(path, 'public', token);
      expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
      expect(Array.isArray(await res.json()), path).toBe(true);
    }
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

describe('the Flows API through postgrest-js', () => {
  async function clientFor(actor: Actor): Promise<PostgrestClient> {
    const token = await tokenFor(actor);
    return new PostgrestClient(gateway.url, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    });
  }
  const operatorA: Actor = { kind: 'operator', esco: 'A' };
  const serials = (esco: 'a' | 'b') => Object.values(fixtures[esco].meters).map((m) => m.serial);

  it("lists an operator's meters with their ESCO embedded, in .schema('flows')", async () => {
    const client = await clientFor(operatorA);
    const { data, error } = await client
      .schema('flows')
      .from('meter_registry')
      .select('serial, escos(code)')
      .in('serial', [...serials('a'), ...serials('b')])
      .order('serial');
    expect(error).toBeNull();
    expect(data).toEqual(
      serials('a')
        .sort()
        .map((serial) => ({ serial, escos: { code: fixtures.a.code } })),
    );
  });

  it('calls a flows RPC with the caller’s rights', async () => {
    const client = await clientFor(operatorA);
    const { data, error } = await client
      .schema('flows')
      .rpc('get_meters_for_cli', { esco_filter: null, feeder_filter: null })
      .select('serial, esco');
    expect(error).toBeNull();
    const rows = data as { serial: string; esco: string }[];
    expect(rows.every((r) => r.esco === fixtures.a.code)).toBe(true);
    expect(rows.map((r) => r.serial)).toEqual(expect.arrayContaining(serials('a')));
  });

  it('updates only what RLS lets the operator reach', async () => {
    const client = await clientFor(operatorA);
    const own = fixtures.a.meters.m1;
    const before = await client.schema('flows').from('meter_registry').select('name').eq('id', own.id).single();
    expect(before.error).toBeNull();
    const name = (before.data as { name: string | null }).name;
    const updated = await client
      .schema('flows')
      .from('meter_registry')
      .update({ name })
      .eq('id', own.id)
      .select('id, name')
      .single();
    expect(updated.error).toBeNull();
    expect(updated.data).toEqual({ id: own.id, name });
    const other = await client
      .schema('flows')
      .from('meter_registry')
      .update({ name: 'hijacked' })
      .eq('id', fixtures.b.meters.m1.id)
      .select('id')
      .maybeSingle();
    expect(other).toMatchObject({ data: null, error: null });
  });

  it('counts a customer’s meters and shows anon only the public ESCO columns', async () => {
    const customer: Actor = { kind: 'customer', customer: 'A1' };
    const meters = await (await clientFor(customer)).from('meters').select('*', { count: 'exact' });
    expect(meters.error).toBeNull();
    expect(meters.count).toBe((meters.data as unknown[]).length);
    expect(meters.count).toBeGreaterThan(0);
    expect(findForbidden(fixtures, meters.data, customer)).toEqual([]);

    const anon = await clientFor({ kind: 'anon' });
    const escos = await anon.schema('flows').from('escos').select('code, name').order('code');
    expect(escos.error).toBeNull();
    expect((escos.data as { code: string }[]).map((e) => e.code)).toEqual(
      expect.arrayContaining([fixtures.a.code, fixtures.b.code]),
    );
    const hidden = await anon.schema('flows').from('escos').select('id');
    expect(hidden.status).toBe(401);
    expect(hidden.error).toMatchObject({ code: '42501' });
  });
});
