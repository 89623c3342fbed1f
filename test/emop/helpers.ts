// Shared test fixtures: a simulator on loopback and a client with millisecond timings.
import { afterEach } from 'vitest';
import { EmopClient, type EmopClientOptions } from '../../src/emop/client.ts';
import type { MeterTarget } from '../../src/emop/session.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/emop/simulator/index.ts';

const running: Simulator[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

/** Starts a simulator that is closed after the test. */
export async function simulate(options: SimulatorOptions): Promise<Simulator> {
  const simulator = await startSimulator(options);
  running.push(simulator);
  return simulator;
}

export function fastClient(options: EmopClientOptions = {}): EmopClient {
  return new EmopClient({
    connectTimeoutMs: 500,
    readTimeoutMs: 300,
    minRequestGapMs: 0,
    ...options,
    retry: { attempts: 3, initialDelayMs: 5, multiplier: 2, maxDelayMs: 20, ...options.retry },
  });
}

export function targetOf(simulator: Simulator, serial: string, extra: Partial<MeterTarget> = {}): MeterTarget {
  const info = simulator.meter(serial).info;
  return { host: info.host, port: info.port, key: serial, ...extra };
}
