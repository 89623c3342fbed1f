// The scenario's data and meters: the demo data set (two ESCOs with customers, accounts, tariffs and
// half-hourly data to bill last month) plus a load ESCO of sync-only meters, all simulated on loopback.
// One meter in ten is faulty: half of those never answer, half fail their first few requests.
import pg from 'pg';
import { many, one } from '../../src/db/client.ts';
import { fleetFromRegistry } from '../../src/emop/simulator/fleet.ts';
import { startSimulator, type Simulator, type SimulatedMeterConfig } from '../../src/emop/simulator/index.ts';
import { seedDemo } from '../../src/seed/demo.ts';

export interface Fleet {
  simulator: Simulator;
  /** Meters that never answer (their data cannot arrive). */
  unreachable: Set<string>;
  /** Meters that fail their first requests, then answer. */
  flaky: Set<string>;
  total: number;
}

const DAY_MS = 86_400_000;

/** Seeds the database at `url` and starts `meters` simulated meters (the demo's first, then load ones). */
export async function prepareFleet(url: string, meters: number, now: Date): Promise<Fleet> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Enough days to bill the previous calendar month.
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
    const days = Math.ceil((now.getTime() - monthStart) / DAY_MS) + 2;
    await seedDemo(client, { days, seed: 11, until: now });
    const demo = await fleetFromRegistry(client);
    const loadCount = Math.max(0, meters - demo.length);
    const load: SimulatedMeterConfig[] = Array.from({ length: loadCount }, (_, i) => ({
      serial: `LOAD${String(i).padStart(5, '0')}`,
      prepayEnabled: i % 2 === 0,
    }));
    const unreachable = new Set<string>();
    const flaky = new Set<string>();
    load.forEach((meter, i) => {
      if (i % 10 !== 3) return;
      if (Math.floor(i / 10) % 2 === 0) {
        // Accepts connections but drops every request (a refusing meter would free its port for another).
        unreachable.add(meter.serial);
        meter.faults = [{ fault: { kind: 'drop' }, times: Infinity }];
      } else {
        flaky.add(meter.serial);
        meter.faults = [
          { fault: { kind: 'drop' }, times: 2 },
          { fault: { kind: 'badCrc' }, times: 1 },
          { fault: { kind: 'garbage' }, times: 1 },
        ];
      }
    });
    // Every meter on a free port (the demo registry's fixed ports may be taken by `npm start`).
    const simulator = await startSimulator({ meters: [...demo.map(({ port: _, ...m }) => m), ...load] });
    const ports = new Map(simulator.meters.map((m) => [m.serial, m.port]));
    await client.query(
      `update flows.meter_registry m set port = p.port
         from unnest($1::text[], $2::int[]) as p (serial, port) where m.serial = p.serial`,
      [demo.map((m) => m.serial), demo.map((m) => ports.get(m.serial))],
    );
    const esco = await one<{ id: string }>(
      client,
      `insert into flows.escos (code, name, region) values ('LOAD', 'Load test ESCO', 'J') returning id`,
    );
    await client.query(
      `with m as (
         insert into flows.meter_registry (esco, serial, ip_address, port, prepay_enabled)
         select $1, s.serial, '127.0.0.1', s.port, s.prepay from unnest($2::text[], $3::int[], $4::bool[]) as s (serial, port, prepay)
         returning id)
       insert into flows.meter_registers (meter_id, esco, element, start_time)
       select m.id, $1, 'SINGLE', now() - interval '10 days' from m`,
      [esco.id, load.map((m) => m.serial), load.map((m) => ports.get(m.serial)), load.map((m) => m.prepayEnabled)],
    );
    const registered = await many(client, `select 1 from flows.meter_registry where ip_address = '127.0.0.1'`);
    return { simulator, unreachable, flaky, total: registered.length };
  } finally {
    await client.end();
  }
}
