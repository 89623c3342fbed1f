// bank__reconcile: matches the unmatched bank credits of one ESCO (or of every ESCO) to accounts by the cascade
// of docs/payments.md, in one transaction per run. Enqueued by every statement import (job key
// bank__reconcile:<esco>, so repeated imports dedupe). Idempotent and safe to run concurrently: lines are
// locked with SKIP LOCKED and a line becomes at most one payment (payments.source is unique).
import { z } from 'zod';
import { defineTask } from '../src/worker/define-task.ts';

const payload = z.object({
  esco: z.uuid().optional(),
  statement: z.uuid().optional(),
  /** Rule 2: how alike the payer's name must be (0–1); default: the ESCO's billing settings. */
  name_threshold: z.number().min(0).max(1).optional(),
  /** Rule 3: days after the due date a payment of the exact amount still counts; default: the ESCO's settings. */
  window_days: z.number().int().min(0).max(366).optional(),
});

export default defineTask(payload, async ({ esco, statement, name_threshold, window_days }, helpers) => {
  const { rows } = await helpers.withPgClient((client) =>
    client.query<{ result: { matched: number; waiting: number; reversed: number } }>(
      'select internal.bank_reconcile($1, $2, $3, $4) as result',
      [esco ?? null, statement ?? null, name_threshold ?? null, window_days ?? null],
    ),
  );
  const result = rows[0]?.result;
  helpers.logger.info(
    `bank__reconcile matched ${result?.matched ?? 0}, ${result?.waiting ?? 0} waiting for review, ${result?.reversed ?? 0} returned payments reversed`,
  );
});
