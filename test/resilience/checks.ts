// What must hold after the scenario, however it was interrupted: nothing lost, nothing twice.
import type pg from 'pg';
import { many, one } from '../../src/db/client.ts';
import type { LoadResult } from './load.ts';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const check = (name: string, problems: unknown[], detail: string): Check => ({
  name,
  ok: problems.length === 0,
  detail: problems.length === 0 ? detail : `${detail}; problems: ${JSON.stringify(problems.slice(0, 5))}`,
});

export interface CheckInput {
  load: LoadResult;
  /** Meters whose data cannot arrive (never answer). */
  unreachable: Set<string>;
  /** The complete half-hours every reachable meter must have: [from, to). */
  window: { from: Date; to: Date };
  /** Message-IDs of the emails the SMTP stand-in received, in order. */
  /** The emails the SMTP stand-in received, in order: the outbox row each names, and its Message-ID. */
  emails: { notification: string; messageId: string }[];
  /** SMS the Twilio stand-in accepted. */
  smsCount: number;
  /** Worker processes that died (killed or crashed) during the scenario. */
  workerDeaths: number;
  /** Jobs a worker process runs at once: the messages one death can leave in flight. */
  workerConcurrency: number;
}

export async function runChecks(db: pg.Pool, input: CheckInput): Promise<Check[]> {
  const checks: Check[] = [];

  // API writes: every acknowledged insert exactly once, no unanswered one twice.
  const names = [...input.load.acknowledged, ...input.load.unanswered];
  const counts = await many<{ name: string; n: number }>(
    db,
    `select c.name, count(*)::int as n from public.customers c where c.name = any ($1::text[]) group by c.name`,
    [names],
  );
  const seen = new Map(counts.map((c) => [c.name, c.n]));
  checks.push(
    check(
      'API writes: acknowledged inserts present once, none twice',
      [
        ...input.load.acknowledged.filter((n) => seen.get(n) !== 1).map((n) => ({ lost: n })),
        ...counts.filter((c) => c.n > 1).map((c) => ({ duplicated: c.name })),
      ],
      `${input.load.acknowledged.length} acknowledged, ${input.load.unanswered.length} unanswered (of which ${
        input.load.unanswered.filter((n) => seen.has(n)).length
      } happened)`,
    ),
  );

  // Interval data: every reachable meter's registers complete over the window, no duplicate keys.
  const missing = await many<{ serial: string; missing: number }>(
    db,
    `select m.serial, count(*)::int as missing
       from flows.meter_registry m
       join flows.meter_registers r on r.meter_id = m.id
      cross join generate_series($1::timestamptz, $2::timestamptz - interval '30 minutes', interval '30 minutes') gs (ts)
      where m.ip_address = '127.0.0.1' and not (m.serial = any ($3::text[]))
        and r.start_time <= gs.ts and (r.end_time is null or r.end_time > gs.ts)
        and not exists (select 1 from flows.register_interval_hh i where i.register_id = r.register_id and i."timestamp" = gs.ts)
      group by m.serial order by m.serial`,
    [input.window.from, input.window.to, [...input.unreachable]],
  );
  const totals = await one<{ rows: number; keys: number; registers: number }>(
    db,
    `select count(*)::int as rows, count(distinct (register_id, "timestamp"))::int as keys,
            count(distinct register_id)::int as registers
       from flows.register_interval_hh where "timestamp" >= $1 and "timestamp" < $2`,
    [input.window.from, input.window.to],
  );
  checks.push(
    check(
      'Interval data: no half-hour lost for any reachable meter, none duplicated',
      [...missing, ...(totals.rows === totals.keys ? [] : [{ duplicates: totals.rows - totals.keys }])],
      `${totals.rows} rows for ${totals.registers} registers in ${input.window.from.toISOString()} – ${input.window.to.toISOString()}`,
    ),
  );

  // Invoices: one per account and period, the runs drafted every account, numbers gap-free per series.
  const doubled = await many(
    db,
    `select account, period_start, kind, count(*)::int as n from public.invoices
      where status <> 'void' group by account, period_start, kind having count(*) > 1`,
  );
  const runs = await many<{ status: string; accounts_total: number; invoices_drafted: number; errors: number }>(
    db,
    `select status, accounts_total, invoices_drafted, jsonb_array_length(errors) as errors from public.billing_runs`,
  );
  const gaps = await many(
    db,
    `select s.esco, s.kind, s.last_number, count(i.number)::int as issued
       from internal.invoice_number_series s
       left join public.invoices i on i.esco = s.esco and i.kind = s.kind and i.number is not null
      group by s.esco, s.kind, s.last_number having count(i.number) <> s.last_number`,
  );
  const issued = await one<{ n: number }>(
    db,
    `select count(*)::int as n from public.invoices where number is not null`,
  );
  checks.push(
    check(
      'Invoices: one per account and period, every run issued without errors, numbers gap-free',
      [
        ...doubled,
        ...gaps,
        ...runs.filter((r) => r.status !== 'issued' || r.errors > 0 || r.invoices_drafted !== r.accounts_total),
        ...(runs.length === 0 ? [{ runs: 'none' }] : []),
      ],
      `${runs.length} runs, ${issued.n} documents issued`,
    ),
  );

  // Payments: every credit line of the statement matched, each to its own payment, no payment without a
  // line, the ledger credited once per payment, every paid invoice paid.
  const lines = await one<{ credits: number; matched: number; payments: number; linked: number }>(
    db,
    `select count(*) filter (where amount > 0)::int as credits,
            count(*) filter (where amount > 0 and status = 'matched')::int as matched,
            (select count(*)::int from public.payments) as payments,
            count(distinct payment)::int as linked
       from public.bank_transactions`,
  );
  const ledger = await one<{ paid: string; credited: string }>(
    db,
    `select coalesce((select sum(amount) from public.payments), 0)::text as paid,
            coalesce((select -sum(amount) from public.ledger_entries where kind = 'payment'), 0)::text as credited`,
  );
  const unpaid = await many(
    db,
    `select i.number, i.status from public.invoices i
      where i.kind = 'invoice' and i.total > 0 and i.number is not null
        and exists (select 1 from public.bank_transactions t join public.payments p on p.id = t.payment
                     join public.payment_allocations a on a.payment = p.id where a.invoice = i.id)
        and i.status <> 'paid'`,
  );
  checks.push(
    check(
      'Payments: every credit line matched once, one payment each, ledger credited once, invoices paid',
      [
        ...(lines.credits > 0 && lines.matched === lines.credits ? [] : [{ lines }]),
        ...(lines.payments === lines.linked && lines.linked === lines.matched ? [] : [{ lines }]),
        ...(ledger.paid === ledger.credited ? [] : [{ ledger }]),
        ...unpaid,
      ],
      `${lines.credits} credit lines, ${lines.matched} matched, ${lines.payments} payments of £${ledger.paid}`,
    ),
  );

  // Notifications: every issued document announced once per recipient, none stuck, emails once each.
  const unannounced = await many(
    db,
    `select i.number from public.invoices i
      where i.number is not null
        and exists (select 1 from public.customer_accounts ca join public.customers c on c.id = ca.customer
                     where ca.account = i.account and ca.role in ('holder', 'payer') and c.email is not null)
        and not exists (select 1 from public.notifications n where n.template = 'invoice_issued' and n.payload ->> 'number' = i.number)`,
  );
  const stuck = await many<{ status: string; n: number }>(
    db,
    `select status, count(*)::int as n from public.notifications where status in ('queued', 'sending') group by status`,
  );
  const statuses = await many<{ status: string; n: number }>(
    db,
    `select status, count(*)::int as n from public.notifications group by status order by status`,
  );
  const received = new Map<string, number>();
  for (const email of input.emails) received.set(email.notification, (received.get(email.notification) ?? 0) + 1);
  // SMTP cannot deliver exactly once when the sender dies after the server accepted a message and before it
  // recorded that: the retry repeats it with the same Message-ID, which receivers drop. So at most one
  // repeat per message in flight (at most the worker's concurrency) per worker process that died; and every
  // email received is a message the outbox recorded as sent.
  const repeats = [...received.values()].reduce((sum, n) => sum + n - 1, 0);
  const recorded = await many<{ id: string; message_id: string }>(
    db,
    `select id, provider_message_id as message_id from public.notifications where channel = 'email' and status = 'sent'`,
  );
  const sent = new Map(recorded.map((r) => [r.id, r.message_id]));
  const unrecorded = input.emails
    .filter((e) => sent.get(e.notification) !== e.messageId)
    .map((e) => ({ unrecorded: e }));
  const lost = [...sent.keys()].filter((id) => !received.has(id)).map((id) => ({ sentNotReceived: id }));
  const bound = input.workerDeaths * input.workerConcurrency;
  const tooMany = repeats > bound ? [{ repeatedDeliveries: repeats, workerDeaths: input.workerDeaths, bound }] : [];
  checks.push(
    check(
      'Notifications: every issued document announced, none stuck, every email sent received and recorded, at most one repeat per message in flight at a worker death',
      [...unannounced, ...stuck, ...unrecorded, ...lost, ...tooMany],
      `${statuses.map((s) => `${s.n} ${s.status}`).join(', ')}; ${input.emails.length} emails (${repeats} repeated, same Message-ID) and ${input.smsCount} SMS received`,
    ),
  );

  // Shadows: each meter's shadow equals the latest value of each of its histories.
  const inconsistent = await many(
    db,
    `select m.serial, s.balance, b.balance as history_balance, s.csq, q.csq as history_csq, s.voltage, v.voltage as history_voltage
       from flows.meter_shadows s
       join flows.meter_registry m on m.id = s.id
       left join lateral (select h.balance from flows.meter_prepay_balance h where h.meter_id = s.id order by h."timestamp" desc limit 1) b on true
       left join lateral (select h.csq from flows.meter_csq h where h.meter_id = s.id order by h."timestamp" desc limit 1) q on true
       left join lateral (select h.voltage from flows.meter_voltage h where h.meter_id = s.id order by h."timestamp" desc limit 1) v on true
      where (s.balance is not null and s.balance is distinct from b.balance)
         or (s.csq is not null and s.csq is distinct from q.csq)
         or (s.voltage is not null and s.voltage is distinct from v.voltage)`,
  );
  const synced = await one<{ n: number }>(
    db,
    `select count(*)::int as n from flows.meter_shadows where csq is not null`,
  );
  checks.push(
    check(
      "Meter shadows: each equals its histories' latest values",
      inconsistent,
      `${synced.n} meters with a synced shadow`,
    ),
  );

  // Jobs: none failed for good. A job re-enqueued under its key while it ran is marked by graphile-worker as
  // not to be retried (key cleared, attempts = max); if its process died then, it stays behind with no
  // error, and the newer job with that key does the work: those are counted, not failed.
  const failed = await many<{ superseded: boolean }>(
    db,
    `select j.id, j.task_identifier, j.attempts, j.last_error, j.locked_by, p.payload,
            (j.key is null and j.last_error is null) as superseded
       from graphile_worker.jobs j join graphile_worker._private_jobs p using (id)
      where j.attempts >= j.max_attempts order by j.id`,
  );
  const pending = await many<{ task_identifier: string; n: number }>(
    db,
    `select task_identifier, count(*)::int as n from graphile_worker.jobs where attempts < max_attempts
      group by task_identifier order by task_identifier`,
  );
  const unrendered = await many(
    db,
    `select i.number from public.invoices i where i.number is not null
        and not exists (select 1 from internal.invoice_documents d where d.invoice = i.id)`,
  );
  checks.push(
    check(
      'Jobs: none failed permanently, every issued document rendered',
      [...failed.filter((j) => !j.superseded), ...unrendered],
      `still queued: ${pending.map((p) => `${p.n} ${p.task_identifier}`).join(', ') || 'none'}; ${
        failed.filter((j) => j.superseded).length
      } superseded by a re-enqueue while their process died`,
    ),
  );
  return checks;
}
