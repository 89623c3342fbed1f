// meters__topup: delivers one top-up (public.topups, enqueued when the row is inserted). Issues the token from
// the development vendor, then reads the meter's transaction count and balance, sends the token and confirms
// both rose. A retry re-reads the count first, so a token the meter took is never sent again. Transport
// failures fail the job for graphile-worker to retry; a rejected token or a wrong balance fails the top-up.
// When the last attempt fails too, the top-up is marked failed (the error says whether the meter may have taken
// the token). A failed top-up leaves the money that paid for it on the account as credit, and alerts the ESCO's
// operators (sql/530_notify_collections.sql) and its customers (sql/510_notify_events.sql).
import type { JobHelpers } from 'graphile-worker';
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
  } catch (error) {
    if (helpers.job.attempts >= helpers.job.max_attempts) {
      await giveUp(helpers, p.topup_id, error);
    }
    throw error;
  } finally {
    await job.drain();
  }
});

/** The job's last attempt failed: the top-up fails, unless it was resolved meanwhile. */
async function giveUp(helpers: JobHelpers, topupId: string, error: unknown): Promise<void> {
  const attempts = helpers.job.attempts;
  const name = error instanceof Error ? error.name : 'Error';
  await helpers.withPgClient((client) =>
    client.query(
      `update public.topups
          set status = 'failed', failed_at = now(), updated_at = now(),
              error = case when status = 'sent' or meter_count_before is not null
                           then format('gave up after %s job attempts (%s); the meter may have taken the token: check its transaction count before crediting another way', $2::int, $3::text)
                           else format('gave up after %s job attempts (%s); the token was never sent', $2::int, $3::text) end
        where id = $1 and status in ('requested', 'token_issued', 'sent')`,
      [topupId, attempts, name],
    ),
  );
  helpers.logger.error(`top-up ${topupId} failed after ${attempts} job attempts (${name})`);
}
