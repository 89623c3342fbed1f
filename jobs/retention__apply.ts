// retention__apply: deletes rows older than their table's retention policy (internal.retention_policies), in
// batches of one transaction each, never what an unissued or disputed bill still needs (cron, daily; see
// docs/operations.md, "Retention"). Idempotent: a retry deletes what is still due.
import { z } from 'zod';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({ batchSize: z.number().int().min(1).max(1_000_000).optional() });

export default defineTask(payload, async ({ batchSize = 10_000 }, helpers) => {
  await helpers.withPgClient(async (client) => {
    const { rows: tables } = await client.query<{ name: string }>(`select internal.retention_tables() as name`);
    for (const { name } of tables) {
      let total = 0;
      for (;;) {
        helpers.abortSignal?.throwIfAborted();
        const { rows } = await client.query<{ deleted: number }>(`select internal.retention_apply($1, $2) as deleted`, [
          name,
          batchSize,
        ]);
        const deleted = rows[0]?.deleted ?? 0;
        total += deleted;
        if (deleted < batchSize) break;
      }
      helpers.logger.info('retention applied', { table: name, deleted: total });
    }
  });
});
