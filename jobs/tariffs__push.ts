// tariffs__push: drains public.meters_missing_future_tariffs. Without meter_id it plans: one keyed job per
// meter listed (per ESCO, or every ESCO), spread over the meter queues like the syncs. With meter_id it pushes
// that meter's future tariff, reads it back, stores what the meter reports in the shadow and reports a meter
// that still disagrees (flows.meter_sync_runs, error log). A meter that cannot be reached fails the job, which
// graphile-worker retries; a job for a meter that is up to date by then does nothing.
import { z } from 'zod';
import { meterJobContext } from '../src/emop/sync/job-logger.ts';
import { emopConfig, emopSettingsSchema, meterQueueFor } from '../src/emop/sync/settings.ts';
import { escoCodes, missingFutureTariffs, pushFutureTariff } from '../src/emop/sync/tariff-push.ts';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z
  .object({
    esco_code: z.string().min(1).max(10).optional(),
    meter_id: z.uuid().optional(),
    concurrency: z.number().int().min(1).max(500).optional(),
    emop: emopSettingsSchema.optional(),
  })
  .refine((p) => p.meter_id === undefined || p.esco_code !== undefined, {
    error: 'meter_id needs esco_code',
    path: ['esco_code'],
  });

export default defineTask(payload, async (p, helpers) => {
  if (p.meter_id === undefined) {
    const codes = p.esco_code ? [p.esco_code] : await helpers.withPgClient((client) => escoCodes(client));
    let planned = 0;
    for (const code of codes) {
      const missing = await helpers.withPgClient((client) => missingFutureTariffs(client, code));
      if (missing.length === 0) continue;
      planned += missing.length;
      await helpers.addJobs(
        missing.map((m) => ({
          identifier: 'tariffs__push',
          payload: { esco_code: m.esco_code, meter_id: m.meter_id, emop: p.emop },
          queueName: meterQueueFor(m.meter_id, p.concurrency ?? emopConfig().meterSyncConcurrency),
          jobKey: `tariffs__push:${m.meter_id}`,
          maxAttempts: 5,
        })),
      );
    }
    helpers.logger.info('future tariff pushes planned', { escos: codes.length, meters: planned });
    return;
  }
  const escoCode = p.esco_code!;
  const job = meterJobContext(helpers, p.emop, { meter: p.meter_id, esco: escoCode });
  try {
    const outcome = await pushFutureTariff(job, escoCode, p.meter_id, job.signal);
    job.logger.info({ outcome }, 'tariffs__push done');
  } finally {
    await job.drain();
  }
});
