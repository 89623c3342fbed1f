import { describe, expect, it } from 'vitest';
import { Registry } from '../../src/metrics/registry.ts';
import { routeClass } from '../../src/metrics/rest.ts';

describe('metrics registry', () => {
  it('renders counters, gauges and histograms in the text exposition format 0.0.4', async () => {
    const registry = new Registry();
    const requests = registry.counter('app_requests_total', 'Requests.\nSecond line', ['route', 'status']);
    const depth = registry.gauge('app_queue_depth', 'Queue depth.');
    const latency = registry.histogram('app_latency_seconds', 'Latency.', ['route'], [0.1, 1]);
    requests.inc({ route: 'read', status: '2xx' });
    requests.inc({ route: 'read', status: '2xx' }, 2);
    requests.inc({ route: 'say "hi"\\', status: '5xx' });
    depth.set({}, 7);
    latency.observe({ route: 'read' }, 0.05);
    latency.observe({ route: 'read' }, 0.5);
    latency.observe({ route: 'read' }, 3);
    expect(await registry.render()).toBe(
      [
        '# HELP app_requests_total Requests.\\nSecond line',
        '# TYPE app_requests_total counter',
        'app_requests_total{route="read",status="2xx"} 3',
        'app_requests_total{route="say \\"hi\\"\\\\",status="5xx"} 1',
        '# HELP app_queue_depth Queue depth.',
        '# TYPE app_queue_depth gauge',
        'app_queue_depth 7',
        '# HELP app_latency_seconds Latency.',
        '# TYPE app_latency_seconds histogram',
        'app_latency_seconds_bucket{route="read",le="0.1"} 1',
        'app_latency_seconds_bucket{route="read",le="1"} 2',
        'app_latency_seconds_bucket{route="read",le="+Inf"} 3',
        'app_latency_seconds_sum{route="read"} 3.55',
        'app_latency_seconds_count{route="read"} 3',
        '',
      ].join('\n'),
    );
  });

  it('refuses bad names, missing labels and decreasing counters', () => {
    const registry = new Registry();
    expect(() => registry.counter('bad-name', 'x')).toThrow(/invalid metric name/);
    expect(() => registry.gauge('ok', 'x', ['le'])).toThrow(/invalid label name/);
    const c = registry.counter('c_total', 'x', ['a']);
    expect(() => c.inc({})).toThrow(/label 'a' missing/);
    expect(() => c.inc({ a: '1' }, -1)).toThrow(/cannot decrease/);
    expect(() => registry.counter('c_total', 'again')).toThrow(/registered twice/);
  });

  it('runs collectors before rendering, replaces snapshot gauges and survives a failing collector', async () => {
    const registry = new Registry();
    const g = registry.gauge('snap', 'Snapshot.', ['k']);
    let round = 0;
    registry.onCollect(() => {
      round += 1;
      g.replace(round === 1 ? [{ labels: { k: 'a' }, value: 1 }] : [{ labels: { k: 'b' }, value: 2 }]);
    });
    registry.onCollect(async () => {
      throw new Error('collector down');
    });
    const errors: unknown[] = [];
    expect(await registry.render((e) => errors.push(e))).toContain('snap{k="a"} 1');
    const second = await registry.render((e) => errors.push(e));
    expect(second).toContain('snap{k="b"} 2');
    expect(second).not.toContain('k="a"');
    expect(errors).toHaveLength(2);
  });

  it('classifies REST routes without looking past the path', () => {
    expect(routeClass('GET', '/meters?select=*')).toBe('read');
    expect(routeClass('HEAD', '/meters')).toBe('read');
    expect(routeClass('PATCH', '/meters?id=eq.1')).toBe('write');
    expect(routeClass('POST', '/rpc/invoice_issue')).toBe('rpc');
    expect(routeClass('GET', '/rpc/x?a=1')).toBe('rpc');
    expect(routeClass('GET', '/')).toBe('openapi');
    expect(routeClass('GET', '/?x=1')).toBe('openapi');
    expect(routeClass('OPTIONS', '/meters')).toBe('options');
  });
});
