// Pushing future tariffs: public.meters_missing_future_tariffs(esco) lists the meters whose reported future
// tariff differs from the one they should hold. For one meter: write it (the eleven writes, activation time
// last), read it back, store what the meter reports in the shadow, and report a meter that still disagrees.
import { z } from 'zod';
import { many, type Queryable } from '../../db/client.ts';
import type { EmopClient, FutureTariffsReading } from '../client.ts';
import type { EmopLogger } from '../log.ts';
import type { WithConnection } from '../pg-lock.ts';
import { compareMoney } from '../units.ts';
import { futureTariffJson } from './meter-sync.ts';
import { meterById, targetOf } from './registry.ts';

const numeric = z.union([z.string(), z.number()]).transform(String);
const missingRow = z.object({
  meter_id: z.string(),
  serial: z.string(),
  esco_code: z.string(),
  activation_datetime: z.date(),
  standing_charge: numeric,
  unit_rate_element_a: numeric,
  unit_rate_element_b: numeric,
  prepayment_emergency_credit: numeric,
  prepayment_ecredit_availability: numeric,
  prepayment_debt_recovery_rate: numeric,
});
export type MissingFutureTariff = z.infer<typeof missingRow>;

export async function missingFutureTariffs(db: Queryable, escoCode: string): Promise<MissingFutureTariff[]> {
  const rows = await many(db, `select * from public.meters_missing_future_tariffs($1)`, [escoCode]);
  return rows.map((r) => missingRow.parse(r));
}

export async function escoCodes(db: Queryable): Promise<string[]> {
  return (await many<{ code: string }>(db, `select code from flows.escos order by code`)).map((r) => r.code);
}

export type PushOutcome = 'up_to_date' | 'pushed' | 'disagrees' | 'no_address';

/** What differs between the tariff wanted and the one the meter reports (empty when they agree). */
export function disagreements(wanted: MissingFutureTariff, reported: FutureTariffsReading): string[] {
  const pairs: [string, string, string][] = [
    ['standing_charge', wanted.standing_charge, reported.standingCharge],
    ['unit_rate_element_a', wanted.unit_rate_element_a, reported.unitRateElementA],
    ['unit_rate_element_b', wanted.unit_rate_element_b, reported.unitRateElementB],
    ['prepayment_emergency_credit', wanted.prepayment_emergency_credit, reported.emergencyCredit],
    ['prepayment_ecredit_availability', wanted.prepayment_ecredit_availability, reported.eCreditAvailability],
    ['prepayment_debt_recovery_rate', wanted.prepayment_debt_recovery_rate, reported.debtRecoveryRate],
  ];
  const out = pairs
    .filter(([, a, b]) => compareMoney(a, b) !== 0)
    .map(([k, a, b]) => `${k} wanted ${a}, meter has ${b}`);
  if (reported.activationTime?.getTime() !== wanted.activation_datetime.getTime()) {
    out.push(
      `activation_datetime wanted ${wanted.activation_datetime.toISOString()}, meter has ${reported.activationTime?.toISOString() ?? 'none'}`,
    );
  }
  return out;
}

/** Pushes the future tariff one meter is missing (re-checked now, so a repeated job does nothing). */
export async function pushFutureTariff(
  deps: { client: EmopClient; withConnection: WithConnection; logger: EmopLogger },
  escoCode: string,
  meterId: string,
  signal?: AbortSignal,
): Promise<PushOutcome> {
  const { client, withConnection, logger } = deps;
  const wanted = (await withConnection((db) => missingFutureTariffs(db, escoCode))).find((m) => m.meter_id === meterId);
  if (!wanted) return 'up_to_date';
  const meter = await withConnection((db) => meterById(db, meterId));
  const target = meter && targetOf(meter);
  if (!meter || !target) return 'no_address';
  const record = (outcome: 'ok' | 'failed', error: string | null) =>
    withConnection((db) =>
      db.query(
        `insert into flows.meter_sync_runs (meter_id, esco, finished_at, outcome, metrics, error)
         values ($1, $2, now(), $3, $4, $5)`,
        [meter.id, meter.esco, outcome, outcome === 'ok' ? ['tariffs_future_write'] : [], error],
      ),
    );
  try {
    await client.tariffsFutureWrite(
      target,
      {
        standingCharge: wanted.standing_charge,
        unitRateElementA: wanted.unit_rate_element_a,
        unitRateElementB: wanted.unit_rate_element_b,
        emergencyCredit: wanted.prepayment_emergency_credit,
        eCreditAvailability: wanted.prepayment_ecredit_availability,
        debtRecoveryRate: wanted.prepayment_debt_recovery_rate,
        activationTime: wanted.activation_datetime,
      },
      { signal },
    );
  } catch (error) {
    if (!signal?.aborted) await record('failed', `tariffs_future_write: ${(error as Error).message}`);
    throw error;
  }
  const reported = await client.tariffsFutureRead(target, { signal });
  await withConnection((db) =>
    db.query(`update flows.meter_shadows set tariffs_future = $2 where id = $1`, [
      meter.id,
      JSON.stringify(futureTariffJson(reported)),
    ]),
  );
  const problems = disagreements(wanted, reported);
  if (problems.length > 0) {
    const error = `future tariff still differs after the write: ${problems.join('; ')}`;
    await record('failed', error);
    logger.error({ problems }, 'future tariff disagrees after the write');
    return 'disagrees';
  }
  await record('ok', null);
  logger.info({ activation: wanted.activation_datetime.toISOString() }, 'future tariff pushed');
  return 'pushed';
}
