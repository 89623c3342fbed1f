// Logging from jobs: graphile-worker's job-scoped logger (which src/worker/run.ts turns into a pino child
// carrying the job id and task) with the job's own context (meter, topup…) on every line.
import type { JobHelpers, Logger as WorkerLogger } from 'graphile-worker';
import type { EmopClient } from '../client.ts';
import type { EmopLogger } from '../log.ts';
import { advisoryMeterLock, type WithConnection } from '../pg-lock.ts';
import { clientFor, gapOf, type EmopSettings } from './settings.ts';

export function jobLogger(logger: WorkerLogger, context: Record<string, unknown>): EmopLogger {
  return {
    info: (fields, message) => logger.info(message, { ...context, ...fields }),
    warn: (fields, message) => logger.warn(message, { ...context, ...fields }),
    error: (fields, message) => logger.error(message, { ...context, ...fields }),
  };
}

export interface MeterJobContext {
  client: EmopClient;
  withConnection: WithConnection;
  logger: EmopLogger;
  /** The job's own abort signal, following the worker's (shared by all its jobs, so not listened to directly). */
  signal: AbortSignal;
  /** Waits for per-meter locks still held for the request gap; call before the job returns. */
  drain(): Promise<void>;
}

/** What a meter job needs: the job's pool connections, an EMOP client behind the advisory meter lock, its logger. */
export function meterJobContext(
  helpers: JobHelpers,
  settings: EmopSettings | undefined,
  context: Record<string, unknown>,
): MeterJobContext {
  const logger = jobLogger(helpers.logger, context);
  const withConnection: WithConnection = (fn) => helpers.withPgClient((client) => fn(client));
  const lock = advisoryMeterLock(withConnection, { holdAfterMs: gapOf(settings) });
  return {
    client: clientFor(settings, lock.withMeterLock, logger),
    withConnection,
    logger,
    signal: AbortSignal.any([helpers.abortSignal]),
    drain: lock.drain,
  };
}
