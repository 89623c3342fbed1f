// The REST gateway's metrics, served on its admin port beside /live and /ready. Pool and schema cache
// series use PostgREST's names (pgrst_db_pool_*, pgrst_schema_cache_*), so dashboards work against either
// server; PostgREST has no request metrics, so those are ours (flows_rest_*). The gateway calls `observe`
// once per response and `schemaCacheLoaded` after each schema cache load.
import type pg from 'pg';
import { Registry } from './registry.ts';

/** What a request did, for the metrics: a handful of classes, never the path itself (unbounded). */
export type RouteClass = 'read' | 'write' | 'rpc' | 'openapi' | 'options';

export function routeClass(method: string, url: string): RouteClass {
  if (method === 'OPTIONS') return 'options';
  if (url.startsWith('/rpc/')) return 'rpc';
  const end = url.indexOf('?');
  if ((end === -1 ? url : url.slice(0, end)) === '/') return 'openapi';
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

/** Latency buckets (seconds): API calls are mostly milliseconds, exports and RPCs may take seconds. */
const latencyBuckets = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface RestMetrics {
  registry: Registry;
  /** Records one answered request; `seconds` from its arrival to the response. */
  observe(method: string, url: string, status: number, seconds: number): void;
  /** Records one schema cache load: its outcome and, when it succeeded, how long its queries took. */
  schemaCacheLoaded(status: 'SUCCESS' | 'FAIL', querySeconds?: number): void;
}

export function restMetrics(pool: pg.Pool, poolMax: number): RestMetrics {
  const registry = new Registry();
  const requests = registry.counter(
    'flows_rest_requests_total',
    'Requests answered, by route class (read, write, rpc, openapi, options) and status class (2xx, 4xx, 5xx).',
    ['route', 'status'],
  );
  const errors = registry.counter('flows_rest_errors_total', 'Requests answered with a 5xx status, by route class.', [
    'route',
  ]);
  const latency = registry.histogram(
    'flows_rest_request_duration_seconds',
    'Time from a request arriving to its response being written, by route class.',
    ['route'],
    latencyBuckets,
  );
  const max = registry.gauge('pgrst_db_pool_max', 'Max pool connections');
  const available = registry.gauge('pgrst_db_pool_available', 'Available connections in the pool');
  const waiting = registry.gauge('pgrst_db_pool_waiting', 'Requests waiting to acquire a pool connection');
  const timeouts = registry.counter('pgrst_db_pool_timeouts_total', 'The total number of pool connection timeouts');
  const connections = registry.gauge(
    'flows_rest_db_pool_connections',
    'Connections the pool holds: total (open) and idle.',
    ['state'],
  );
  const cacheQueryTime = registry.gauge(
    'pgrst_schema_cache_query_time_seconds',
    'The query time in seconds of the last schema cache load',
  );
  const cacheLoads = registry.counter(
    'pgrst_schema_cache_loads_total',
    'The total number of times the schema cache was loaded',
    ['status'],
  );
  max.set({}, poolMax);
  timeouts.inc({}, 0);
  registry.onCollect(() => {
    // Available = not in use: idle connections plus the ones the pool may still open.
    available.set({}, poolMax - (pool.totalCount - pool.idleCount));
    waiting.set({}, pool.waitingCount);
    connections.set({ state: 'total' }, pool.totalCount);
    connections.set({ state: 'idle' }, pool.idleCount);
  });
  return {
    registry,
    observe(method, url, status, seconds) {
      const route = routeClass(method, url);
      requests.inc({ route, status: statusClass(status) });
      if (status >= 500) errors.inc({ route });
      // The gateway answers 504 only for PGRST003, a pool acquisition timeout.
      if (status === 504) timeouts.inc();
      latency.observe({ route }, seconds);
    },
    schemaCacheLoaded(status, querySeconds) {
      cacheLoads.inc({ status });
      if (querySeconds !== undefined) cacheQueryTime.set({}, querySeconds);
    },
  };
}
