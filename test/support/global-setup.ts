// Once per `npm test`: a PostgreSQL server (embedded, or the server of DATABASE_URL), the roles,
// and a migrated template database that every test file clones (test/support/database.ts).
// Nothing outside this run's own `flows_test_<run>_*` databases is touched.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.ts';
import { quoteIdent, withClient, withDatabase } from '../../src/db/client.ts';
import { startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { grantDatabase, setupRoles } from '../../src/db/roles.ts';
import { createLogger } from '../../src/log.ts';
import { testEnv } from './env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    flowsTest: { serverUrl: string; templateName: string; runId: string };
  }
}

export default async function globalSetup(project: TestProject): Promise<() => Promise<void>> {
  const env = testEnv();
  const config = loadConfig(['database', 'roles'], env);
  const log = createLogger(config.runtime, 'command');
  let embedded: EmbeddedServer | undefined;
  let serverUrl: string;
  if (config.database.url !== undefined) {
    serverUrl = config.database.url;
  } else {
    embedded = await startEmbedded({
      dataDir: path.join(os.tmpdir(), 'flows-test'),
      cacheDir: config.database.cacheDir,
      port: 0,
      log,
      ephemeral: true,
    });
    serverUrl = embedded.serverUrl;
  }
  const runId = `flows_test_${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const templateName = `${runId}_template`;
  const dropRunDatabases = () =>
    withClient(serverUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        `select datname from pg_database where starts_with(datname, $1)`,
        [`${runId}_`],
      );
      for (const { datname } of rows) await client.query(`drop database if exists ${quoteIdent(datname)} with (force)`);
    });
  try {
    await withClient(serverUrl, (client) => client.query(`create database ${quoteIdent(templateName)}`));
    const templateUrl = withDatabase(serverUrl, templateName);
    await withClient(templateUrl, async (client) => {
      await setupRoles(client, config.roles);
      await grantDatabase(client);
    });
    await migrate(templateUrl, { log });
  } catch (error) {
    await dropRunDatabases().catch(() => undefined);
    await embedded?.stop();
    throw error;
  }
  project.provide('flowsTest', { serverUrl, templateName, runId });
  return async () => {
    await dropRunDatabases();
    await embedded?.stop();
  };
}
