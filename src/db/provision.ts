// Throw-away PostgreSQL for the test suite and the benchmarks: a server (the one DATABASE_URL names,
// else an ephemeral embedded cluster) and fresh databases on it, set up and migrated like production.
import os from 'node:os';
import path from 'node:path';
import type { DatabaseConfig, RolesConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { quoteIdent, withClient, withDatabase } from './client.ts';
import { startEmbedded } from './embedded.ts';
import { migrate } from './migrate.ts';
import { grantDatabase, setupRoles } from './roles.ts';

export interface ScratchServer {
  /** Superuser URL of a maintenance database on the server. */
  serverUrl: string;
  /** Stops the server if it was started here; otherwise does nothing. */
  stop(): Promise<void>;
}

/** The server of DATABASE_URL (never touching the database it names), or an ephemeral embedded one. */
export async function openScratchServer(config: DatabaseConfig, log: Logger): Promise<ScratchServer> {
  if (config.url !== undefined) return { serverUrl: config.url, stop: async () => {} };
  const embedded = await startEmbedded({
    dataDir: path.join(os.tmpdir(), 'flows-scratch'),
    cacheDir: config.cacheDir,
    port: 0,
    log,
    ephemeral: true,
  });
  return { serverUrl: embedded.serverUrl, stop: () => embedded.stop() };
}

/** Creates database `name` on the server with the roles set up and everything migrated; returns its URL. */
export async function createMigratedDatabase(
  serverUrl: string,
  name: string,
  options: { roles: RolesConfig; log: Logger },
): Promise<string> {
  await withClient(serverUrl, (client) => client.query(`create database ${quoteIdent(name)}`));
  const url = withDatabase(serverUrl, name);
  await withClient(url, async (client) => {
    await setupRoles(client, options.roles);
    await grantDatabase(client);
  });
  await migrate(url, { log: options.log });
  return url;
}

/** Drops every database whose name starts with `prefix`, closing their connections. */
export async function dropDatabases(serverUrl: string, prefix: string): Promise<void> {
  await withClient(serverUrl, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'select datname from pg_database where starts_with(datname, $1)',
      [prefix],
    );
    for (const { datname } of rows) await client.query(`drop database if exists ${quoteIdent(datname)} with (force)`);
  });
}
