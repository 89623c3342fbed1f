// meters__sync: syncs one meter for one run frequency (enqueued by meters__sync_all): the syncers
// flows.meter_metrics enables for it, written to the shadow (history by trigger), profile log 1 backfilled,
// the run and the meter's health recorded. A meter that fails is recorded, not retried: the next run tries
// again. Requests to the meter hold its advisory lock, so the CLI and other workers wait their turn.
import { z } from 'zod';
import { enabledSyncers, syncMeter, SYNCERS } from '../src/emop/sync/meter-sync.ts';
import { meterById, targetOf } from '../src/emop/sync/registry.ts';
import { emopConfig, emopSettingsSchema, FREQUENCIES } from '../src/emop/sync/settings.ts';
import { meterJobContext } from '../src/emop/sync/job-logger.ts';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({
  meter_id: z.uuid(),
  frequency: z.enum(FREQUENCIES),
  /** Run these syncers instead of those meter_metrics enables for the frequency. */
  syncers: z.array(z.enum(SYNCERS)).optional(),
  emop: emopSettingsSchema.optional(),
  /** Correct the meter clock when it is off by more than this (default 20 s). */
  clock_correction_threshold_seconds: z.number().int().min(1).optional(),
  /** How far back missing half-hours are backfilled (default 7 days). */
  backfill_days: z.number().int().min(1).max(90).optional(),
});

export default defineTask(payload, async (p, helpers) => {
  const meter = await helpers.withPgClient((client) => meterById(client, p.meter_id));
  const target = meter && targetOf(meter);
  if (!meter || !target) {
    helpers.logger.warn('meter gone or without an address; nothing to sync', { meterId: p.meter_id });
    return;
  }
  const syncers = p.syncers ?? (await helpers.withPgClient((client) => enabledSyncers(client, p.frequency)));
  const job = meterJobContext(helpers, p.emop, { meter: meter.serial, frequency: p.frequency });
  try {
    await syncMeter(job, meter, target, syncers, {
      clockCorrectionThresholdSeconds:
        p.clock_correction_threshold_seconds ?? emopConfig().clockCorrectionThresholdSeconds,
      backfillDays: p.backfill_days ?? emopConfig().backfillDays,
      signal: job.signal,
    });
  } finally {
    await job.drain();
  }
});
