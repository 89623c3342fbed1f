// `flows realtime`: the live-updates service (src/realtime/, docs/realtime.md), on the REST layer's
// PGRST_* settings (database as the authenticator, schemas, JWT) and the FLOWS_REALTIME_* ones.
import type { Command } from 'commander';
import { loadConfig, processEnv } from '../config.ts';
import { createLogger } from '../log.ts';
import { realtimeMetricsRoute } from '../metrics/realtime.ts';
import { startRealtime, type RealtimeServer } from '../realtime/server.ts';
import { exitOnSignals, onShutdown } from '../shutdown.ts';

export function register(program: Command): void {
  program
    .command('realtime')
    .description('stream changes of watched tables over WebSocket (/ws) and Server-Sent Events (/subscribe/…)')
    .action(async () => {
      const { rest, realtime, runtime } = loadConfig(['rest', 'realtime'], processEnv());
      const log = createLogger(runtime);
      exitOnSignals(log, runtime.shutdownTimeoutMs);
      const started: { server?: RealtimeServer } = {};
      const metrics = realtimeMetricsRoute(() => started.server?.stats(), log.child({ component: 'realtime-metrics' }));
      const server = await startRealtime(rest, realtime, log.child({ component: 'realtime' }), {
        routes: { '/metrics': metrics },
      });
      started.server = server;
      onShutdown('realtime', () => server.close());
    });
}
