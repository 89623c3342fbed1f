// Where a simulated fleet comes from: a JSON config file (validated with zod, every problem reported with its
// path) or flows.meter_registry (the meters on 127.0.0.1, with their ports, element count and prepay flag).
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Queryable } from '../../db/client.ts';
import type { FaultRule } from './faults.ts';
import type { SimulatedMeterConfig } from './meter-model.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from './index.ts';

export class FleetConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid simulator config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'FleetConfigError';
  }
}

const money = z.string().regex(/^-?\d+(\.\d{1,5})?$/, { error: 'expected GBP as a string with at most 5 decimals' });
const nonNegativeInt = z.number().int().min(0);
const times = z.union([z.number().int().min(1), z.literal('always')]).optional();
const faultRule = z
  .object({
    fault: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('drop') }),
      z.object({ kind: z.literal('silence') }),
      z.object({ kind: z.literal('delay'), ms: nonNegativeInt }),
      z.object({ kind: z.literal('badCrc') }),
      z.object({ kind: z.literal('nak'), code: z.number().int().min(1).max(31) }),
      z.object({ kind: z.literal('truncate') }),
      z.object({ kind: z.literal('reset') }),
      z.object({ kind: z.literal('garbage') }),
      z.object({ kind: z.literal('ignoreWrite') }),
    ]),
    /** How many requests it applies to, or 'always'; default 1. */
    times,
    /** Object id as hex, e.g. "FFC802". */
    oid: z
      .string()
      .regex(/^[0-9A-Fa-f]{6}$/, { error: 'expected a 6-digit hex object id' })
      .optional(),
  })
  .strict();

const tariff = z
  .object({
    standingCharge: money,
    unitRateElementA: money,
    unitRateElementB: money,
    emergencyCredit: money,
    eCreditAvailability: money,
    debtRecoveryRate: money,
  })
  .partial()
  .strict();

const meter = z
  .object({
    serial: z.string().regex(/^[A-Za-z0-9-]{1,32}$/, { error: 'expected 1-32 letters, digits or dashes' }),
    port: z.number().int().min(0).max(65535).optional(),
    address: z.number().int().min(0).max(0xffffff).optional(),
    twinElement: z.boolean().optional(),
    hardwareVersion: z.string().max(4).optional(),
    firmwareVersion: z.string().optional(),
    daylightSavings: z.boolean().optional(),
    clockOffsetSeconds: z.number().int().optional(),
    seed: z.number().int().optional(),
    balance: money.optional(),
    debt: money.optional(),
    prepayEnabled: z.boolean().optional(),
    autoEmergencyCredit: z.boolean().optional(),
    signalQuality: z
      .object({ networkOperator: z.number().int().min(0).max(7), csq: z.number().int().min(0).max(31) })
      .strict()
      .optional(),
    voltageDecivolts: nonNegativeInt.max(0xffff).optional(),
    importWhPerHalfHour: nonNegativeInt.optional(),
    exportWhPerHalfHour: nonNegativeInt.optional(),
    profileLogStart: z.iso.datetime({ offset: true }).optional(),
    tariff: tariff.optional(),
    monetaryTransactionCount: nonNegativeInt.max(0xffff).optional(),
    latencyMs: nonNegativeInt.optional(),
    busyAfterRequestMs: nonNegativeInt.optional(),
    refuseConnections: z.boolean().optional(),
    faults: z.array(faultRule).optional(),
  })
  .strict();

const fleet = z
  .object({
    host: z.string().optional(),
    tokenKey: z.string().min(1).optional(),
    daylightSavingsFlagOid: z
      .string()
      .regex(/^[0-9A-Fa-f]{6}$/)
      .optional(),
    /** The simulated clock: starts at `start` (default now) and runs `speed` times real time (default 1). */
    clock: z
      .object({ start: z.iso.datetime({ offset: true }).optional(), speed: z.number().positive().optional() })
      .strict()
      .optional(),
    meters: z.array(meter).min(1, { error: 'expected at least one meter' }),
  })
  .strict()
  .superRefine((value, ctx) => {
    const seen = new Map<string, number>();
    value.meters.forEach((m, i) => {
      const first = seen.get(m.serial);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['meters', i, 'serial'], message: `repeats meters[${first}]` });
      }
      seen.set(m.serial, i);
    });
  });

export type FleetConfig = z.infer<typeof fleet>;

/** Parses a fleet config (already JSON-decoded) into simulator options. */
export function parseFleetConfig(input: unknown, source = 'config'): SimulatorOptions {
  const parsed = fleet.safeParse(input);
  if (!parsed.success) {
    throw new FleetConfigError(
      source,
      parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`),
    );
  }
  const config = parsed.data;
  const meters = config.meters.map(({ faults, profileLogStart, ...rest }): SimulatedMeterConfig => ({
    ...rest,
    profileLogStart: profileLogStart === undefined ? undefined : new Date(profileLogStart),
    faults: faults?.map((rule): FaultRule => ({
      fault: rule.fault,
      times: rule.times === 'always' ? Infinity : rule.times,
      oid: rule.oid === undefined ? undefined : parseInt(rule.oid, 16),
    })),
  }));
  return {
    meters,
    host: config.host,
    tokenKey: config.tokenKey,
    daylightSavingsFlagOid:
      config.daylightSavingsFlagOid === undefined ? undefined : parseInt(config.daylightSavingsFlagOid, 16),
    now: config.clock ? simulatedClock(config.clock.start, config.clock.speed ?? 1) : undefined,
  };
}

/** Reads and parses a JSON fleet config file. */
export async function loadFleetConfig(file: string): Promise<SimulatorOptions> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new FleetConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FleetConfigError(file, [`not JSON: ${(error as Error).message}`]);
  }
  return parseFleetConfig(json, file);
}

/** A clock starting at `start` (default now) running `speed` times real time. */
export function simulatedClock(start: string | undefined, speed: number): () => number {
  const origin = performance.timeOrigin + performance.now();
  const startMs = start === undefined ? origin : Date.parse(start);
  return () => startMs + (performance.timeOrigin + performance.now() - origin) * speed;
}

const registryRow = z.object({
  serial: z.string(),
  port: z.number().int(),
  twin: z.boolean(),
  prepay_enabled: z.boolean(),
  daylight_savings_correction_enabled: z.boolean(),
});

/**
 * The meters of flows.meter_registry on 127.0.0.1 (the demo fleet), each simulated on its registered port:
 * twin element when a B register is in service, prepay per the registry, clock zone per its DST flag.
 */
export async function fleetFromRegistry(db: Queryable): Promise<SimulatedMeterConfig[]> {
  const { rows } = await db.query(
    `select m.serial, m.port, m.prepay_enabled, m.daylight_savings_correction_enabled,
            exists (select 1 from flows.meter_registers r
                     where r.meter_id = m.id and r.element = 'B' and (r.end_time is null or r.end_time > now())) as twin
       from flows.meter_registry m
      where m.ip_address = '127.0.0.1'::inet
      order by m.serial`,
  );
  return rows.map((row) => {
    const m = registryRow.parse(row);
    return {
      serial: m.serial,
      port: m.port,
      twinElement: m.twin,
      prepayEnabled: m.prepay_enabled,
      daylightSavings: m.daylight_savings_correction_enabled,
    };
  });
}

/**
 * Starts the simulated fleet of flows.meter_registry (the demo meters at 127.0.0.1), or returns undefined when
 * there is none. For `flows dev`: call it once the registry is seeded, and close it on shutdown.
 */
export async function startRegistryFleet(db: Queryable): Promise<Simulator | undefined> {
  const meters = await fleetFromRegistry(db);
  return meters.length === 0 ? undefined : startSimulator({ meters });
}
