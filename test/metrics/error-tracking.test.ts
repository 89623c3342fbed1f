// SENTRY_DSN: error lines go to Sentry as envelopes, checked against a local HTTP server standing in for it.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { parseDsn } from '../../src/metrics/error-tracking.ts';
import { logSink } from './log-sink.ts';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  lines: Record<string, unknown>[];
}

describe('error tracking', () => {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  let server: Server;
  let dsn: string;
  let status = 200;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const lines = Buffer.concat(parts)
          .toString('utf8')
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        received.push({ path: req.url ?? '', headers: req.headers, lines });
        res.statusCode = status;
        res.end('{}');
        waiters.splice(0).forEach((w) => w());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    dsn = `http://publickey123@127.0.0.1:${(server.address() as AddressInfo).port}/42`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  const next = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => (received.length >= count ? resolve() : waiters.push(check));
      check();
    });

  it('sends error lines as Sentry envelopes with the error, the message and the context ids only', async () => {
    const log = createLogger(
      { env: 'production', logLevel: 'warn', shutdownTimeoutMs: 1000, sentryDsn: dsn },
      'service',
      logSink().stream,
    );
    log.warn({ err: new Error('only a warning') }, 'not sent');
    const failure = new TypeError('kaboom');
    log
      .child({ jobId: '7', task: 'billing__run' })
      .error({ err: failure, requestId: 'req-1', email: 'someone@example.com' }, 'job failed');
    await next(1);
    const [envelope] = received;
    expect(envelope!.path).toBe('/api/42/envelope/');
    expect(envelope!.headers['content-type']).toBe('application/x-sentry-envelope');
    expect(envelope!.headers['x-sentry-auth']).toMatch(
      /^Sentry sentry_version=7, sentry_key=publickey123, sentry_client=flows\//,
    );
    const [header, item, event] = envelope!.lines as [
      Record<string, unknown>,
      Record<string, unknown>,
      Record<string, any>, // eslint-disable-line @typescript-eslint/no-explicit-any
    ];
    expect(header).toMatchObject({ event_id: event.event_id, dsn });
    expect(item).toEqual({ type: 'event', content_type: 'application/json' });
    expect(event.event_id).toMatch(/^[0-9a-f]{32}$/);
    expect(event).toMatchObject({
      level: 'error',
      platform: 'node',
      environment: 'production',
      message: { formatted: 'job failed' },
      tags: { jobId: '7', task: 'billing__run', requestId: 'req-1' },
    });
    expect(event.exception.values[0]).toMatchObject({ type: 'TypeError', value: 'kaboom' });
    expect(event.exception.values[0].stacktrace.frames.at(-1).filename).toContain('error-tracking.test.ts');
    expect(JSON.stringify(envelope!.lines)).not.toContain('someone@example.com');
    expect(received).toHaveLength(1);
  });

  it('reports an event Sentry refuses as a warning, never as another error', async () => {
    status = 500;
    const warnings = logSink();
    const log = createLogger(
      { env: 'test', logLevel: 'warn', shutdownTimeoutMs: 1000, sentryDsn: dsn },
      'service',
      warnings.stream,
    );
    try {
      const before = received.length;
      log.error('lost');
      await next(before + 1);
      while (!warnings.lines.some((l) => l.msg === 'error tracking: event not delivered'))
        await new Promise((r) => setTimeout(r, 10));
      expect(received).toHaveLength(before + 1);
    } finally {
      status = 200;
    }
    expect(warnings.lines.at(-1)).toMatchObject({ level: 40, msg: 'error tracking: event not delivered' });
  });

  it('parses DSNs and refuses malformed ones in the configuration', () => {
    expect(parseDsn('https://abc@o1.ingest.sentry.io/99')).toEqual({
      raw: 'https://abc@o1.ingest.sentry.io/99',
      publicKey: 'abc',
      envelopeUrl: 'https://o1.ingest.sentry.io/api/99/envelope/',
    });
    expect(parseDsn('https://abc@sentry.example.com/prefix/7').envelopeUrl).toBe(
      'https://sentry.example.com/prefix/api/7/envelope/',
    );
    expect(loadConfig([], { SENTRY_DSN: 'https://abc@sentry.example.com/7' }).runtime.sentryDsn).toBe(
      'https://abc@sentry.example.com/7',
    );
    expect(loadConfig([], { SENTRY_DSN: '' }).runtime.sentryDsn).toBeUndefined();
    expect(() => loadConfig([], { SENTRY_DSN: 'https://sentry.example.com/7' })).toThrow(ConfigError);
  });
});
