// Optional error tracking: with SENTRY_DSN set, every error-level log line is also sent to Sentry
// as an event, posted in Sentry's envelope format with fetch (no SDK). Only the log's context
// fields that carry no personal data are sent: the message, the error's type, message and stack,
// and the ids that find the request or job again.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/** The parts of a DSN (`https://<public key>@<host>/<path>/<project id>`) a sender needs. */
export interface Dsn {
  raw: string;
  publicKey: string;
  envelopeUrl: string;
}

export function parseDsn(dsn: string): Dsn {
  const url = new URL(dsn);
  const path = url.pathname.split('/').filter((p) => p !== '');
  const project = path.pop();
  if (url.username === '' || project === undefined || !/^\d+$/.test(project)) {
    throw new Error('SENTRY_DSN: expected https://<key>@<host>/<project id>');
  }
  const prefix = path.length === 0 ? '' : `/${path.join('/')}`;
  return {
    raw: dsn,
    publicKey: decodeURIComponent(url.username),
    envelopeUrl: `${url.protocol}//${url.host}${prefix}/api/${project}/envelope/`,
  };
}

/** Context fields copied into the event's tags: ids and classes, never values people typed. */
const tagFields = ['requestId', 'jobId', 'task', 'workerId', 'component', 'method', 'path', 'status', 'role'];

interface LoggedError {
  type?: unknown;
  name?: unknown;
  message?: unknown;
  stack?: unknown;
}

function exceptionOf(err: LoggedError) {
  const type = typeof err.type === 'string' ? err.type : typeof err.name === 'string' ? err.name : 'Error';
  const stack = typeof err.stack === 'string' ? err.stack : undefined;
  // Sentry wants frames oldest first; a V8 stack lists the newest first.
  const frames = (stack ?? '')
    .split('\n')
    .slice(1)
    .map((line) => /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ function: m[1] ?? '?', filename: m[2], lineno: Number(m[3]), colno: Number(m[4]) }))
    .reverse();
  return {
    type,
    value: typeof err.message === 'string' ? err.message : String(err.message ?? ''),
    ...(frames.length > 0 ? { stacktrace: { frames } } : {}),
  };
}

export interface ErrorTracker {
  /** Sends one logged error (its context object and message); never throws, never waits. */
  capture(context: Record<string, unknown>, message: string | undefined): void;
  /** Resolves when every event sent so far has been answered (or failed). */
  flush(): Promise<void>;
}

/** A sender for `dsn`; `onFailure` hears of events that could not be delivered. */
export function errorTracker(
  dsn: string,
  options: { environment: string; release?: string; timeoutMs?: number; onFailure?: (error: unknown) => void },
): ErrorTracker {
  const target = parseDsn(dsn);
  const pending = new Set<Promise<void>>();
  const auth = `Sentry sentry_version=7, sentry_key=${target.publicKey}, sentry_client=flows/${options.release ?? '0'}`;
  return {
    capture(context, message) {
      const eventId = randomUUID().replace(/-/g, '');
      const err = context.err as LoggedError | undefined;
      const tags: Record<string, string> = {};
      for (const field of tagFields) if (context[field] !== undefined) tags[field] = String(context[field]);
      const event = {
        event_id: eventId,
        timestamp: Date.now() / 1000,
        platform: 'node',
        level: 'error',
        logger: 'flows',
        server_name: hostname(),
        environment: options.environment,
        ...(options.release ? { release: options.release } : {}),
        ...(message ? { message: { formatted: message } } : {}),
        ...(err && typeof err === 'object' ? { exception: { values: [exceptionOf(err)] } } : {}),
        tags,
      };
      const body = [
        JSON.stringify({ event_id: eventId, dsn: target.raw, sent_at: new Date().toISOString() }),
        JSON.stringify({ type: 'event', content_type: 'application/json' }),
        JSON.stringify(event),
      ].join('\n');
      const sending = fetch(target.envelopeUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-sentry-envelope', 'X-Sentry-Auth': auth },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      })
        .then(async (res) => {
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`Sentry answered ${res.status}`);
        })
        .catch((error: unknown) => options.onFailure?.(error))
        .finally(() => pending.delete(sending));
      pending.add(sending);
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
