// system__heartbeat: records that this worker is alive and running jobs (cron, every minute).
import { z } from 'zod';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({ source: z.string().max(100).optional() });

export default defineTask(payload, async ({ source }, helpers) => {
  await helpers.withPgClient((client) =>
    client.query(
      `insert into internal.worker_heartbeats (worker_id, source) values ($1, $2)
       on conflict (worker_id) do update
         set seen_at = now(), beats = internal.worker_heartbeats.beats + 1, source = excluded.source`,
      [helpers.job.locked_by ?? 'unknown', source ?? null],
    ),
  );
});
