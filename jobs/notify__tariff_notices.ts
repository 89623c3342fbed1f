// notify__tariff_notices (cron, daily): queues a tariff change notice for every customer affected by a tariff
// taking effect within the horizon (60 days by default), once per tariff and customer (dedupe keys).
import { z } from 'zod';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({ horizon_days: z.number().int().min(30).max(366).optional() });

export default defineTask(payload, async ({ horizon_days }, helpers) => {
  const { rows } = await helpers.withPgClient((client) =>
    client.query<{ queued: number }>(`select internal.notify_tariff_changes($1) as queued`, [horizon_days ?? 60]),
  );
  helpers.logger.info('tariff notices planned', { queued: rows[0]?.queued ?? 0 });
});
