// meters__topup: delivers one top-up (public.topups, enqueued when the row is inserted). Issues the token from
// the development vendor, then reads the meter's transaction count and balance, sends the token and confirms
// both rose. A retry re-reads the count first, so a token the meter took is never sent again. Transport
// failures fail the job for graphile-worker to retry; a rejected token or a wrong balance fails the top-up.
import { z } from 'zod';
import { meterJobContext } from '../src/emop/sync/job-logger.ts';
import { emopConfig, emopSettingsSchema } from '../src/emop/sync/settings.ts';
import { deliverTopup } from '../src/emop/sync/topup.ts';
import { DevelopmentTokenVendor } from '../src/emop/tokens.ts';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({
  topup_id: z.uuid(),
  emop: emopSettingsSchema.optional(),
  max_send_attempts: z.number().int().min(1).max(10).optional(),
});

export default defineTask(payload, async (p, helpers) => {
  const { devTokens, devTokenKey } = emopConfig();
  if (!devTokens) {
    throw new Error(
      'no token vendor is configured for production: top-ups cannot be delivered (development tokens are refused)',
    );
  }
  const job = meterJobContext(helpers, p.emop, { topup: p.topup_id });
  try {
    await deliverTopup({ ...job, vendor: new DevelopmentTokenVendor(devTokenKey) }, p.topup_id, {
      maxSendAttempts: p.max_send_attempts,
      signal: job.signal,
    });
  } finally {
    await job.drain();
  }
});
