// notify__meters_offline (cron, every 15 minutes): alerts the ESCO's operators once for each meter no sync has
// found healthy for longer than the ESCO's offline_after_hours. Recovery (a sync finding it healthy again) is
// reported by a trigger on flows.meter_shadows.
import { z } from 'zod';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({});

export default defineTask(payload, async (_payload, helpers) => {
  const { rows } = await helpers.withPgClient((client) =>
    client.query<{ queued: number }>(`select internal.notify_meters_offline() as queued`),
  );
  helpers.logger.info('offline meters planned', { queued: rows[0]?.queued ?? 0 });
});
