// Sending one outbox message (the body of notify__email and notify__sms). Retry-safe and idempotent:
//  - a message already sent, failed or suppressed is left alone; one with a provider id is never resent;
//  - the row is claimed (queued → sending, attempts + 1) in its own statement before the provider is
//    called, so two jobs cannot both send it;
//  - the per-provider rate limit is a slot in internal.notify_provider_slots shared by every worker;
//  - a transient failure puts the row back to queued with a doubling backoff (capped) and schedules the
//    next job at that moment; a permanent one (or the last attempt) marks it failed. The job itself then
//    succeeds, so graphile-worker never retries on its own schedule.
// Outside production, a channel without settings marks the message suppressed and says so in the log.
import { z } from 'zod';
import type { NotifyConfig } from '../config.ts';
import { maybeOne, type Queryable } from '../db/client.ts';
import { redact, SendError, type OutgoingEmail, type OutgoingSms, type Sender } from './senders.ts';
import { render, TemplateError } from './templates.ts';

export type Channel = 'email' | 'sms';

/** Structured log lines: fields first, then the event (pino's and graphile-worker's shape, adapted). */
export interface NotifyLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const withContext = (log: NotifyLogger, context: Record<string, unknown>): NotifyLogger => ({
  info: (fields, message) => log.info({ ...context, ...fields }, message),
  warn: (fields, message) => log.warn({ ...context, ...fields }, message),
  error: (fields, message) => log.error({ ...context, ...fields }, message),
});

const rowSchema = z.object({
  id: z.string(),
  channel: z.enum(['email', 'sms']),
  address: z.string(),
  template: z.string(),
  payload: z.record(z.string(), z.unknown()),
  priority: z.number(),
  status: z.enum(['queued', 'sending', 'sent', 'failed', 'suppressed']),
  attempts: z.number(),
  next_attempt_at: z.date(),
  updated_at: z.date(),
  provider_message_id: z.string().nullable(),
  now: z.date(),
});
type Row = z.infer<typeof rowSchema>;

export interface DeliverContext {
  db: Queryable;
  config: NotifyConfig;
  log: NotifyLogger;
  /** The provider for the channel; undefined = the channel is not configured (never in production). */
  sender: Sender<OutgoingEmail> | Sender<OutgoingSms> | undefined;
  signal?: AbortSignal;
  /**
   * Runs a statement on a fresh connection (the worker's pool). Once the provider has accepted a message,
   * recording it must not be lost to a dropped connection (a database restart): it is retried on fresh
   * connections for up to the send timeout, so a retry never sends it again.
   */
  withFreshClient?: <T>(work: (db: Queryable) => Promise<T>) => Promise<T>;
}

export type Outcome = 'sent' | 'failed' | 'suppressed' | 'retry' | 'deferred' | 'skipped';

const provider = (channel: Channel) => (channel === 'email' ? 'smtp' : 'twilio');

export function backoffMs(config: Pick<NotifyConfig, 'backoffMs' | 'maxBackoffMs'>, attempts: number): number {
  return Math.min(config.maxBackoffMs, config.backoffMs * 2 ** Math.max(0, attempts - 1));
}

async function schedule(db: Queryable, row: Pick<Row, 'id' | 'channel' | 'priority'>, at: Date): Promise<void> {
  await db.query(
    `select graphile_worker.add_job($1, json_build_object('id', $2::uuid), job_key => 'notify:' || $2,
                                    run_at => $3, priority => $4)`,
    [`notify__${row.channel}`, row.id, at, row.priority],
  );
}

export async function deliver(ctx: DeliverContext, id: string, channel: Channel): Promise<Outcome> {
  const { db, config } = ctx;
  const found = await maybeOne<Row>(
    db,
    `select id, channel, address, template, payload, priority, status, attempts, next_attempt_at, updated_at,
            provider_message_id, now() as now
       from public.notifications where id = $1`,
    [id],
  );
  const log = withContext(ctx.log, { notification: id, channel });
  if (found === undefined) {
    log.warn({}, 'notification not found');
    return 'skipped';
  }
  const row = rowSchema.parse(found);
  const log2 = withContext(log, { template: row.template, attempt: row.attempts + 1 });
  if (row.channel !== channel) throw new Error(`notification ${id} is for ${row.channel}, not ${channel}`);
  if (row.status === 'sent' || row.status === 'failed' || row.status === 'suppressed' || row.provider_message_id) {
    return 'skipped';
  }
  if (row.next_attempt_at > row.now) {
    await schedule(db, row, row.next_attempt_at);
    return 'deferred';
  }
  // A row left in `sending` by a worker that stopped mid-send: wait out the send timeout before retrying.
  const staleAfter = new Date(row.updated_at.getTime() + 2 * config.sendTimeoutMs);
  if (row.status === 'sending' && staleAfter > row.now) {
    await schedule(db, row, staleAfter);
    return 'deferred';
  }
  if (ctx.sender === undefined) {
    await db.query(
      `update public.notifications set status = 'suppressed', updated_at = now(),
              last_error = 'channel not configured (' || $2 || ' settings unset outside production)'
        where id = $1 and status in ('queued', 'sending')`,
      [id, channel === 'email' ? 'SMTP_URL' : 'TWILIO_*'],
    );
    log2.warn({ outcome: 'suppressed' }, `${channel} channel not configured: message suppressed`);
    return 'suppressed';
  }
  // The invoice email carries the PDF, which the billing renderer stores shortly after issuing: wait for it
  // without spending an attempt.
  let attachments: OutgoingEmail['attachments'];
  if (channel === 'email' && row.template === 'invoice_issued' && typeof row.payload.invoice_id === 'string') {
    const document = await maybeOne<{ number: string; pdf: Buffer }>(
      db,
      `select number, pdf from internal.notify_invoice_document($1)`,
      [row.payload.invoice_id],
    );
    if (document === undefined) {
      await schedule(db, row, new Date(Date.now() + Math.max(config.backoffMs, 1)));
      log2.info({ outcome: 'deferred' }, 'invoice document not rendered yet');
      return 'deferred';
    }
    attachments = [{ filename: `${document.number}.pdf`, content: document.pdf, contentType: 'application/pdf' }];
  }
  // Rate limit: take the provider's next slot, or come back when it opens.
  const interval = channel === 'email' ? config.emailMinIntervalMs : config.smsMinIntervalMs;
  const slot = await maybeOne<{ next_slot_at: Date; taken: boolean }>(
    db,
    `with taken as (
       update internal.notify_provider_slots set next_slot_at = now() + make_interval(secs => $2::double precision / 1000)
        where provider = $1 and next_slot_at <= now() returning next_slot_at)
     select coalesce((select next_slot_at from taken), s.next_slot_at) as next_slot_at, exists (select 1 from taken) as taken
       from internal.notify_provider_slots s where s.provider = $1`,
    [provider(channel), interval],
  );
  if (slot !== undefined && !slot.taken) {
    await schedule(db, row, new Date(slot.next_slot_at.getTime() + Math.floor(Math.random() * Math.max(1, interval))));
    return 'deferred';
  }
  const claimed = await maybeOne<{ attempts: number }>(
    db,
    `update public.notifications set status = 'sending', attempts = attempts + 1, updated_at = now()
      where id = $1 and status in ('queued', 'sending') and provider_message_id is null
      returning attempts`,
    [id],
  );
  if (claimed === undefined) return 'skipped';

  let providerMessageId: string;
  try {
    const rendered = render(row.template, row.payload);
    if (channel === 'email') {
      ({ providerMessageId } = await (ctx.sender as Sender<OutgoingEmail>).send(
        { id, to: row.address, subject: rendered.subject, text: rendered.text, html: rendered.html, attachments },
        ctx.signal,
      ));
    } else {
      ({ providerMessageId } = await (ctx.sender as Sender<OutgoingSms>).send(
        { id, to: row.address, body: rendered.sms },
        ctx.signal,
      ));
    }
  } catch (error) {
    const permanent = error instanceof TemplateError || (error instanceof SendError && error.permanent);
    const message = redact(error instanceof Error ? error.message : String(error));
    if (permanent || claimed.attempts >= config.maxAttempts) {
      await db.query(
        `update public.notifications set status = 'failed', last_error = $2, updated_at = now() where id = $1`,
        [id, message],
      );
      log2.error({ outcome: 'failed', permanent, error: message }, 'notification failed');
      return 'failed';
    }
    const next = new Date(Date.now() + backoffMs(config, claimed.attempts));
    await db.query(
      `update public.notifications set status = 'queued', last_error = $2, next_attempt_at = $3, updated_at = now()
        where id = $1`,
      [id, message, next],
    );
    await schedule(db, row, next);
    log2.warn({ outcome: 'retry', error: message, nextAttemptAt: next }, 'notification send failed; will retry');
    return 'retry';
  }
  const recordSent = (client: Queryable) =>
    client.query(
      `update public.notifications
          set status = 'sent', provider_message_id = $2, sent_at = now(), updated_at = now(), last_error = null
        where id = $1`,
      [id, providerMessageId],
    );
  await recordSent(db).catch((error: unknown) => recordOnFreshClients(ctx, recordSent, error));
  log2.info({ outcome: 'sent' }, 'notification sent');
  return 'sent';
}

/** Retries `record` on fresh connections with a doubling pause, for up to the send timeout; then gives up. */
async function recordOnFreshClients(
  ctx: DeliverContext,
  record: (db: Queryable) => Promise<unknown>,
  firstError: unknown,
): Promise<void> {
  if (ctx.withFreshClient === undefined) throw firstError;
  const until = Date.now() + ctx.config.sendTimeoutMs;
  for (let pause = 50; ; pause *= 2) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, until - Date.now()))));
    try {
      await ctx.withFreshClient(record);
      return;
    } catch (error) {
      if (Date.now() >= until) throw error;
    }
  }
}
