// Billing and payments events (issues 6 and 7): an issued invoice emails its PDF (parsed back out of the
// real SMTP server's copy), a payment sends a receipt, each once, in the transaction that caused it.
import { describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { closeSenders } from '../../src/notify/tasks.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { useNotifyServers } from './servers.ts';
import { household, runNotifyJobs, testNotifyConfig } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
const servers = useNotifyServers();

const pdf = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n', 'latin1');

async function issueInvoice(h: { esco: string; account: string }, number: string) {
  const client = await ctx.pool.connect();
  try {
    await client.query('begin');
    const { id } = await one<{ id: string }>(
      client,
      `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                    supply_subtotal, vat, total, issued_at, due_date)
       values ($1, $2, 'invoice', 'issued', $3, '2026-10-01', '2026-11-01', 5, 80.35, 4.02, 84.37, now(), '2026-12-15')
       returning id`,
      [h.esco, h.account, number],
    );
    await client.query(
      `insert into internal.billing_events (event, invoice, account, esco) values ('invoice_issued', $1, $2, $3)`,
      [id, h.account, h.esco],
    );
    await client.query('commit');
    return id;
  } finally {
    client.release();
  }
}

describe('invoice issued and payment received', () => {
  it('emails an issued invoice with its PDF attached once the document is rendered', async () => {
    const config = testNotifyConfig(servers.mailbox, undefined);
    const h = await household(ctx.pool, { phone: null });
    const invoice = await issueInvoice(h, `${h.code}-INV-000001`);
    const [queued] = await many<{ id: string; status: string; template: string }>(
      ctx.pool,
      `select id, status, template from public.notifications where customer = $1`,
      [h.customer],
    );
    expect(queued).toMatchObject({ status: 'queued', template: 'invoice_issued' });
    const processed = await one<{ processed: boolean }>(
      ctx.pool,
      `select processed_at is not null as processed from internal.billing_events where invoice = $1`,
      [invoice],
    );
    expect(processed.processed).toBe(true);

    // Not rendered yet: the job waits without spending an attempt.
    await runNotifyJobs(db, config, 0);
    expect(
      await one<{ status: string; attempts: number }>(
        ctx.pool,
        `select status, attempts from public.notifications where id = $1`,
        [queued!.id],
      ),
    ).toEqual({ status: 'queued', attempts: 0 });

    await ctx.pool.query(
      `insert into internal.invoice_documents (invoice, html, pdf, pages) values ($1, '<p>x</p>', $2, 1)`,
      [invoice, pdf],
    );
    const before = servers.mailbox.received.length;
    await runNotifyJobs(db, config);
    expect(servers.mailbox.received.length - before).toBe(1);
    const mail = servers.mailbox.received.at(-1)!;
    expect(mail.subject).toBe(`Your invoice ${h.code}-INV-000001: £84.37`);
    expect(mail.text).toContain('for 1 October 2026 to 31 October 2026 is attached: £84.37, due by 15 December 2026.');
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({
      filename: `${h.code}-INV-000001.pdf`,
      contentType: 'application/pdf',
    });
    expect(Buffer.compare(mail.attachments[0]!.content, pdf)).toBe(0);
    closeSenders(config);
  });

  it('sends a receipt for a payment, once', async () => {
    const h = await household(ctx.pool, { phone: null });
    const insert = () =>
      ctx.pool.query(
        `insert into public.payments (esco, account, amount, method, reference, source)
         values ($1, $2, 42.10, 'bank_transfer', 'REF', $3) on conflict (source) do nothing`,
        [h.esco, h.account, `bank:${h.code}-1`],
      );
    await insert();
    await insert();
    const rows = await many<{ template: string; payload: Record<string, unknown> }>(
      ctx.pool,
      `select template, payload from public.notifications where customer = $1`,
      [h.customer],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ template: 'payment_received', payload: { amount_gbp: '42.10' } });
  });

  it('queues the receipts of payments posted in one statement: per customer and channel, each with its job', async () => {
    const plain = await household(ctx.pool, { phone: '+447700900201' });
    const vulnerable = await household(ctx.pool, { phone: null, vulnerable: true });
    // the first household's customer takes no receipts by email: recorded as suppressed, no job
    await ctx.pool.query(
      `update public.notification_preferences set email_kinds = '{invoice_issued}' where customer = $1`,
      [plain.customer],
    );
    await ctx.pool.query(
      `insert into public.payments (esco, account, amount, method, reference, source)
       select x.esco, x.account, x.amount, 'bank_transfer', 'REF', x.source
         from unnest($1::uuid[], $2::uuid[], $3::numeric[], $4::text[]) as x(esco, account, amount, source)`,
      [
        [plain.esco, vulnerable.esco, vulnerable.esco],
        [plain.account, vulnerable.account, vulnerable.account],
        ['10.00', '20.00', '30.00'],
        [`bank:${plain.code}-b1`, `bank:${vulnerable.code}-b1`, `bank:${vulnerable.code}-b2`],
      ],
    );
    const rows = await many<{ customer: string; channel: string; status: string; priority: number; job: boolean }>(
      ctx.pool,
      `select n.customer, n.channel, n.status, n.priority,
              exists (select 1 from graphile_worker.jobs j where j.key = 'notify:' || n.id
                        and j.task_identifier = 'notify__' || n.channel) as job
         from public.notifications n where n.customer = any ($1) order by n.customer = $2, n.payload ->> 'amount_gbp', n.channel`,
      [[plain.customer, vulnerable.customer], vulnerable.customer],
    );
    expect(rows).toEqual([
      // SMS does not carry receipts by default: suppressed too
      { customer: plain.customer, channel: 'email', status: 'suppressed', priority: 10, job: false },
      { customer: plain.customer, channel: 'sms', status: 'suppressed', priority: 10, job: false },
      { customer: vulnerable.customer, channel: 'email', status: 'queued', priority: 0, job: true },
      { customer: vulnerable.customer, channel: 'email', status: 'queued', priority: 0, job: true },
    ]);
  });
});
