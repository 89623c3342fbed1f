// Orderly shutdown: components register how to stop when they start, and SIGINT/SIGTERM stop
// them in reverse order (the worker and REST layer before the database they use), within a
// time limit, then exit. No process is left behind.
import type { Logger } from './log.ts';

type Stop = { name: string; run: () => Promise<void> };
const stops: Stop[] = [];
let shuttingDown: Promise<void> | undefined;

/** Registers `run` to be called on shutdown; returns a function that unregisters it. */
export function onShutdown(name: string, run: () => Promise<void>): () => void {
  const entry = { name, run };
  stops.push(entry);
  return () => {
    const i = stops.indexOf(entry);
    if (i >= 0) stops.splice(i, 1);
  };
}

/** Stops everything registered, newest first. Safe to call more than once. */
export function shutdown(log: Logger, reason: string): Promise<void> {
  shuttingDown ??= (async () => {
    log.info({ reason }, 'shutting down');
    for (const stop of stops.splice(0).reverse()) {
      await stop.run().catch((error: unknown) => log.error({ err: error, component: stop.name }, 'stop failed'));
    }
  })();
  return shuttingDown;
}

/** SIGINT and SIGTERM run `shutdown`, then exit; after `timeoutMs` the process exits regardless. */
export function exitOnSignals(log: Logger, timeoutMs: number): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        log.error({ timeoutMs }, 'shutdown timed out; exiting');
        process.exit(1);
      }, timeoutMs).unref();
      void shutdown(log, signal).then(() => process.exit(0));
    });
  }
}
