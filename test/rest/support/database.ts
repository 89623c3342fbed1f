// A database and roles of one test file's own, on the test run's server (test/support/global-setup.ts:
// the embedded PostgreSQL, or the server of DATABASE_URL): `flows_rest_test_<random>` and
// `rest_<random>_{anon,authenticator,user}`. The REST tests use a fixture schema, not Flows.
import { randomBytes } from 'node:crypto';
import { quoteIdent, quoteLiteral, withClient, withDatabase, withLogin } from '../../../src/db/client.ts';

export interface FixtureRoles {
  anon: string;
  authenticator: string;
  user: string;
}

export interface FixtureDatabase {
  name: string;
  /** Superuser URL of the database. */
  url: string;
  /** The authenticator's URL (what PGRST_DB_URI would be). */
  authenticatorUrl: string;
  roles: FixtureRoles;
  drop(): Promise<void>;
}

/** Creates the database and roles, then runs `fixture(roles)` (SQL) in the database. */
export async function createFixtureDatabase(
  fixture: (roles: FixtureRoles) => string,
  server: string,
): Promise<FixtureDatabase> {
  const id = randomBytes(5).toString('hex');
  const name = `flows_rest_test_${id}`;
  const roles: FixtureRoles = {
    anon: `rest_${id}_anon`,
    authenticator: `rest_${id}_authenticator`,
    user: `rest_${id}_user`,
  };
  const password = randomBytes(12).toString('hex');
  const drop = async () => {
    await withClient(server, async (client) => {
      await client.query(`drop database if exists ${quoteIdent(name)} with (force)`);
      for (const role of [roles.authenticator, roles.user, roles.anon])
        await client.query(`drop role if exists ${quoteIdent(role)}`);
    });
  };
  try {
    await withClient(server, async (client) => {
      await client.query(`create database ${quoteIdent(name)}`);
      await client.query(`create role ${quoteIdent(roles.anon)} nologin`);
      await client.query(`create role ${quoteIdent(roles.user)} nologin`);
      await client.query(
        `create role ${quoteIdent(roles.authenticator)} login noinherit password ${quoteLiteral(password)}`,
      );
      await client.query(
        `grant ${quoteIdent(roles.anon)}, ${quoteIdent(roles.user)} to ${quoteIdent(roles.authenticator)}`,
      );
    });
    const url = withDatabase(server, name);
    await withClient(url, (client) => client.query(fixture(roles)));
    return { name, url, authenticatorUrl: withLogin(url, roles.authenticator, password), roles, drop };
  } catch (error) {
    await drop().catch(() => undefined);
    throw error;
  }
}
