// collections__remind (cron, daily): writes the payment reminders due today (public.payment_reminders) for one ESCO
// or all — the latest reminder step each overdue invoice has reached, unless it is disputed or a customer on its
// account is vulnerable — and each reminder queues its payment_overdue messages in the same transaction.
// Idempotent: a reminder is unique per invoice and step, so a rerun the same day writes nothing.
import { z } from 'zod';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({ esco: z.uuid().optional() });

export default defineTask(payload, async ({ esco }, helpers) => {
  const { rows } = await helpers.withPgClient((client) =>
    client.query<{ result: { created: number; paused: number } }>('select internal.collections_remind($1) as result', [
      esco ?? null,
    ]),
  );
  helpers.logger.info(
    `collections__remind wrote ${rows[0]?.result.created ?? 0} reminder(s); ${rows[0]?.result.paused ?? 0} overdue invoice(s) paused`,
  );
});
