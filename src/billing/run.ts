// A billing run, step by step: each step is one transaction that drafts the next batch of accounts
// (internal.billing_run_step, set-based SQL). Shared by the billing__run job and `flows billing run`.
// Killing the process between or inside steps loses nothing: the next call carries on, and a step
// that was cut short rolled back whole.
import type pg from 'pg';
import { z } from 'zod';
import { one, type Queryable } from '../db/client.ts';

export const runProgress = z.object({
  status: z.enum(['queued', 'running', 'drafted', 'issued', 'failed']),
  accounts_total: z.number().int(),
  accounts_done: z.number().int(),
  invoices_drafted: z.number().int(),
  errors: z.number().int(),
});
export type RunProgress = z.infer<typeof runProgress>;

export interface RunOptions {
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: RunProgress) => void;
}

export class BillingRunAbortedError extends Error {
  constructor(readonly runId: string) {
    super(`billing run ${runId} was interrupted; starting it again carries on`);
    this.name = 'BillingRunAbortedError';
  }
}

/** One step (one transaction when `db` is a pool or an idle client). */
export async function runStep(db: Queryable, runId: string, batchSize = 500): Promise<RunProgress> {
  const row = await one<{ progress: unknown }>(db, `select internal.billing_run_step($1, $2) as progress`, [
    runId,
    batchSize,
  ]);
  return runProgress.parse(row.progress);
}

/** Steps until the run is drafted (or was already issued). */
export async function runBilling(
  db: pg.Pool | pg.ClientBase,
  runId: string,
  options: RunOptions = {},
): Promise<RunProgress> {
  for (;;) {
    if (options.signal?.aborted) throw new BillingRunAbortedError(runId);
    const progress = await runStep(db, runId, options.batchSize);
    options.onProgress?.(progress);
    if (progress.status !== 'running') return progress;
  }
}

/** Creates (or requeues) the run of an ESCO and month as an administrator; returns its id. */
export async function prepareRun(db: Queryable, escoCode: string, month: string, who: string): Promise<string> {
  const row = await one<{ id: string }>(
    db,
    `select (internal.billing_run_prepare(e.id, $2::date, $3)).id from flows.escos e where e.code = $1`,
    [escoCode, month, who],
  ).catch((error: unknown) => {
    if (error instanceof Error && error.name === 'QueryCardinalityError') throw new Error(`no ESCO ${escoCode}`);
    throw error;
  });
  return row.id;
}
