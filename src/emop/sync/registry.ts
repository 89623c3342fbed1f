// Meters as the jobs and the CLI see them: how to reach one (flows.meter_registry) and its registers in service.
import { z } from 'zod';
import { maybeOne, type Queryable } from '../../db/client.ts';
import type { MeterTarget } from '../session.ts';

export interface RegistryMeter {
  id: string;
  esco: string;
  serial: string;
  host: string | null;
  port: number;
  mode: 'active' | 'passive';
  prepayEnabled: boolean;
  daylightSavings: boolean;
  /** Register in service now per element ('A', 'B', 'SINGLE'). */
  registers: Partial<Record<'A' | 'B' | 'SINGLE', string>>;
}

const row = z.object({
  id: z.string(),
  esco: z.string(),
  serial: z.string(),
  host: z.string().nullable(),
  port: z.number().int(),
  mode: z.enum(['active', 'passive']),
  prepay_enabled: z.boolean(),
  daylight_savings_correction_enabled: z.boolean(),
  registers: z.partialRecord(z.enum(['A', 'B', 'SINGLE']), z.string()).nullable(),
});

const selectMeter = `
  select m.id, m.esco, m.serial, host(m.ip_address) as host, m.port, m.mode, m.prepay_enabled,
         m.daylight_savings_correction_enabled,
         (select jsonb_object_agg(r.element, r.register_id) from flows.meter_registers r
           where r.meter_id = m.id and r.start_time <= now() and (r.end_time is null or r.end_time > now())) as registers
    from flows.meter_registry m`;

function parse(value: unknown): RegistryMeter {
  const r = row.parse(value);
  return {
    id: r.id,
    esco: r.esco,
    serial: r.serial,
    host: r.host,
    port: r.port,
    mode: r.mode,
    prepayEnabled: r.prepay_enabled,
    daylightSavings: r.daylight_savings_correction_enabled,
    registers: r.registers ?? {},
  };
}

export async function meterById(db: Queryable, id: string): Promise<RegistryMeter | undefined> {
  const found = await maybeOne(db, `${selectMeter} where m.id = $1`, [id]);
  return found && parse(found);
}

export async function meterBySerial(db: Queryable, serial: string): Promise<RegistryMeter | undefined> {
  const found = await maybeOne(db, `${selectMeter} where m.serial = $1`, [serial]);
  return found && parse(found);
}

/** How the client reaches the meter, or undefined when it has no address. Keyed by serial. */
export function targetOf(meter: RegistryMeter): MeterTarget | undefined {
  if (meter.host === null) return undefined;
  return { host: meter.host, port: meter.port, key: meter.serial, daylightSavings: meter.daylightSavings };
}

export class MeterNotFoundError extends Error {
  constructor(readonly meter: string) {
    super(`meter ${meter} not found in flows.meter_registry`);
    this.name = 'MeterNotFoundError';
  }
}

export class MeterUnreachableError extends Error {
  constructor(readonly serial: string) {
    super(`meter ${serial} has no IP address in flows.meter_registry`);
    this.name = 'MeterUnreachableError';
  }
}
