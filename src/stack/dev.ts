// `flows dev` (= `npm start`): database → setup → migrate → REST layer → worker → banner.
// Ctrl-C (SIGINT) or SIGTERM stops everything this process started, newest first.
import { loadConfig, processEnv } from '../config.ts';
import { mintToken } from '../auth/token.ts';
import { withClient } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { setup } from '../db/roles.ts';
import { loginUrl, openDatabase } from '../db/server.ts';
import { createLogger } from '../log.ts';
import { exitOnSignals, onShutdown, shutdown } from '../shutdown.ts';
import { startWorker } from '../worker/run.ts';
import { devRestEnv } from './rest-settings.ts';
import { startRestLayer } from './rest-layer.ts';

export async function runDev(): Promise<void> {
  const env = processEnv();
  const config = loadConfig(['database', 'roles', 'worker', 'token'], env);
  const log = createLogger(config.runtime);
  exitOnSignals(log, config.runtime.shutdownTimeoutMs);
  try {
    const db = await openDatabase(config.database, log, { owner: true });
    await withClient(db.adminUrl, (client) => setup(client, config.roles));
    await migrate(db.adminUrl, { log });

    const restEnv = devRestEnv(env, loginUrl(db.adminUrl, config.roles, 'authenticator'), config.token.jwtSecret);
    const { rest: restConfig } = loadConfig(['rest'], restEnv);
    const rest = await startRestLayer(restConfig, restEnv, log);
    if (rest) onShutdown('rest', () => rest.stop());

    const workerUrl = config.worker.url ?? loginUrl(db.adminUrl, config.roles, 'worker');
    const worker = await startWorker(workerUrl, config.worker, log);
    onShutdown('worker', () => worker.stop());
    worker.done.catch((error: unknown) => {
      log.error({ err: error }, 'worker crashed');
      void shutdown(log, 'worker crashed').then(() => process.exit(1));
    });

    const token = await mintToken(config.token.jwtSecret, { role: 'operator', sub: 'dev-operator', ttl: '12h' });
    printBanner({ restUrl: rest?.url, restKind: rest?.kind, embedded: db.embedded, token, seconds: process.uptime() });
  } catch (error) {
    await shutdown(log, 'start-up failed');
    throw error;
  }
}

interface Banner {
  restUrl: string | undefined;
  restKind: string | undefined;
  embedded: boolean;
  token: string;
  seconds: number;
}

function printBanner(b: Banner): void {
  const rest = b.restUrl
    ? `  REST API   ${b.restUrl}   (${b.restKind === 'postgrest' ? 'PostgREST' : 'built-in PostgREST-compatible gateway'})`
    : '  REST API   not running (see the log above)';
  const lines = [
    '',
    `Flows is running (ready in ${b.seconds.toFixed(1)} s). Ctrl-C stops everything.`,
    '',
    rest,
    `  Database   ${b.embedded ? 'embedded PostgreSQL 15 (data in .flows/)' : 'DATABASE_URL'}`,
    '  psql       npx flows db psql',
    '  Tokens     npx flows token --role operator --sub <operator auth subject>',
    '',
  ];
  if (b.restUrl) {
    lines.push(
      '  Try it (an operator token, valid 12 h):',
      `  curl -H 'Authorization: Bearer ${b.token}' ${b.restUrl}/`,
      '',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
