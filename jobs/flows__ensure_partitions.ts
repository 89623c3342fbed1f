// flows__ensure_partitions: creates the monthly partitions of flows.register_interval_hh for this
// month and the next ones (cron, daily), so ingest rarely has to create one itself. Idempotent.
import { z } from 'zod';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({ monthsAhead: z.number().int().min(1).max(24).optional() });

export default defineTask(payload, async ({ monthsAhead }, helpers) => {
  const { rows } = await helpers.withPgClient((client) =>
    client.query<{ created: number }>(
      `select internal.ensure_interval_partitions(now(), now() + make_interval(months => $1)) as created`,
      [monthsAhead ?? 3],
    ),
  );
  helpers.logger.info(`interval partitions ensured`, { created: rows[0]?.created ?? 0 });
});
