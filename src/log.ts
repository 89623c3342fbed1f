// The one logger: pino JSON to stdout. Child loggers carry context (job id, meter, request id).
import { pino, type Logger } from 'pino';
import type { RuntimeConfig } from './config.ts';

export type { Logger };

export type LoggerKind = 'service' | 'command';

/**
 * Logs go to stderr, so stdout carries only what a command prints (tokens, psql output).
 * Services log at info by default, one-shot commands at warn; LOG_LEVEL overrides both.
 */
export function createLogger(runtime: RuntimeConfig, kind: LoggerKind = 'service'): Logger {
  const fallback = kind === 'command' || runtime.env === 'test' ? 'warn' : 'info';
  return pino({
    name: 'flows',
    level: runtime.logLevel ?? fallback,
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
