// The realtime service's /metrics (an extra route of src/realtime/server.ts): connections,
// subscriptions, clients dropped for back-pressure, and whether it is listening for changes.
import type { Logger } from '../log.ts';
import type { RealtimeStats, RouteHandler } from '../realtime/server.ts';
import { contentType, Registry } from './registry.ts';

/** The `/metrics` route; `stats` is read at each scrape (undefined until the server has started). */
export function realtimeMetricsRoute(stats: () => RealtimeStats | undefined, log: Logger): RouteHandler {
  const registry = new Registry();
  const connections = registry.gauge('flows_realtime_connections', 'Open client connections (SSE and WebSocket).');
  const subscriptions = registry.gauge('flows_realtime_subscriptions', 'Active subscriptions over all connections.');
  const dropped = registry.counter(
    'flows_realtime_clients_dropped_total',
    'Clients disconnected because they read too slowly (back-pressure).',
  );
  const listening = registry.gauge(
    'flows_realtime_listening',
    '1 while the service is listening for database changes, else 0.',
  );
  let droppedSeen = 0;
  registry.onCollect(() => {
    const s = stats();
    if (s === undefined) return;
    connections.set({}, s.connections);
    subscriptions.set({}, s.subscriptions);
    dropped.inc({}, Math.max(0, s.dropped - droppedSeen));
    droppedSeen = Math.max(droppedSeen, s.dropped);
    listening.set({}, s.listening ? 1 : 0);
  });
  return (_req, res) => {
    void registry
      .render((error) => log.warn({ err: error }, 'metrics collector failed'))
      .then((text) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
        res.end(text);
      });
  };
}
