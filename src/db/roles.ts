// `flows db setup`: the cluster-wide roles of the design, created or brought up to date
// idempotently, and what the owner role needs in the Flows database. See DESIGN.md "Roles".
import type pg from 'pg';
import type { LoginRole } from '../config.ts';
import { quoteIdent, quoteLiteral } from './client.ts';

/** Owns every schema object; migrations run as this role. */
export const ownerRole = 'flows_owner';
/** The roles the REST layer's `authenticator` may switch to. */
export const webRoles = ['anon', 'customer', 'operator', 'service'] as const;
/** Every application role, owner excepted. */
export const appRoles = ['authenticator', ...webRoles, 'worker', 'reporting'] as const;
export type AppRole = (typeof appRoles)[number];

/** Per-role statement_timeout; FLOWS_STATEMENT_TIMEOUTS overrides any of them. */
export const defaultStatementTimeouts: Record<string, string> = {
  anon: '3s',
  customer: '5s',
  operator: '15s',
  service: '15s',
  reporting: '60s',
  worker: '10min',
};

interface RoleSpec {
  name: string;
  login: boolean;
  inherit: boolean;
}

const roleSpecs: RoleSpec[] = [
  { name: ownerRole, login: false, inherit: true },
  { name: 'authenticator', login: true, inherit: false },
  ...webRoles.map((name) => ({ name, login: false, inherit: true })),
  { name: 'worker', login: true, inherit: true },
  { name: 'reporting', login: true, inherit: true },
];

// Roles are cluster-wide and two runs (tests, a developer's stack) may set up at once.
const setupLockKey = 'flows db setup';

export interface SetupOptions {
  passwords: Record<LoginRole, string>;
  statementTimeouts: Record<string, string>;
}

/** Creates or updates the cluster-wide roles (`grantDatabase` prepares a database for them). */
/** `flows db setup`: the roles, then this database's grants. */
export async function setup(client: pg.ClientBase, options: SetupOptions): Promise<void> {
  await setupRoles(client, options);
  await grantDatabase(client);
}

export async function setupRoles(client: pg.ClientBase, options: SetupOptions): Promise<void> {
  await client.query('select pg_advisory_lock(hashtext($1))', [setupLockKey]);
  try {
    for (const spec of roleSpecs) {
      const exists = await client.query('select 1 from pg_roles where rolname = $1', [spec.name]);
      const attributes = `${spec.login ? 'login' : 'nologin'} ${spec.inherit ? 'inherit' : 'noinherit'}`;
      const password =
        spec.login && spec.name in options.passwords
          ? ` password ${quoteLiteral(options.passwords[spec.name as LoginRole])}`
          : '';
      const verb = exists.rowCount === 0 ? 'create' : 'alter';
      await client.query(`${verb} role ${quoteIdent(spec.name)} with ${attributes}${password}`);
    }
    const timeouts = { ...defaultStatementTimeouts, ...options.statementTimeouts };
    for (const [role, timeout] of Object.entries(timeouts)) {
      if (!roleSpecs.some((r) => r.name === role))
        throw new Error(`FLOWS_STATEMENT_TIMEOUTS names an unknown role: ${role}`);
      await client.query(`alter role ${quoteIdent(role)} set statement_timeout = ${quoteLiteral(timeout)}`);
    }
    await client.query(`grant ${webRoles.map(quoteIdent).join(', ')} to authenticator`);
    // A non-superuser admin (managed PostgreSQL) must be able to `set role` to the owner.
    await client.query(`do $$ begin
      if not (select rolsuper from pg_roles where rolname = current_user) then
        execute format('grant %I to %I', ${quoteLiteral(ownerRole)}, current_user);
      end if; end $$`);
  } finally {
    await client.query('select pg_advisory_unlock(hashtext($1))', [setupLockKey]);
  }
}

/**
 * The owner role may create schemas and trusted extensions in this database, and owns `public`
 * (so that sql/ can set its grants and comment). Database-level privileges are not copied when a
 * database is cloned from a template, so this runs for every database.
 */
export async function grantDatabase(client: pg.ClientBase): Promise<void> {
  const name = (await client.query<{ db: string }>('select current_database() as db')).rows[0]!.db;
  await client.query(`grant create, connect, temporary on database ${quoteIdent(name)} to ${quoteIdent(ownerRole)}`);
  await client.query(`alter schema public owner to ${quoteIdent(ownerRole)}`);
}
