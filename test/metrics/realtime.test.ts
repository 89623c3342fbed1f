// The realtime service's /metrics route, served from its stats().
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { realtimeMetricsRoute } from '../../src/metrics/realtime.ts';
import type { RealtimeStats } from '../../src/realtime/server.ts';

describe('realtime metrics', () => {
  let stats: RealtimeStats | undefined;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const log = createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 });
    server = createServer(realtimeMetricsRoute(() => stats, log));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('exports connections, subscriptions, drops and listening', async () => {
    const before = await (await fetch(url)).text();
    expect(before).toContain('# TYPE flows_realtime_connections gauge');
    expect(before).not.toMatch(/^flows_realtime_connections /m);
    stats = { connections: 3, subscriptions: 5, dropped: 2, listening: true };
    const res = await fetch(url);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toMatch(/^flows_realtime_connections 3$/m);
    expect(text).toMatch(/^flows_realtime_subscriptions 5$/m);
    expect(text).toMatch(/^flows_realtime_clients_dropped_total 2$/m);
    expect(text).toMatch(/^flows_realtime_listening 1$/m);
    stats = { connections: 1, subscriptions: 1, dropped: 4, listening: false };
    const later = await (await fetch(url)).text();
    expect(later).toMatch(/^flows_realtime_clients_dropped_total 4$/m);
    expect(later).toMatch(/^flows_realtime_listening 0$/m);
  });
});
