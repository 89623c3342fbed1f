// Each test file gets its own database, cloned from the migrated template of this run, so files
// run in parallel without seeing each other's data.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { quoteIdent, withClient, withDatabase, withLogin } from '../../src/db/client.ts';
import { grantDatabase } from '../../src/db/roles.ts';
import { loadConfig } from '../../src/config.ts';
import { testEnv } from './env.ts';

export interface TestDatabase {
  name: string;
  /** Superuser URL of this database. */
  url: string;
  /** URL of this database for a login role (authenticator, worker, reporting). */
  loginUrl(role: 'authenticator' | 'worker' | 'reporting'): string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const { serverUrl, templateName, runId } = inject('flowsTest');
  const name = `${runId}_${randomBytes(4).toString('hex')}`;
  await withClient(serverUrl, (client) =>
    client.query(`create database ${quoteIdent(name)} template ${quoteIdent(templateName)}`),
  );
  const url = withDatabase(serverUrl, name);
  await withClient(url, (client) => grantDatabase(client));
  const { roles } = loadConfig(['roles'], testEnv());
  return {
    name,
    url,
    loginUrl: (role) => withLogin(url, role, roles.passwords[role]),
    drop: () =>
      withClient(serverUrl, (client) => client.query(`drop database if exists ${quoteIdent(name)} with (force)`)).then(
        () => undefined,
      ),
  };
}

/** A database for this test file: created before its tests, dropped after them. */
export function useTestDatabase(): TestDatabase {
  const holder = {} as TestDatabase;
  beforeAll(async () => {
    Object.assign(holder, await createTestDatabase());
  });
  afterAll(async () => {
    await holder.drop?.();
  });
  return holder;
}

/** A superuser pool on `db`, closed after the file's tests. */
export function usePool(db: TestDatabase): { pool: pg.Pool } {
  const holder = {} as { pool: pg.Pool };
  beforeAll(() => {
    holder.pool = new pg.Pool({ connectionString: db.url, max: 4 });
  });
  afterAll(async () => {
    await holder.pool?.end();
  });
  return holder;
}

export interface Claims {
  sub?: string;
  [claim: string]: unknown;
}

/**
 * Runs `fn` as a database role with JWT claims, exactly as the REST layer sets them, inside a
 * transaction that is always rolled back.
 */
export function asRole<T>(
  pool: pg.Pool,
  role: string,
  claims: Claims,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return inRoleTransaction(pool, role, claims, fn, false);
}

/** As asRole, but the transaction commits when `fn` succeeds (and rolls back when it throws). */
export function committedAs<T>(
  pool: pg.Pool,
  role: string,
  claims: Claims,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return inRoleTransaction(pool, role, claims, fn, true);
}

async function inRoleTransaction<T>(
  pool: pg.Pool,
  role: string,
  claims: Claims,
  fn: (client: pg.PoolClient) => Promise<T>,
  commit: boolean,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`, [
      role,
      JSON.stringify({ ...claims, role }),
    ]);
    const result = await fn(client);
    if (commit) await client.query('commit');
    return result;
  } finally {
    // after a commit this is a no-op (with a warning the client ignores)
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}
