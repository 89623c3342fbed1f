// One fixture database and gateway per test file, real JWTs, and a fetch helper.
import { randomBytes } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { loadConfig, type Env } from '../../../src/config.ts';
import { createLogger } from '../../../src/log.ts';
import { startGateway, type Gateway } from '../../../src/rest/gateway.ts';
import { closablePool } from '../../../src/rest/pool.ts';
import { restConfig } from './config.ts';
import { createFixtureDatabase, type FixtureDatabase, type FixtureRoles } from './database.ts';

export interface TestGateway {
  url: string;
  db: FixtureDatabase;
  /** Superuser pool on the fixture database. */
  admin: pg.Pool;
  endAdmin: () => Promise<void>;
  secret: string;
  /** An HS256 token with `claims` (default: the user role, valid for an hour). */
  token(claims?: JWTPayload): Promise<string>;
  /** fetch() against the gateway; `path` starts with '/'. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  gateway: Gateway;
}

export interface GatewayOptions {
  fixture: (roles: FixtureRoles) => string;
  variables?: (roles: FixtureRoles) => Env;
}

export function useGateway(options: GatewayOptions): TestGateway {
  const holder = {} as TestGateway;
  beforeAll(async () => {
    const db = await createFixtureDatabase(options.fixture, inject('flowsTest').serverUrl);
    const secret = randomBytes(24).toString('hex');
    const config = restConfig(db.authenticatorUrl, {
      PGRST_DB_ANON_ROLE: db.roles.anon,
      PGRST_JWT_SECRET: secret,
      ...options.variables?.(db.roles),
    });
    const gateway = await startGateway(
      config,
      createLogger(loadConfig([], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' }).runtime),
    );
    const admin = closablePool({ connectionString: db.url, max: 2 }, (error) => {
      throw error;
    });
    Object.assign(holder, {
      url: gateway.url,
      db,
      admin: admin.pool,
      endAdmin: admin.end,
      secret,
      gateway,
      token: (claims: JWTPayload = { role: db.roles.user }) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime(claims.exp ?? '1h')
          .sign(new TextEncoder().encode(secret)),
      fetch: (path: string, init?: RequestInit) => fetch(`${gateway.url}${path}`, init),
    } satisfies TestGateway);
  });
  afterAll(async () => {
    await holder.gateway?.close();
    await holder.endAdmin?.();
    await holder.db?.drop();
  });
  return holder;
}
