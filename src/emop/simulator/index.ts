// TCP servers emulating a fleet of Emlite meters on loopback ports (port 0 = a free port), for tests,
// benchmarks and the demo.
import { DevelopmentTokenVendor, DEVELOPMENT_TOKEN_KEY } from '../tokens.ts';
import type { Money } from '../units.ts';
import { MeterModel, type SimulatedMeterConfig } from './meter-model.ts';
import { SimulatedMeter, type SimulatedMeterInfo } from './simulated-meter.ts';

export { FAULT_KINDS, type Fault, type FaultRule } from './faults.ts';
export type { SimulatedMeterConfig, SimulatedTariff } from './meter-model.ts';
export type { RequestLogEntry, SimulatedMeter, SimulatedMeterInfo } from './simulated-meter.ts';

export interface SimulatorOptions {
  meters: SimulatedMeterConfig[];
  /** Loopback only; default '127.0.0.1'. */
  host?: string;
  /** The simulator's time in ms since 1970 (meters' clocks, registers, request log); default the system clock, sub-millisecond. */
  now?: () => number;
  /** Id to answer for the DST flag object (unknown publicly; absent by default). */
  daylightSavingsFlagOid?: number;
  /** Credit for a top-up token, or undefined to reject it. Each token is accepted once. Default: development tokens. */
  redeemToken?: (serial: string, token: string) => Money | undefined;
  /** Key of the development token vendor whose tokens the meters accept (once each); default DEVELOPMENT_TOKEN_KEY. */
  tokenKey?: string;
}

export interface Simulator {
  meters: SimulatedMeterInfo[];
  /** The simulated meter with this serial, for fault injection, its request log and its state. */
  meter(serial: string): SimulatedMeter;
  close(): Promise<void>;
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? (() => performance.timeOrigin + performance.now());
  const meters = new Map<string, SimulatedMeter>();
  const tokenVendor = new DevelopmentTokenVendor(options.tokenKey ?? DEVELOPMENT_TOKEN_KEY);
  const close = () => Promise.all([...meters.values()].map((meter) => meter.close())).then(() => undefined);
  try {
    for (const [index, config] of options.meters.entries()) {
      const model = new MeterModel(config, {
        now,
        daylightSavingsFlagOid: options.daylightSavingsFlagOid,
        redeemToken: options.redeemToken,
        tokenVendor,
      });
      const meter = new SimulatedMeter(model, config.address ?? 0x001000 + index, now);
      meters.set(config.serial, meter);
      await meter.listen(host, config.port ?? 0);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    meters: [...meters.values()].map((meter) => meter.info),
    meter(serial) {
      const meter = meters.get(serial);
      if (!meter) throw new RangeError(`no simulated meter ${serial}`);
      return meter;
    },
    close,
  };
}
