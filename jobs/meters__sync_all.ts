// meters__sync_all: from the crontab, per run frequency. Enqueues one meters__sync per active meter with an
// address, keyed per meter and frequency (a pending one is replaced, not doubled). The jobs are spread over
// `concurrency` graphile-worker queues (meters_0 … meters_{n-1}), each running one job at a time, so at most
// `concurrency` meters are synced at once by all workers together.
import { z } from 'zod';
import { many } from '../src/db/client.ts';
import { emopConfig, emopSettingsSchema, FREQUENCIES, meterQueueName } from '../src/emop/sync/settings.ts';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({
  frequency: z.enum(FREQUENCIES),
  /** Meter jobs running at once (default 15). */
  concurrency: z.number().int().min(1).max(500).optional(),
  /** Passed on to each meters__sync. */
  emop: emopSettingsSchema.optional(),
  clock_correction_threshold_seconds: z.number().int().min(1).optional(),
  backfill_days: z.number().int().min(1).max(90).optional(),
});

export default defineTask(payload, async ({ frequency, concurrency, ...options }, helpers) => {
  const cap = concurrency ?? emopConfig().meterSyncConcurrency;
  const meters = await helpers.withPgClient((client) =>
    many<{ id: string }>(
      client,
      `select id from flows.meter_registry where mode = 'active' and ip_address is not null order by serial`,
    ),
  );
  if (meters.length > 0) {
    await helpers.addJobs(
      meters.map((meter, i) => ({
        identifier: 'meters__sync',
        payload: { meter_id: meter.id, frequency, ...options },
        queueName: meterQueueName(i, cap),
        jobKey: `meters__sync:${meter.id}:${frequency}`,
        maxAttempts: 3,
      })),
    );
  }
  helpers.logger.info('meter syncs enqueued', { frequency, meters: meters.length, concurrency: cap });
});
