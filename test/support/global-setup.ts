// Once per `npm test`: a PostgreSQL server (embedded, or the server of DATABASE_URL), the roles,
// and a migrated template database that every test file clones (test/support/database.ts).
// Nothing outside this run's own `flows_test_<run>_*` databases is touched.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.ts';
import { createMigratedDatabase, dropDatabases, openScratchServer } from '../../src/db/provision.ts';
import { createLogger } from '../../src/log.ts';
import { testEnv } from './env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    flowsTest: { serverUrl: string; templateName: string; runId: string };
  }
}

export default async function globalSetup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig(['database', 'roles'], testEnv());
  const log = createLogger(config.runtime, 'command');
  const server = await openScratchServer(config.database, log);
  const runId = `flows_test_${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const templateName = `${runId}_template`;
  const cleanUp = async () => {
    await dropDatabases(server.serverUrl, `${runId}_`);
    await server.stop();
  };
  try {
    await createMigratedDatabase(server.serverUrl, templateName, { roles: config.roles, log });
  } catch (error) {
    await cleanUp().catch(() => undefined);
    throw error;
  }
  project.provide('flowsTest', { serverUrl: server.serverUrl, templateName, runId });
  return cleanUp;
}
