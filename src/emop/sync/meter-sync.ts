// One meter's sync: the syncers flows.meter_metrics enables for a run frequency, read over EMOP, written to the
// shadow in one update (history follows by trigger), profile log 1 backfilled into register_interval_hh through
// the ingest path, the outcome recorded in flows.meter_sync_runs and the meter's health.
import type { EmopLogger as Logger } from '../log.ts';
import { ingestIntervals, type IntervalRow } from '../../db/ingest.ts';
import { many, one, quoteIdent, type Queryable } from '../../db/client.ts';
import type { EmopClient, FutureTariffsReading } from '../client.ts';
import { EmopAbortedError, EmopNakError } from '../errors.ts';
import type { WithConnection } from '../pg-lock.ts';
import { PROFILE_INTERVAL_SECONDS } from '../profile-log.ts';
import type { MeterTarget } from '../session.ts';
import type { ActiveTariffs } from '../tariffs.ts';
import { compareMoney, whToKwh, type Money } from '../units.ts';
import type { Frequency } from './settings.ts';
import type { RegistryMeter } from './registry.ts';

/** Syncers in the order they run (flows.meter_metrics.name). */
export const SYNCERS = [
  'csq',
  'instantaneous_voltage',
  'prepay_balance',
  'element_a',
  'element_b',
  'clock_time',
  'tariffs',
  'hardware',
  'profile_log_1',
] as const;
export type Syncer = (typeof SYNCERS)[number];

export interface SyncOptions {
  /** Correct the meter's clock when it is off by more than this; default 20 s. */
  clockCorrectionThresholdSeconds?: number;
  /** How far back missing half-hours are backfilled; default 7 days. */
  backfillDays?: number;
  /** At most this many profile log requests per sync; default 96 (8 days of 4 half-hours each). */
  maxProfileRequests?: number;
  now?: () => Date;
  signal?: AbortSignal;
}

export interface SyncResult {
  runId: string;
  outcome: 'ok' | 'partial' | 'failed';
  metrics: Syncer[];
  failures: { metric: Syncer; error: string }[];
  intervalsInserted: number;
}

export async function enabledSyncers(db: Queryable, frequency: Frequency): Promise<Syncer[]> {
  const rows = await many<{ name: string }>(
    db,
    `select name from flows.meter_metrics where enabled and run_frequency = $1`,
    [frequency],
  );
  const names = new Set(rows.map((r) => r.name));
  return SYNCERS.filter((s) => names.has(s));
}

type ShadowPatch = Partial<
  Record<
    | 'balance'
    | 'emergency_credit'
    | 'import_a'
    | 'export_a'
    | 'import_b'
    | 'export_b'
    | 'tariffs_active'
    | 'tariffs_future'
    | 'csq'
    | 'voltage'
    | 'clock_time_diff_seconds',
    string | number | null
  >
>;

const HALF_HOUR_MS = PROFILE_INTERVAL_SECONDS * 1000;
/** Profile log 1 answers 5 records: 4 half-hours between them. */
const HALF_HOURS_PER_REQUEST = 4;

/** Shadow tariff JSON (specs/flows-schema.md keys). */
export function activeTariffJson(t: ActiveTariffs): Record<string, unknown> {
  return {
    standing_charge: t.standingCharge,
    unit_rate_element_a: t.unitRateElementA,
    unit_rate_element_b: t.elementBCurrentPrice,
    prepayment_emergency_credit: t.emergencyCredit,
    prepayment_ecredit_availability: t.eCreditAvailability,
    prepayment_debt_recovery_rate: t.debtRecoveryRate,
    threshold_mask: t.thresholdMask,
    threshold_values: t.thresholdValues,
  };
}

export function futureTariffJson(t: FutureTariffsReading): Record<string, unknown> {
  return {
    standing_charge: t.standingCharge,
    unit_rate_element_a: t.unitRateElementA,
    unit_rate_element_b: t.unitRateElementB,
    prepayment_emergency_credit: t.emergencyCredit,
    prepayment_ecredit_availability: t.eCreditAvailability,
    prepayment_debt_recovery_rate: t.debtRecoveryRate,
    activation_datetime: t.activationTime?.toISOString() ?? null,
    threshold_mask: t.thresholdMask,
    threshold_values: t.thresholdValues,
  };
}

/** Negative balance on a prepay meter is emergency credit in use (the meter reports no separate value). */
function emergencyCreditInUse(balance: Money): string {
  return compareMoney(balance, '0') < 0 ? balance.slice(1) : '0';
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

interface MissingSlot {
  registerId: string;
  element: 'A' | 'B' | 'SINGLE';
  slot: number;
}

/** Half-hours without data in the backfill window, per register in service then (complete half-hours only). */
async function missingHalfHours(db: Queryable, meter: RegistryMeter, now: Date, days: number): Promise<MissingSlot[]> {
  const end = Math.floor(now.getTime() / HALF_HOUR_MS) * HALF_HOUR_MS;
  const start = end - days * 86_400_000;
  const rows = await many<{ register_id: string; element: 'A' | 'B' | 'SINGLE'; ts: Date }>(
    db,
    `select r.register_id, r.element, gs.ts
       from flows.meter_registers r
      cross join generate_series($2::timestamptz, $3::timestamptz - interval '30 minutes', interval '30 minutes') gs (ts)
      where r.meter_id = $1 and r.start_time <= gs.ts and (r.end_time is null or r.end_time > gs.ts)
        and not exists (select 1 from flows.register_interval_hh i
                         where i.register_id = r.register_id and i."timestamp" = gs.ts)
      order by gs.ts, r.element`,
    [meter.id, new Date(start), new Date(end)],
  );
  return rows.map((r) => ({ registerId: r.register_id, element: r.element, slot: r.ts.getTime() }));
}

/** Reads profile log 1 for the missing half-hours and turns consecutive cumulative reads into interval rows. */
async function backfill(
  client: EmopClient,
  target: MeterTarget,
  missing: MissingSlot[],
  maxRequests: number,
  signal: AbortSignal | undefined,
): Promise<IntervalRow[]> {
  const slots = [...new Set(missing.map((m) => m.slot))].sort((a, b) => a - b);
  const reads = new Map<number, { a: number; b: number }>();
  let coveredUntil = -Infinity;
  let requests = 0;
  for (const slot of slots) {
    if (slot < coveredUntil) continue;
    if (requests++ >= maxRequests) break;
    const page = await client.profileLog1(target, new Date(slot), { signal });
    for (const record of page.records) {
      if (record.status.valid) reads.set(record.time.getTime(), { a: record.importAWh, b: record.importBWh });
    }
    coveredUntil = slot + HALF_HOURS_PER_REQUEST * HALF_HOUR_MS;
  }
  const rows: IntervalRow[] = [];
  for (const m of missing) {
    const start = reads.get(m.slot);
    const end = reads.get(m.slot + HALF_HOUR_MS);
    if (!start || !end) continue;
    const wh = m.element === 'B' ? end.b - start.b : end.a - start.a;
    rows.push({
      registerId: m.registerId,
      timestamp: new Date(m.slot),
      importKwh: whToKwh(wh),
      exportKwh: null,
      quality: 'actual',
      source: 'emop',
    });
  }
  return rows;
}

/**
 * Syncs one meter. Meter failures are recorded (the run, health, csq cleared), not thrown; an abort is recorded
 * and rethrown; database errors are thrown.
 */
export async function syncMeter(
  deps: { client: EmopClient; withConnection: WithConnection; logger: Logger },
  meter: RegistryMeter,
  target: MeterTarget,
  syncers: readonly Syncer[],
  options: SyncOptions = {},
): Promise<SyncResult> {
  const { client, withConnection, logger } = deps;
  const now = options.now ?? (() => new Date());
  const signal = options.signal;
  const call = { signal };
  const runId = await withConnection(
    async (db) =>
      (
        await one<{ id: string }>(
          db,
          `insert into flows.meter_sync_runs (meter_id, esco) values ($1, $2) returning id`,
          [meter.id, meter.esco],
        )
      ).id,
  );
  const missing = syncers.includes('profile_log_1')
    ? await withConnection((db) => missingHalfHours(db, meter, now(), options.backfillDays ?? 7))
    : [];

  const patch: ShadowPatch = {};
  const done: Syncer[] = [];
  const failures: { metric: Syncer; error: string }[] = [];
  let identity: { hardware: string; firmware: string } | undefined;
  let intervals: IntervalRow[] = [];
  let aborted: unknown;

  for (const syncer of syncers) {
    try {
      switch (syncer) {
        case 'csq':
          patch.csq = (await client.csq(target, call)).csq;
          break;
        case 'instantaneous_voltage':
          patch.voltage = (await client.instantaneousVoltage(target, call)).toFixed(1);
          break;
        case 'prepay_balance': {
          const balance = await client.prepayBalance(target, call);
          patch.balance = balance;
          patch.emergency_credit = meter.prepayEnabled ? emergencyCreditInUse(balance) : null;
          break;
        }
        case 'element_a': {
          const a = await client.readElementA(target, call);
          patch.import_a = whToKwh(a.importActiveWh);
          patch.export_a = whToKwh(a.exportActiveWh);
          break;
        }
        case 'element_b': {
          if (meter.registers.B === undefined) continue;
          const b = await client.readElementB(target, call);
          patch.import_b = whToKwh(b.importActiveWh);
          patch.export_b = whToKwh(b.exportActiveWh);
          break;
        }
        case 'clock_time': {
          const drift = async () => {
            const before = now().getTime();
            const reading = await client.clockTimeRead(target, call);
            const midpoint = (before + now().getTime()) / 2;
            return Math.round((reading.instant.getTime() - midpoint) / 1000);
          };
          let seconds = await drift();
          if (Math.abs(seconds) > (options.clockCorrectionThresholdSeconds ?? 20)) {
            logger.info({ driftSeconds: seconds }, 'correcting meter clock');
            await client.clockTimeWrite(target, now(), call);
            seconds = await drift();
          }
          patch.clock_time_diff_seconds = seconds;
          break;
        }
        case 'tariffs':
          patch.tariffs_active = JSON.stringify(activeTariffJson(await client.tariffsActiveRead(target, call)));
          patch.tariffs_future = JSON.stringify(futureTariffJson(await client.tariffsFutureRead(target, call)));
          break;
        case 'hardware':
          identity = {
            hardware: await client.hardwareRead(target, call),
            firmware: await client.firmwareRead(target, call),
          };
          break;
        case 'profile_log_1':
          intervals = await backfill(client, target, missing, options.maxProfileRequests ?? 96, signal);
          break;
      }
      done.push(syncer);
    } catch (error) {
      if (error instanceof EmopAbortedError || signal?.aborted) {
        aborted = error;
        break;
      }
      failures.push({ metric: syncer, error: describe(error) });
      logger.warn({ metric: syncer, err: error }, 'meter sync step failed');
      // A NAK concerns one object; anything else means the meter cannot be reached now.
      if (!(error instanceof EmopNakError)) break;
    }
  }

  const outcome: SyncResult['outcome'] =
    aborted !== undefined || failures.length > 0 ? (done.length > 0 ? 'partial' : 'failed') : 'ok';
  const error =
    aborted !== undefined
      ? 'aborted (worker shutting down)'
      : failures.map((f) => `${f.metric}: ${f.error}`).join('; ') || null;
  const healthy = failures.length === 0;

  let inserted = 0;
  await withConnection(async (db) => {
    await db.query('begin');
    try {
      if (aborted === undefined) {
        const values: ShadowPatch & Record<string, string | number | null> = {
          ...patch,
          health: healthy ? 'healthy' : 'unhealthy',
          // The first failure, without the syncer's name, so hourly and daily runs failing alike leave one
          // health-history entry rather than alternating ones (the run records the rest).
          health_details: healthy ? null : failures[0]!.error,
          ...(!healthy && { csq: null }),
        };
        const columns = Object.keys(values);
        await db.query(
          `update flows.meter_shadows set ${columns.map((c, i) => `${quoteIdent(c)} = $${i + 2}`).join(', ')} where id = $1`,
          [meter.id, ...columns.map((c) => values[c])],
        );
      }
      if (identity) {
        await db.query(`update flows.meter_registry set hardware = $2, firmware_version = $3 where id = $1`, [
          meter.id,
          identity.hardware,
          identity.firmware,
        ]);
      }
      if (intervals.length > 0) inserted = (await ingestIntervals(db, intervals)).inserted;
      await db.query(
        `update flows.meter_sync_runs set finished_at = now(), outcome = $2, metrics = $3, error = $4 where id = $1`,
        [runId, outcome === 'partial' && done.length === 0 ? 'failed' : outcome, done, error],
      );
      await db.query('commit');
    } catch (e) {
      await db.query('rollback').catch(() => undefined);
      throw e;
    }
  });
  if (aborted !== undefined) throw aborted;
  logger.info({ outcome, metrics: done, intervalsInserted: inserted }, 'meter synced');
  return { runId, outcome, metrics: done, failures, intervalsInserted: inserted };
}
