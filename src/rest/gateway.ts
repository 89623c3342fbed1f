// Entry point: a PostgREST-compatible server from a RestConfig (pool as the authenticator, schema
// cache with its reload listener, the HTTP server and the optional admin server).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { RestConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { databaseCheck, healthListener } from '../metrics/health.ts';
import { restMetrics, type RestMetrics } from '../metrics/rest.ts';
import type { Deps } from './context.ts';
import { createAuthenticator } from './jwt.ts';
import { closablePool, type ClosablePool } from './pool.ts';
import { SchemaCacheHolder } from './schema-listener.ts';
import { createRequestListener, createUnparsedRequestHandlers } from './server.ts';

/** Settings of the gateway that PostgREST has no `PGRST_*` variable for. */
export interface GatewayOptions {
  /** Largest request body accepted (413 above it); default {@link defaultMaxBodyBytes}. */
  maxBodyBytes?: number;
}

/** How long `/ready` waits for the database's `select 1`. */
const readinessTimeoutMs = 2000;

/** 10 MiB: far above any Flows request, low enough that a runaway client cannot exhaust memory. */
export const defaultMaxBodyBytes = 10 * 1024 * 1024;

export interface Gateway {
  url: string;
  /** The admin server (`/live`, `/ready`, `/metrics`), when PGRST_ADMIN_SERVER_PORT is set. */
  adminUrl: string | undefined;
  /**
   * Graceful shutdown: stops listening (new connections are refused), lets the requests in
   * flight finish (their answers carry `Connection: close`), then closes the schema listener and
   * the pool.
   */
  close(): Promise<void>;
}

/** PostgREST's special host values: `!4`/`*4` any IPv4, `!6`/`*6` any IPv6, `*` any. */
function listenHost(host: string): string | undefined {
  switch (host) {
    case '!4':
    case '*4':
      return '0.0.0.0';
    case '!6':
    case '*6':
      return '::';
    case '*':
      return undefined;
    default:
      return host;
  }
}

export function urlOf(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = ['0.0.0.0', '::'].includes(address.address)
    ? '127.0.0.1'
    : address.family === 'IPv6'
      ? `[${address.address}]`
      : address.address;
  return `http://${host}:${address.port}`;
}

export function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** `/live`, `/ready` (schema cache loaded, database answering) and `/metrics` on the admin port. */
function adminServer(holder: SchemaCacheHolder, pool: pg.Pool, metrics: RestMetrics, logger: Logger): Server {
  return createServer(
    healthListener({
      registry: metrics.registry,
      checks: {
        schemaCache: async () => void holder.current(),
        database: databaseCheck(pool, readinessTimeoutMs),
      },
      log: logger,
    }),
  );
}

/** The authenticator's pool, sized and timed by PGRST_DB_POOL*; a transaction's statements are pipelined. */
export function authenticatorPool(config: RestConfig, logger: Logger): ClosablePool {
  return closablePool(
    {
      connectionString: config.dbUri,
      max: config.dbPool,
      connectionTimeoutMillis: config.dbPoolAcquisitionTimeoutSeconds * 1000,
      idleTimeoutMillis: config.dbPoolMaxIdletimeSeconds * 1000,
      maxLifetimeSeconds: config.dbPoolMaxLifetimeSeconds,
      // The statements of a request are sent together (see transaction.ts).
      pipeline: true,
    },
    (error) => logger.warn({ err: error }, 'database connection failed'),
  );
}

export async function startGateway(config: RestConfig, logger: Logger, options: GatewayOptions = {}): Promise<Gateway> {
  const { pool, end: endPool } = authenticatorPool(config, logger);
  const metrics = restMetrics(pool, config.dbPool);
  const holder = new SchemaCacheHolder(config, pool, logger, metrics.schemaCacheLoaded);
  try {
    await holder.start();
  } catch (error) {
    await endPool();
    throw error;
  }
  const deps: Deps = { config, pool, cache: () => holder.current(), cacheSettled: () => holder.settled() };
  let closing = false;
  const listenerOptions = {
    maxBodyBytes: options.maxBodyBytes ?? defaultMaxBodyBytes,
    closing: () => closing,
    onResponse: metrics.observe,
  };
  const server = createServer(createRequestListener(deps, createAuthenticator(config), logger, listenerOptions));
  // Methods node:http cannot parse, and CONNECT, never reach the request listener (server.ts).
  const unparsed = createUnparsedRequestHandlers(deps, logger, listenerOptions);
  server.on('clientError', unparsed.clientError);
  server.on('connect', unparsed.connect);
  await listen(server, config.serverPort, listenHost(config.serverHost));
  const admin = config.adminServerPort === undefined ? undefined : adminServer(holder, pool, metrics, logger);
  if (admin) await listen(admin, config.adminServerPort!, listenHost(config.serverHost));
  const url = urlOf(server);
  // SIGUSR1 (schema) and SIGUSR2 (config) reload the cache, as they do for PostgREST.
  const onSignal = () => {
    holder.reload().catch((error: unknown) => logger.error({ err: error }, 'schema cache reload failed'));
  };
  process.on('SIGUSR1', onSignal);
  process.on('SIGUSR2', onSignal);
  logger.info({ url }, 'rest gateway listening');
  return {
    url,
    adminUrl: admin ? urlOf(admin) : undefined,
    async close() {
      closing = true;
      process.off('SIGUSR1', onSignal);
      process.off('SIGUSR2', onSignal);
      await Promise.all([closeServer(server), admin ? closeServer(admin) : undefined]);
      await holder.stop();
      await endPool();
    },
  };
}
