// `flows simulator [--config file | --from-registry]`: a simulated meter fleet on loopback TCP ports until
// SIGINT/SIGTERM. From a JSON config file (src/emop/simulator/fleet.ts), or from flows.meter_registry: every
// meter registered at 127.0.0.1, on its port (the demo fleet).
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { withClient } from '../db/client.ts';
import { openDatabase } from '../db/server.ts';
import { fleetFromRegistry, loadFleetConfig } from '../emop/simulator/fleet.ts';
import { startSimulator, type SimulatorOptions } from '../emop/simulator/index.ts';
import { createLogger } from '../log.ts';
import { exitOnSignals, onShutdown } from '../shutdown.ts';

export function register(program: Command): void {
  program
    .command('simulator')
    .description('run simulated EMOP meters on loopback ports until interrupted')
    .option('--config <file>', 'fleet config (JSON)')
    .option('--from-registry', 'simulate the meters of flows.meter_registry at 127.0.0.1 (DATABASE_URL or embedded)')
    .action(async (options: { config?: string; fromRegistry?: boolean }) => {
      if ((options.config === undefined) === (options.fromRegistry === undefined)) {
        throw new Error('give either --config <file> or --from-registry');
      }
      const { runtime } = loadConfig([]);
      const log = createLogger(runtime);
      exitOnSignals(log, runtime.shutdownTimeoutMs);
      let simulatorOptions: SimulatorOptions;
      if (options.config !== undefined) {
        simulatorOptions = await loadFleetConfig(options.config);
      } else {
        const { database } = loadConfig(['database']);
        const db = await openDatabase(database, log);
        try {
          simulatorOptions = { meters: await withClient(db.adminUrl, (client) => fleetFromRegistry(client)) };
        } finally {
          await db.release();
        }
        if (simulatorOptions.meters.length === 0) throw new Error('no meters at 127.0.0.1 in flows.meter_registry');
      }
      const simulator = await startSimulator(simulatorOptions);
      onShutdown('simulator', () => simulator.close());
      for (const meter of simulator.meters)
        log.info({ meter: meter.serial, port: meter.port }, 'simulated meter listening');
      log.info({ meters: simulator.meters.length }, 'simulator running; Ctrl-C stops it');
    });
}
