// Which PostgreSQL to use: DATABASE_URL when set, else the embedded server (already running for
// this checkout, e.g. under `npm start`, or started here for the duration of the command).
import type { DatabaseConfig, RolesConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { withClient, withDatabase, withLogin, quoteIdent } from './client.ts';
import { onShutdown } from '../shutdown.ts';
import { embeddedDatabaseName, findRunningEmbedded, pgdataFor, startEmbedded } from './embedded.ts';

export interface DatabaseHandle {
  /** Admin (superuser or owner) URL of the Flows database. */
  adminUrl: string;
  embedded: boolean;
  /** The embedded server's data folder (under the cache folder when running as root); undefined for DATABASE_URL. */
  pgdata?: string;
  /** Stops the embedded server if this process started it; otherwise does nothing. */
  release(): Promise<void>;
}

/**
 * `owner`: this process must own the embedded server (`flows dev`); another process already
 * running it is an error rather than a server to borrow, since that one may stop at any time.
 */
export async function openDatabase(
  config: DatabaseConfig,
  log: Logger,
  options: { owner?: boolean } = {},
): Promise<DatabaseHandle> {
  if (config.url !== undefined) return { adminUrl: config.url, embedded: false, release: async () => {} };
  const running = await findRunningEmbedded(config.dataDir, config.cacheDir);
  if (running !== undefined && options.owner) {
    throw new Error('the embedded database of this checkout is already running (another `flows dev`?); stop it first');
  }
  if (running !== undefined) {
    log.debug('using the embedded PostgreSQL that is already running');
    return {
      adminUrl: withDatabase(running, embeddedDatabaseName),
      embedded: true,
      pgdata: pgdataFor(config.dataDir, config.cacheDir),
      release: async () => {},
    };
  }
  const server = await startEmbedded({
    dataDir: config.dataDir,
    cacheDir: config.cacheDir,
    port: config.embeddedPort,
    log,
  });
  try {
    await ensureDatabase(server.serverUrl, embeddedDatabaseName);
  } catch (error) {
    await server.stop();
    throw error;
  }
  // Stopped last on SIGINT/SIGTERM: registered before the components that use it.
  const unregister = onShutdown('embedded-postgres', () => server.stop());
  return {
    adminUrl: withDatabase(server.serverUrl, embeddedDatabaseName),
    embedded: true,
    pgdata: server.pgdata,
    release: async () => {
      unregister();
      await server.stop();
    },
  };
}

/** Creates `name` on the server unless it exists. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<void> {
  await withClient(serverUrl, async (client) => {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) await client.query(`create database ${quoteIdent(name)}`);
  });
}

/** The URL a login role uses to reach the same database as `adminUrl`. */
export function loginUrl(adminUrl: string, roles: RolesConfig, role: 'authenticator' | 'worker' | 'reporting'): string {
  return withLogin(adminUrl, role, roles.passwords[role]);
}
