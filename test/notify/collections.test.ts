// payment_overdue: a payment reminder (public.payment_reminders, written by collections__remind) sends one message
// per holder or payer and channel, through the real SMTP server and the Twilio stand-in; the same reminder twice is
// one message; occupants are not told.
import { describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { closeSenders } from '../../src/notify/tasks.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { useNotifyServers } from './servers.ts';
import { household, runNotifyJobs, testNotifyConfig } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
const servers = useNotifyServers({ twilio: true });

/** A second customer on the household's account. */
async function onAccount(h: { esco: string; account: string }, role: 'payer' | 'occupant', email: string) {
  const { id } = await one<{ id: string }>(
    ctx.pool,
    `insert into public.customers (esco, name, email, phone) values ($1, $2, $3, null) returning id`,
    [h.esco, `Account ${role}`, email],
  );
  await ctx.pool.query(`insert into public.customer_accounts (customer, account, esco, role) values ($1, $2, $3, $4)`, [
    id,
    h.account,
    h.esco,
    role,
  ]);
  return id;
}

describe('payment overdue', () => {
  it('sends a reminder once per holder or payer and channel, and the same reminder twice is one message', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { name: 'Grace Hopper' });
    const payer = await onAccount(h, 'payer', `payer.${h.code.toLowerCase()}@example.org`);
    await onAccount(h, 'occupant', `occupant.${h.code.toLowerCase()}@example.org`);
    const number = `${h.code}-INV-000007`;
    const invoice = await one<{ id: string }>(
      ctx.pool,
      `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                    supply_subtotal, vat, total, issued_at, due_date)
       values ($1, $2, 'invoice', 'issued', $3, '2026-09-01', '2026-10-01', 5, 80.35, 4.02, 84.37,
               now() - interval '30 days', (now() at time zone 'Europe/London')::date - 15)
       returning id`,
      [h.esco, h.account, number],
    );
    const mailsBefore = servers.mailbox.received.length;
    const smsBefore = servers.twilio.requests.length;

    const remind = () =>
      one<{ r: { created: number } }>(ctx.pool, `select internal.collections_remind($1) as r`, [h.esco]).then(
        (x) => x.r,
      );
    expect(await remind()).toMatchObject({ created: 1 });
    expect(await remind()).toMatchObject({ created: 0 });
    const [reminder] = await many<{ id: string; step: number }>(
      ctx.pool,
      `select id, step from public.payment_reminders where invoice = $1`,
      [invoice.id],
    );
    expect(reminder).toMatchObject({ step: 14 });
    // The same reminder inserted again (a retried job) is refused by its key and enqueues nothing.
    await ctx.pool.query(
      `insert into public.payment_reminders (esco, invoice, account, step, due_date, days_overdue, outstanding_gbp)
       select esco, invoice, account, step, due_date, days_overdue, outstanding_gbp from public.payment_reminders
        where id = $1
       on conflict (invoice, step) do nothing`,
      [reminder!.id],
    );

    const queued = await many<{ customer: string; channel: string; template: string; dedupe_key: string }>(
      ctx.pool,
      `select customer, channel, template, dedupe_key from public.notifications
        where esco = $1 and template = 'payment_overdue' order by dedupe_key`,
      [h.esco],
    );
    expect(queued.map((q) => [q.customer, q.channel])).toEqual(
      expect.arrayContaining([
        [h.customer, 'email'],
        [h.customer, 'sms'],
        [payer, 'email'],
      ]),
    );
    expect(queued).toHaveLength(3); // the occupant is not told; the payer has no phone
    expect(queued.every((q) => q.dedupe_key.startsWith(`payment_overdue:${reminder!.id}:`))).toBe(true);

    await runNotifyJobs(db, config);
    await runNotifyJobs(db, config); // nothing left to send
    const mails = servers.mailbox.received
      .slice(mailsBefore)
      .filter((m) => m.subject === `Payment overdue: invoice ${number}`);
    expect(mails).toHaveLength(2);
    expect(servers.mailbox.received.length - mailsBefore).toBe(2);
    const holderEmail = (
      await one<{ email: string }>(ctx.pool, `select email from public.customers where id = $1`, [h.customer])
    ).email;
    expect(mails.map((m) => (Array.isArray(m.to) ? '' : m.to?.value[0]?.address)).sort()).toEqual(
      [holderEmail, `payer.${h.code.toLowerCase()}@example.org`].sort(),
    );
    const holderMail = mails.find((m) => m.text?.startsWith('Dear Grace Hopper'));
    expect(holderMail?.text).toContain(`Invoice ${number} was due on`);
    expect(holderMail?.text).toContain('(15 days ago) and £84.37 is still outstanding.');
    const sms = servers.twilio.requests.slice(smsBefore);
    expect(sms).toHaveLength(1);
    expect(sms[0]!.form.get('Body')).toMatch(new RegExp(`invoice ${number} \\(£84\\.37\\) was due `));
    const statuses = await many<{ status: string }>(
      ctx.pool,
      `select status from public.notifications where esco = $1 and template = 'payment_overdue'`,
      [h.esco],
    );
    expect(statuses.map((s) => s.status)).toEqual(['sent', 'sent', 'sent']);
    closeSenders(config);
  });

  it('does not remind a customer who opted out of payment_overdue by SMS on that channel', async () => {
    const h = await household(ctx.pool);
    await ctx.pool.query(`update public.notification_preferences set sms_kinds = '{}' where customer = $1`, [
      h.customer,
    ]);
    await ctx.pool.query(
      `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                    supply_subtotal, vat, total, issued_at, due_date)
       values ($1, $2, 'invoice', 'issued', $3, '2026-09-01', '2026-10-01', 0, 10, 0, 10, now(),
               (now() at time zone 'Europe/London')::date - 7)`,
      [h.esco, h.account, `${h.code}-INV-000008`],
    );
    await ctx.pool.query(`select internal.collections_remind($1)`, [h.esco]);
    const rows = await many<{ channel: string; status: string }>(
      ctx.pool,
      `select channel, status from public.notifications where customer = $1 and template = 'payment_overdue'
        order by channel`,
      [h.customer],
    );
    expect(rows).toEqual([
      { channel: 'email', status: 'queued' },
      { channel: 'sms', status: 'suppressed' },
    ]);
  });
});
