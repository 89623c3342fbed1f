// The `flows` command line. Each command loads only the configuration it uses; errors are one
// clear message and a non-zero exit.
import { spawn } from 'node:child_process';
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, processEnv } from '../config.ts';
import { mintToken } from '../auth/token.ts';
import { databaseOf, withClient, withDatabase, quoteIdent } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { setup, webRoles } from '../db/roles.ts';
import { loginUrl, openDatabase } from '../db/server.ts';
import { createLogger } from '../log.ts';
import { register as registerEmop } from './emop.ts';
import { register as registerSimulator } from './simulator.ts';
import { register as registerNotify } from './notify.ts';
import { register as registerBank } from './bank.ts';
import { register as registerBilling } from './billing.ts';
import { register as registerDbBackup } from './db-backup.ts';
import { register as registerRealtime } from './realtime.ts';
import { register as registerKeys } from './keys.ts';
import { logNotifyChannels } from '../notify/tasks.ts';
import { runDev } from '../stack/dev.ts';
import { seedDemo } from '../seed/demo.ts';
import { progressBar } from '../seed/progress.ts';
import { startRestLayer } from '../stack/rest-layer.ts';
import { exitOnCrash, startWorker } from '../worker/run.ts';
import { exitOnSignals, onShutdown } from '../shutdown.ts';

/** Opens the database for one command, runs `fn`, always releases it. */
async function withDatabaseHandle<T>(fn: (adminUrl: string, embedded: boolean) => Promise<T>): Promise<T> {
  const config = loadConfig(['database']);
  const db = await openDatabase(config.database, createLogger(config.runtime, 'command'));
  try {
    return await fn(db.adminUrl, db.embedded);
  } finally {
    await db.release();
  }
}

/** Roles `flows token` mints: the web roles, but service (a service token is a registered key). */
const tokenRoles: readonly string[] = webRoles.filter((r) => r !== 'service');
/** "anon, customer or operator". */
const tokenRoleList = `${tokenRoles.slice(0, -1).join(', ')} or ${tokenRoles.at(-1)}`;

const program = new Command('flows')
  .description('Flows: billing and metering for energy communities')
  .showHelpAfterError()
  .exitOverride();

program
  .command('dev')
  .description('run the whole stack locally: database, migrations, REST API and worker (npm start)')
  .action(() => runDev());

const db = program.command('db').description('database administration');

db.command('setup')
  .description(
    'create or update the roles (authenticator, anon, customer, operator, service, worker, reporting, flows_owner)',
  )
  .action(async () => {
    const { roles } = loadConfig(['roles']);
    await withDatabaseHandle((url) => withClient(url, (client) => setup(client, roles)));
    process.stdout.write('roles are set up\n');
  });

db.command('migrate')
  .description("install graphile-worker's schema, run migrations/, apply sql/, then NOTIFY pgrst")
  .action(async () => {
    const { runtime } = loadConfig([]);
    const result = await withDatabaseHandle((url) => migrate(url, { log: createLogger(runtime, 'command') }));
    process.stdout.write(
      `${result.migrations.length} migration(s) applied${result.migrations.length ? `: ${result.migrations.join(', ')}` : ''}; ${result.sqlFiles.length} sql/ file(s) applied\n`,
    );
  });

db.command('reset')
  .description('drop and recreate the database, then setup and migrate (embedded, *_dev or *_test databases only)')
  .action(async () => {
    const { roles, runtime } = loadConfig(['roles']);
    const log = createLogger(runtime, 'command');
    await withDatabaseHandle(async (url, embedded) => {
      const name = databaseOf(url);
      if (!embedded && !/_(dev|test)$/.test(name)) {
        throw new Error(`refusing to reset '${name}': only the embedded database or one named *_dev or *_test`);
      }
      await withClient(withDatabase(url, 'postgres'), async (client) => {
        await client.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [name],
        );
        await client.query(`drop database if exists ${quoteIdent(name)}`);
        await client.query(`create database ${quoteIdent(name)}`);
      });
      await withClient(url, (client) => setup(client, roles));
      await migrate(url, { log });
    });
    process.stdout.write('database reset\n');
  });

db.command('psql')
  .description('psql against the current database (arguments are passed to psql)')
  .allowUnknownOption()
  .allowExcessArguments()
  .helpOption(false)
  .argument('[args...]', 'psql arguments, e.g. -c "select 1"')
  .action(async (args: string[]) => {
    await withDatabaseHandle(
      (url) =>
        new Promise<void>((resolve, reject) => {
          // Like a shell, leave Ctrl-C to psql (it cancels the query) while it runs.
          const ignore = () => {};
          process.on('SIGINT', ignore);
          const child = spawn('psql', [url, ...args], { stdio: 'inherit' });
          child.on('exit', () => process.off('SIGINT', ignore));
          child.on('error', (error) => reject(new Error(`cannot run psql: ${error.message}`)));
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited with code ${code}`))));
        }),
    );
  });

registerDbBackup(db);

program
  .command('seed')
  .description('load data sets')
  .command('demo')
  .description('create the demo data set (ESCOs WLCE and HMCE, ~60 homes, tariffs, half-hourly data)')
  .option('--days <n>', 'days of half-hourly data', '90')
  .option('--seed <s>', 'random seed (the same seed makes the same data)', '1')
  .action(async (options: { days: string; seed: string }) => {
    const days = parsePositiveInt('--days', options.days);
    const seed = parsePositiveInt('--seed', options.seed);
    const summary = await withDatabaseHandle((url) =>
      withClient(url, (client) =>
        seedDemo(client, {
          days,
          seed,
          onProgress: (done, total) => process.stderr.write(`\rhalf-hourly data: ${progressBar(done, total)}`),
        }),
      ),
    );
    process.stderr.write('\n');
    process.stdout.write(
      `demo data: ${summary.escos} ESCOs, ${summary.properties} properties, ${summary.meters} meters, ${summary.registers} registers, ${summary.customers} customers, ${summary.intervalRows} half-hourly rows\n`,
    );
  });

program
  .command('token')
  .description('mint a development JWT signed with PGRST_JWT_SECRET')
  .requiredOption(
    '--role <role>',
    `web role the token carries: ${tokenRoleList} (a service token is a registered key: flows keys create)`,
  )
  .option('--sub <subject>', 'subject: customers.auth_subject or the operator auth subject')
  .option('--ttl <duration>', 'lifetime, e.g. 30m, 12h, 7d (default FLOWS_TOKEN_TTL or 12h)')
  .action(async (options: { role: string; sub?: string; ttl?: string }) => {
    const { token } = loadConfig(['token']);
    if (!/^[a-z_][a-z0-9_]*$/.test(options.role)) throw new Error(`--role: '${options.role}' is not a role name`);
    if (options.role === 'service') {
      throw new Error(
        '--role service: service tokens must be registered keys; use `flows keys create --name … --esco …`',
      );
    }
    // The REST layer's authenticator can become only these; a token for any other role is refused
    // at every request (401 when the role does not exist, 403 when it may not switch to it).
    if (!tokenRoles.includes(options.role)) {
      throw new Error(`--role: '${options.role}' is not a web role (${tokenRoleList})`);
    }
    const jwt = await mintToken(token.jwtSecret, {
      role: options.role,
      sub: options.sub,
      ttl: options.ttl ?? token.ttl,
    });
    process.stdout.write(`${jwt}\n`);
  });

program
  .command('rest')
  .description('serve the REST API from the PGRST_* variables alone (postgrest binary, or the built-in gateway)')
  .action(async () => {
    const env = processEnv();
    const { rest, runtime } = loadConfig(['rest'], env);
    const log = createLogger(runtime);
    exitOnSignals(log, runtime.shutdownTimeoutMs);
    const running = await startRestLayer(rest, env, log);
    onShutdown('rest', () => running.stop());
  });

program
  .command('worker')
  .description('run the job worker (graphile-worker, tasks in jobs/)')
  .action(async () => {
    const config = loadConfig(['worker', 'notify', 'metrics']);
    const log = createLogger(config.runtime);
    logNotifyChannels(config.notify, log);
    exitOnSignals(log, config.runtime.shutdownTimeoutMs);
    let url = config.worker.url;
    if (url === undefined) {
      // Development: the worker role on the same database as the rest of the stack.
      const local = loadConfig(['database', 'roles']);
      const handle = await openDatabase(local.database, log);
      url = loginUrl(handle.adminUrl, local.roles, 'worker');
    }
    const worker = await startWorker(url, config.worker, log, config.metrics);
    onShutdown('worker', () => worker.stop());
    exitOnCrash(worker, log);
  });

registerEmop(program);
registerSimulator(program);
registerNotify(program);
registerBank(program);
registerBilling(program);
registerRealtime(program);
registerKeys(program);

function parsePositiveInt(option: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new Error(`${option}: '${value}' is not a positive whole number`);
  return Number(value);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const message = error instanceof ConfigError ? error.message : `flows: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
