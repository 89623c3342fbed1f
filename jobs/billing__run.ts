// billing__run: works a billing run (payload { runId }) step by step until it is drafted, then renders
// the documents of issued invoices that have none ({ render: true }, enqueued when invoices are issued).
// Idempotent: a rerun or a retry after a crash carries on where the last committed step left off.
import { z } from 'zod';
import { renderPending } from '../src/billing/document.ts';
import { runBilling } from '../src/billing/run.ts';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.union([
  z.object({ runId: z.uuid(), batchSize: z.number().int().min(1).max(10_000).optional() }),
  z.object({ render: z.literal(true) }),
]);

export default defineTask(payload, async (job, helpers) => {
  await helpers.withPgClient(async (client) => {
    if ('runId' in job) {
      const progress = await runBilling(client, job.runId, {
        batchSize: job.batchSize,
        signal: helpers.abortSignal,
        onProgress: (p) => helpers.logger.debug(`billing run ${job.runId}: ${p.accounts_done}/${p.accounts_total}`),
      });
      helpers.logger.info(
        `billing run ${job.runId} ${progress.status}: ${progress.invoices_drafted} draft(s), ${progress.errors} error(s)`,
      );
    } else {
      const rendered = await renderPending(client, helpers.abortSignal);
      helpers.logger.info(`rendered ${rendered} invoice document(s)`);
    }
  });
});
