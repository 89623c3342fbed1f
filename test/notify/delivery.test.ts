// Outbox to provider: events enqueue in their own transaction, notify__email and notify__sms deliver each
// message once through a real SMTP server and a Twilio stand-in, with retries, permanent failures,
// opt-outs, quiet hours, the rate limit and development suppression.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { many, one, type Queryable } from '../../src/db/client.ts';
import { deliver } from '../../src/notify/deliver.ts';
import { smtpSender } from '../../src/notify/senders.ts';
import { closeSenders } from '../../src/notify/tasks.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { useNotifyServers } from './servers.ts';
import { household, runNotifyJobs, testNotifyConfig, TWILIO_SID } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
const servers = useNotifyServers({ twilio: true });

interface Message {
  id: string;
  channel: string;
  template: string;
  status: string;
  attempts: number;
  priority: number;
  provider_message_id: string | null;
  last_error: string | null;
  next_attempt_at: Date;
  address: string;
}
const messagesOf = (customerOrEsco: string) =>
  many<Message>(
    ctx.pool,
    `select id, channel, template, status, attempts, priority, provider_message_id, last_error, next_attempt_at, address
       from public.notifications where customer = $1 or (customer is null and esco = $1) order by created_at, channel`,
    [customerOrEsco],
  );

async function topup(h: { esco: string; account: string; meter: string }, status: 'verified' | 'failed') {
  const { id } = await one<{ id: string }>(
    ctx.pool,
    `insert into public.topups (esco, account, meter, amount) values ($1, $2, $3, 12.5) returning id`,
    [h.esco, h.account, h.meter],
  );
  await ctx.pool.query(
    status === 'verified'
      ? `update public.topups set status = 'verified', token = '12345678901234567890', token_sequence = 1,
                meter_balance_after = 27.45, verified_at = now() where id = $1`
      : `update public.topups set status = 'failed', failed_at = now(), error = 'meter refused' where id = $1`,
    [id],
  );
  return id;
}

describe('email through a real SMTP server', () => {
  it('sends a completed top-up once, with headers, plain text and HTML, and records the Message-ID', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { name: 'Ada <Lovelace>' });
    const before = servers.mailbox.received.length;
    await topup(h, 'verified');
    const [queued] = await messagesOf(h.customer);
    expect(queued).toMatchObject({ channel: 'email', template: 'topup_completed', status: 'queued' });
    // topup_completed is not an SMS kind by default: that channel is recorded as opted out.
    expect((await messagesOf(h.customer)).map((m) => [m.channel, m.status])).toEqual([
      ['email', 'queued'],
      ['sms', 'suppressed'],
    ]);

    await runNotifyJobs(db, config);
    await runNotifyJobs(db, config); // a second run finds nothing to do
    expect(servers.mailbox.received.length - before).toBe(1);
    const mail = servers.mailbox.received.at(-1)!;
    expect(servers.mailbox.envelopes.at(-1)).toEqual([queued!.address]);
    expect(mail.from?.value).toEqual([{ name: 'Flows Test', address: 'no-reply@flows.test' }]);
    expect(mail.subject).toBe('Your top-up of £12.50 has reached your meter');
    expect(mail.messageId).toBe(`<${queued!.id}@notify.flows>`);
    expect(mail.headers.get('x-flows-notification')).toBe(queued!.id);
    expect(mail.text).toContain('Dear Ada <Lovelace>,');
    expect(mail.text).toContain(`reached meter ${h.serial}`);
    expect(mail.text).toContain('Your balance is now £27.45.');
    expect(mail.text).toContain(`${h.code} Community Energy`);
    expect(mail.html).toContain('<p>Dear Ada &#60;Lovelace&#62;,</p>');
    expect(mail.html).toContain('£27.45');
    const [sent] = await messagesOf(h.customer);
    expect(sent).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: `<${queued!.id}@notify.flows>` });
    closeSenders(config);
  });

  it('survives the SMTP server being down: retried with backoff, sent once when it is back', async () => {
    const config = {
      ...testNotifyConfig(servers.mailbox, servers.twilio),
      maxAttempts: 5,
      backoffMs: 300,
      maxBackoffMs: 300,
    };
    const h = await household(ctx.pool, { phone: null });
    await servers.mailbox.stop();
    try {
      await topup(h, 'failed');
      await runNotifyJobs(db, config, 0);
      const [down] = await messagesOf(h.customer);
      expect(down).toMatchObject({ status: 'queued', attempts: 1 });
      expect(down!.last_error).toMatch(/ECONNECTION|ECONNREFUSED|connect/i);
      expect(down!.next_attempt_at.getTime()).toBeGreaterThan(Date.now() - 1000);
    } finally {
      await servers.mailbox.start();
    }
    const before = servers.mailbox.received.length;
    await runNotifyJobs(db, config, 1000);
    const [up] = await messagesOf(h.customer);
    expect(up).toMatchObject({ status: 'sent', attempts: 2, last_error: null });
    // (the ESCO's operators get their own alert of the failed top-up: left out here)
    const toCustomer = servers.mailbox.received.slice(before).filter((m) => !m.subject?.startsWith('Top-up of'));
    expect(toCustomer.map((m) => [m.subject, m.messageId])).toEqual([
      ['Your top-up of £12.50 could not be delivered', `<${up!.id}@notify.flows>`],
    ]);
    closeSenders(config);
  });

  it('marks a refused recipient (550) failed without retrying', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { email: 'nobody@invalid.example', phone: null });
    const before = servers.mailbox.received.length;
    await topup(h, 'verified');
    await runNotifyJobs(db, config);
    const [m] = await messagesOf(h.customer);
    expect(m).toMatchObject({ status: 'failed', attempts: 1 });
    expect(m!.last_error).toContain('550');
    expect(m!.last_error).not.toContain('nobody@invalid.example');
    expect(servers.mailbox.received.length).toBe(before);
    closeSenders(config);
  });
});

describe('SMS through the Twilio stand-in', () => {
  const smsOf = async (customer: string) => (await messagesOf(customer)).filter((m) => m.channel === 'sms');

  it('retries a Twilio 500 and records the message SID', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { email: null });
    servers.twilio.script.push({ status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } });
    const before = servers.twilio.requests.length;
    await topup(h, 'failed');
    await runNotifyJobs(db, config);
    const [m] = await smsOf(h.customer);
    expect(m).toMatchObject({ status: 'sent', attempts: 2 });
    expect(m!.provider_message_id).toMatch(/^SM[0-9]{32}$/);
    const requests = servers.twilio.requests.slice(before);
    expect(requests).toHaveLength(2);
    const last = requests.at(-1)!;
    expect(last.path).toBe(`/2010-04-01/Accounts/${TWILIO_SID}/Messages.json`);
    expect(last.authorization).toBe(`Basic ${Buffer.from(`${TWILIO_SID}:test-token`).toString('base64')}`);
    expect(last.form.get('To')).toBe(m!.address);
    expect(last.form.get('From')).toBe('+447700900000');
    expect(last.form.get('Body')).toBe(
      `${`${h.code} Community Energy`.slice(0, 19)}.: your top-up of £12.50 could not reach meter ${h.serial}. Your money is safe; please call us.`,
    );
    closeSenders(config);
  });

  it('fails an invalid number (Twilio 400, 21211) without retrying', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { email: null });
    servers.twilio.script.push({
      status: 400,
      body: { code: 21211, message: "The 'To' number +447700900123 is not a valid phone number.", status: 400 },
    });
    const before = servers.twilio.requests.length;
    await topup(h, 'failed');
    await runNotifyJobs(db, config);
    const [m] = await smsOf(h.customer);
    expect(m).toMatchObject({ status: 'failed', attempts: 1, provider_message_id: null });
    expect(m!.last_error).toContain('21211');
    expect(m!.last_error).not.toContain('+447700900123');
    expect(servers.twilio.requests.length - before).toBe(1);
    closeSenders(config);
  });

  it('gives up after the last attempt', async () => {
    const config = { ...testNotifyConfig(servers.mailbox, servers.twilio), maxAttempts: 2 };
    const h = await household(ctx.pool, { email: null });
    for (let i = 0; i < 2; i++)
      servers.twilio.script.push({ status: 503, body: { code: 20503, message: 'busy', status: 503 } });
    await topup(h, 'failed');
    await runNotifyJobs(db, config);
    const [m] = await smsOf(h.customer);
    expect(m).toMatchObject({ status: 'failed', attempts: 2 });
    closeSenders(config);
  });

  it('delays an SMS due in quiet hours until they end', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { email: null });
    // Quiet hours around the current London time: from an hour ago to two hours ahead.
    await ctx.pool.query(
      `update public.notification_preferences
          set quiet_hours_start = (now() at time zone 'Europe/London' - interval '1 hour')::time,
              quiet_hours_end = (now() at time zone 'Europe/London' + interval '2 hours')::time
        where customer = $1`,
      [h.customer],
    );
    const before = servers.twilio.requests.length;
    await topup(h, 'failed');
    const [m] = await smsOf(h.customer);
    const delay = m!.next_attempt_at.getTime() - Date.now();
    expect(delay).toBeGreaterThan(110 * 60_000);
    expect(delay).toBeLessThan(121 * 60_000);
    const job = await one<{ run_at: Date }>(
      ctx.pool,
      `select run_at from graphile_worker.jobs where key = 'notify:' || $1`,
      [m!.id],
    );
    expect(job.run_at.getTime()).toBe(m!.next_attempt_at.getTime());
    await runNotifyJobs(db, config);
    expect(servers.twilio.requests.length).toBe(before);
    expect((await smsOf(h.customer))[0]).toMatchObject({ status: 'queued', attempts: 0 });
  });
});

describe('the outbox', () => {
  it('keeps one message when the same event is enqueued twice', async () => {
    const h = await household(ctx.pool, { phone: null });
    const enqueue = () =>
      one<{ n: number }>(
        ctx.pool,
        `select internal.notify_customer($1, 'topup_completed',
                  '{"amount_gbp": "5.00", "meter_serial": "X"}', 'topup_completed:twice') as n`,
        [h.customer],
      );
    expect((await enqueue()).n).toBe(1);
    expect((await enqueue()).n).toBe(0);
    expect(await messagesOf(h.customer)).toHaveLength(1);
    const jobs = await one<{ n: number }>(
      ctx.pool,
      `select count(*)::int as n from graphile_worker.jobs j join public.notifications n on j.key = 'notify:' || n.id
        where n.customer = $1`,
      [h.customer],
    );
    expect(jobs.n).toBe(1);
  });

  it('never sends a message twice: a row with a provider id is left alone, whatever its status says', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { email: null });
    await topup(h, 'failed');
    await runNotifyJobs(db, config);
    const [sent] = (await messagesOf(h.customer)).filter((m) => m.channel === 'sms');
    expect(sent).toMatchObject({ status: 'sent', attempts: 1 });
    const before = servers.twilio.requests.length;
    // As if the sent update were lost after the provider id was recorded, and the job ran again.
    await ctx.pool.query(`update public.notifications set status = 'queued', sent_at = null where id = $1`, [sent!.id]);
    await ctx.pool.query(`select graphile_worker.add_job('notify__sms', json_build_object('id', $1::uuid))`, [
      sent!.id,
    ]);
    await runNotifyJobs(db, config);
    expect(servers.twilio.requests.length).toBe(before);
    closeSenders(config);
  });

  it('honours an opt-out: nothing is sent, and the row says why', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool);
    await ctx.pool.query(
      `update public.notification_preferences
          set email_kinds = array_remove(email_kinds, 'topup_failed'), sms_kinds = array_remove(sms_kinds, 'topup_failed')
        where customer = $1`,
      [h.customer],
    );
    await topup(h, 'failed');
    await runNotifyJobs(db, config);
    const rows = await messagesOf(h.customer);
    expect(rows.map((r) => [r.channel, r.status, r.last_error])).toEqual([
      ['email', 'suppressed', 'opted out'],
      ['sms', 'suppressed', 'opted out'],
    ]);
    const [email, phone] = [rows[0]!.address, rows[1]!.address];
    expect(servers.mailbox.envelopes.filter((to) => to.includes(email))).toEqual([]);
    expect(servers.twilio.requests.filter((r) => r.form.get('To') === phone)).toEqual([]);
  });

  it('refuses a preference naming a kind no customer is sent (a misspelt opt-in), and changes nothing', async () => {
    const h = await household(ctx.pool);
    const before = await one(
      ctx.pool,
      `select email_kinds, sms_kinds from public.notification_preferences where customer = $1`,
      [h.customer],
    );
    await expect(
      ctx.pool.query(
        `update public.notification_preferences set email_kinds = '{invoice_issued,invoce_issued}', sms_kinds = '{off_supply,bogus}'
          where customer = $1`,
        [h.customer],
      ),
    ).rejects.toMatchObject({
      code: '22023',
      message: 'unknown notification kind: bogus, invoce_issued',
      hint: expect.stringMatching(/^Known kinds: invoice_issued, payment_received, /),
    });
    expect(
      await one(ctx.pool, `select email_kinds, sms_kinds from public.notification_preferences where customer = $1`, [
        h.customer,
      ]),
    ).toEqual(before);
  });

  it('marks a channel without settings suppressed outside production, visibly', async () => {
    const config = testNotifyConfig(undefined, undefined);
    const h = await household(ctx.pool);
    await topup(h, 'failed');
    await runNotifyJobs(db, config);
    const rows = await messagesOf(h.customer);
    expect(rows.map((r) => r.status)).toEqual(['suppressed', 'suppressed']);
    expect(rows[0]!.last_error).toContain('SMTP_URL');
    expect(rows[1]!.last_error).toContain('TWILIO_');
  });

  it('rate-limits each provider across messages', async () => {
    const config = { ...testNotifyConfig(servers.mailbox, servers.twilio), emailMinIntervalMs: 300 };
    const hs = [await household(ctx.pool, { phone: null }), await household(ctx.pool, { phone: null })];
    // Start with the slot free.
    await ctx.pool.query(
      `update internal.notify_provider_slots set next_slot_at = '-infinity' where provider = 'smtp'`,
    );
    for (const h of hs) await topup(h, 'verified');
    await runNotifyJobs(db, config);
    const sent = await many<{ sent_at: Date }>(
      ctx.pool,
      `select sent_at from public.notifications where customer = any ($1) order by sent_at`,
      [hs.map((h) => h.customer)],
    );
    expect(sent).toHaveLength(2);
    // Slots are 300 ms apart; sent_at also carries each SMTP conversation's own duration, hence the margin.
    // Without the limit both go out within a few milliseconds.
    expect(sent[1]!.sent_at.getTime() - sent[0]!.sent_at.getTime()).toBeGreaterThanOrEqual(200);
    closeSenders(config);
  });

  it('lets a customer read only their own messages', async () => {
    const [mine, theirs] = [await household(ctx.pool), await household(ctx.pool)];
    for (const h of [mine, theirs]) await topup(h, 'failed');
    await ctx.pool.query(`update public.customers set auth_subject = 'notify-reader-' || id where id = $1`, [
      mine.customer,
    ]);
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      await client.query(`select set_config('role', 'customer', true), set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ role: 'customer', sub: `notify-reader-${mine.customer}` }),
      ]);
      const rows = await many<{ customer: string }>(client, `select customer from public.notifications`);
      expect(rows.length).toBeGreaterThan(0);
      expect(new Set(rows.map((r) => r.customer))).toEqual(new Set([mine.customer]));
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});

describe('a connection lost once the provider has accepted', () => {
  it('records the message on a fresh connection, so it is never sent again', async () => {
    const config = testNotifyConfig(servers.mailbox, servers.twilio);
    const h = await household(ctx.pool, { name: 'Grace Hopper' });
    await topup(h, 'verified');
    const [queued] = await messagesOf(h.customer);
    const before = servers.mailbox.received.length;
    const connect = async () => {
      const client = new pg.Client({ connectionString: db.loginUrl('worker') });
      client.on('error', () => {});
      await client.connect();
      return client;
    };
    const job = await connect();
    const { pid } = await one<{ pid: number }>(job, 'select pg_backend_pid() as pid');
    // The job's connection really dies (its backend is terminated) just before it records the send.
    const dropping = {
      query: async (text: string, values?: unknown[]) => {
        if (text.includes("set status = 'sent'")) await ctx.pool.query('select pg_terminate_backend($1)', [pid]);
        return job.query(text, values);
      },
    } as unknown as Queryable;
    const sender = smtpSender({ ...config, smtpUrl: config.smtpUrl! });
    const quiet = { info: () => {}, warn: () => {}, error: () => {} };
    try {
      const withFreshClient = async <T>(work: (c: Queryable) => Promise<T>) => {
        const fresh = await connect();
        try {
          return await work(fresh);
        } finally {
          await fresh.end();
        }
      };
      const task = { config, log: quiet, sender, withFreshClient };
      // Due now, the provider's slot free (earlier tests used it).
      await ctx.pool.query(`update public.notifications set next_attempt_at = now() where id = $1`, [queued!.id]);
      await ctx.pool.query(`update internal.notify_provider_slots set next_slot_at = now() - interval '1 minute'`);
      expect(await deliver({ ...task, db: dropping }, queued!.id, 'email')).toBe('sent');
      expect(servers.mailbox.received.length).toBe(before + 1);
      const [sent] = await messagesOf(h.customer);
      expect(sent).toMatchObject({ status: 'sent', provider_message_id: `<${queued!.id}@notify.flows>` });
      // The retry the job would make finds it recorded and sends nothing.
      expect(await withFreshClient((c) => deliver({ ...task, db: c }, queued!.id, 'email'))).toBe('skipped');
      expect(servers.mailbox.received.length).toBe(before + 1);
    } finally {
      sender.close();
      await job.end().catch(() => {});
    }
  });
});
