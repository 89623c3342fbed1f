// The operations endpoints every Flows service offers: `/live` (the process is up), `/ready` (its
// dependencies answer) and `/metrics` (Prometheus text). Served on a port of their own, never on the
// API port.
import { createServer, type RequestListener, type Server } from 'node:http';
import type pg from 'pg';
import type { Logger } from '../log.ts';
import { contentType, type Registry } from './registry.ts';

/** A readiness check: resolves when the dependency is usable, rejects with the reason otherwise. */
export type Check = () => Promise<void>;

export class NotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotReadyError';
  }
}

/** `select 1` through the pool, failing after `timeoutMs` (a pool waiting for a connection counts as down). */
export function databaseCheck(pool: pg.Pool, timeoutMs: number): Check {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NotReadyError(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const query = pool.query('select 1');
    // The query may still settle after the timeout: keep its rejection from going unhandled.
    query.catch(() => {});
    try {
      await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

export interface HealthOptions {
  registry?: Registry;
  /** Every check must pass for `/ready` to answer 200. */
  checks: Record<string, Check>;
  log: Logger;
}

/**
 * The request listener of the operations port. `/ready` answers 200 or 503 with a JSON body naming
 * each check and, for a failing one, why; `/metrics` renders the registry (a failing collector is
 * logged, the rest is served).
 */
export function healthListener(options: HealthOptions): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const respond = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return respond(405, 'text/plain', 'method not allowed\n');
    if (path === '/live') return respond(200, 'application/json', '{"status":"up"}\n');
    if (path === '/ready') {
      void runChecks(options.checks).then((result) => {
        if (!result.ready) options.log.warn({ checks: result.checks }, 'not ready');
        respond(result.ready ? 200 : 503, 'application/json', `${JSON.stringify(result)}\n`);
      });
      return;
    }
    if (path === '/metrics' && options.registry) {
      void options.registry
        .render((error) => options.log.warn({ err: error }, 'metrics collector failed'))
        .then((text) => respond(200, contentType, text));
      return;
    }
    respond(404, 'text/plain', 'not found\n');
  };
}

export async function runChecks(
  checks: Record<string, Check>,
): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(names.map((n) => checks[n]!()));
  const out: Record<string, string> = {};
  results.forEach((r, i) => {
    out[names[i]!] = r.status === 'fulfilled' ? 'ok' : String((r.reason as Error)?.message ?? r.reason);
  });
  return { ready: results.every((r) => r.status === 'fulfilled'), checks: out };
}

/** Starts the operations server on `port` (0 = any free port) and `host`. */
export async function startHealthServer(
  port: number,
  host: string | undefined,
  options: HealthOptions,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(healthListener(options));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as { address: string; port: number };
  const shown = ['0.0.0.0', '::'].includes(address.address) ? '127.0.0.1' : address.address;
  return {
    server,
    url: `http://${shown.includes(':') ? `[${shown}]` : shown}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
