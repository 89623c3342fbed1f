// A realtime service on a clone of the migrated template with the isolation fixtures (ESCOs A and
// B), configured as `flows dev` configures it (the PGRST_* settings of the REST layer), and tokens
// signed with its secret.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig, type Env } from '../../../src/config.ts';
import { createLogger } from '../../../src/log.ts';
import { startRealtime, type RealtimeServer } from '../../../src/realtime/server.ts';
import { closablePool, type ClosablePool } from '../../../src/rest/pool.ts';
import { flowsRestSettings } from '../../../src/stack/rest-settings.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { buildFixtures, roleOf, type Actor, type Fixtures } from '../../support/fixtures.ts';
import { restConfig } from '../../rest/support/config.ts';

export interface RealtimeHarness {
  db: TestDatabase;
  admin: pg.Pool;
  fixtures: Fixtures;
  server: RealtimeServer;
  /** A token for the actor, valid for an hour unless `exp` (seconds) says otherwise. */
  tokenFor(actor: Actor, exp?: number): Promise<string>;
  /** Signs any claims with the service's secret. */
  sign(claims: Record<string, unknown>): Promise<string>;
}

/** Starts the service before the file's tests (FLOWS_REALTIME_* overrides), stops it after them. */
export function useRealtime(variables: Env = {}): RealtimeHarness {
  const harness = {} as RealtimeHarness;
  let admin: ClosablePool | undefined;
  const secret = randomBytes(24).toString('hex');
  beforeAll(async () => {
    harness.db = await createTestDatabase();
    admin = closablePool({ connectionString: harness.db.url, max: 4 }, (error) => {
      throw error;
    });
    harness.admin = admin.pool;
    harness.fixtures = await buildFixtures(admin.pool);
    const rest = restConfig(harness.db.loginUrl('authenticator'), {
      ...flowsRestSettings,
      PGRST_JWT_SECRET: secret,
      PGRST_DB_EXTRA_SEARCH_PATH: 'public',
    });
    const { realtime, runtime } = loadConfig(['realtime'], {
      FLOWS_ENV: 'test',
      LOG_LEVEL: 'silent',
      FLOWS_REALTIME_PORT: '0',
      ...variables,
    });
    harness.server = await startRealtime(rest, realtime, createLogger(runtime));
  });
  afterAll(async () => {
    await harness.server?.close();
    await admin?.end();
    await harness.db?.drop();
  });
  harness.sign = (claims) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
  harness.tokenFor = (actor, exp = Math.floor(Date.now() / 1000) + 3600) => {
    const { role, claims } = roleOf(harness.fixtures, actor);
    return harness.sign({ ...claims, role, exp });
  };
  return harness;
}
