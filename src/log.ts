// The one logger: pino JSON to stderr. Child loggers carry context (job id, meter, request id).
import { randomUUID } from 'node:crypto';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { RuntimeConfig } from './config.ts';
import { errorTracker } from './metrics/error-tracking.ts';

export type { Logger };

export type LoggerKind = 'service' | 'command';

/**
 * Logs go to stderr, so stdout carries only what a command prints (tokens, psql output).
 * Services log at info by default, one-shot commands at warn; LOG_LEVEL overrides both.
 * With SENTRY_DSN set, the error and fatal lines logged (LOG_LEVEL permitting) are also sent to Sentry
 * (src/metrics/error-tracking.ts). `destination` replaces stderr (tests).
 */
export function createLogger(
  runtime: RuntimeConfig,
  kind: LoggerKind = 'service',
  destination?: DestinationStream,
): Logger {
  const fallback = kind === 'command' || runtime.env === 'test' ? 'warn' : 'info';
  const tracker =
    runtime.sentryDsn === undefined
      ? undefined
      : errorTracker(runtime.sentryDsn, {
          environment: runtime.env,
          // Logged at warn: an error line here would be sent again.
          onFailure: (error) => logger.warn({ err: error }, 'error tracking: event not delivered'),
        });
  const logger: Logger = pino(
    {
      name: 'flows',
      level: runtime.logLevel ?? fallback,
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization'],
        censor: '[redacted]',
      },
      ...(tracker && {
        hooks: {
          logMethod(args, method, level) {
            if (level >= 50) {
              const [first, second] = args as unknown[];
              const context = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {};
              const message = typeof first === 'string' ? first : typeof second === 'string' ? second : undefined;
              tracker.capture({ ...this.bindings(), ...(first instanceof Error ? { err: first } : context) }, message);
            }
            method.apply(this, args);
          },
        },
      }),
    },
    destination ?? pino.destination(2),
  );
  return logger;
}

/** An incoming request id kept when it is a plain token (letters, digits, `-_.:`; at most 128), else a new UUID. */
export function requestIdFrom(incoming: string | undefined): string {
  return incoming !== undefined && /^[A-Za-z0-9._:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
}
