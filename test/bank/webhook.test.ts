// Card payments through provider webhooks (Stripe-shaped): the signature and timestamp are verified in SQL before
// anything is stored; each event is handled once however often it is delivered; a prepay account's payment
// becomes a top-up; refunds are recorded, in whatever order the provider's events arrive.
import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { committedAs, useTestDatabase, usePool } from '../support/database.ts';
import { makeBankEsco, type BankEsco } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
const SECRET = 'whsec_test_0123456789abcdef';
let esco: BankEsco;
let meterId: string;

beforeAll(async () => {
  esco = await makeBankEsco(ctx.pool, 'CARD', {
    iban: 'GB29NWBK60161331926819',
    references: [
      'CARD-000001',
      'CARD-000002',
      'CARD-000003',
      'CARD-000004',
      'CARD-000005',
      'CARD-000006',
      'CARD-000007',
    ],
  });
  await ctx.pool.query(`update public.accounts set billing_mode = 'prepay' where id = any ($1)`, [
    [esco.accounts['CARD-000002'], esco.accounts['CARD-000007']],
  ]);
  meterId = (
    await one<{ id: string }>(
      ctx.pool,
      `insert into flows.meter_registry (esco, serial, ip_address) values ($1, 'CARDM1', '10.77.0.1') returning id`,
      [esco.id],
    )
  ).id;
  await ctx.pool.query(`insert into internal.payment_secrets (name, value) values ('stripe_webhook', $1)`, [SECRET]);
});

function sign(body: string, at = Math.floor(Date.now() / 1000), secret = SECRET) {
  return `t=${at},v1=${createHmac('sha256', secret).update(`${at}.${body}`).digest('hex')}`;
}

/** One delivery, as PostgREST makes it: the raw body as the text argument, headers in request.headers; committed. */
async function deliver(
  body: string,
  signature: string | null,
  role = 'service',
  claims: Record<string, unknown> = { escos: [esco.id] },
): Promise<Record<string, unknown>> {
  const client = await ctx.pool.connect();
  try {
    await client.query('begin');
    await client.query(
      `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), set_config('request.headers', $3, true)`,
      [role, JSON.stringify({ ...claims, role }), JSON.stringify(signature ? { 'stripe-signature': signature } : {})],
    );
    const { rows } = await client.query<{ r: Record<string, unknown> }>(`select public.payment_webhook($1) as r`, [
      body,
    ]);
    await client.query('commit');
    return rows[0]!.r;
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

const succeeded = (
  eventId: string,
  intent: string,
  account: string,
  pence: number,
  metadata: Record<string, string> = {},
) =>
  JSON.stringify({
    id: eventId,
    type: 'payment_intent.succeeded',
    created: 1790000000,
    data: {
      object: {
        id: intent,
        object: 'payment_intent',
        amount: pence,
        amount_received: pence,
        currency: 'gbp',
        created: 1790000000,
        description: 'Energy bill',
        metadata: { account_id: account, ...metadata },
      },
    },
  });

/** A charge.refunded event: `pence` is the charge's cumulative amount refunded. */
const refunded = (eventId: string, charge: string, intent: string, account: string, pence: number) =>
  JSON.stringify({
    id: eventId,
    type: 'charge.refunded',
    data: {
      object: { id: charge, payment_intent: intent, amount_refunded: pence, metadata: { account_id: account } },
    },
  });

/** Signs and delivers an event as the service. */
const send = (body: string) => deliver(body, sign(body));

const events = async () =>
  Number((await one<{ n: string }>(ctx.pool, `select count(*) as n from internal.payment_webhook_events`)).n);

/** An issued invoice of the account (with its ledger debit), posted as issuing posts it. */
async function invoice(account: string, total: string, due: string): Promise<string> {
  const { id } = await one<{ id: string }>(
    ctx.pool,
    `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                  supply_subtotal, vat, total, issued_at, due_date)
     select $1, a.id, 'invoice', 'issued', a.account_number || '/' || $4::text, '2026-09-01', '2026-10-01', 0, $3, 0, $3,
            now(), $4::date
       from public.accounts a where a.id = $2
     returning id`,
    [esco.id, account, total, due],
  );
  await ctx.pool.query(
    `insert into public.ledger_entries (esco, account, kind, amount, invoice, description)
     values ($1, $2, 'invoice', $3, $4, 'Invoice')`,
    [esco.id, account, total, id],
  );
  await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [account]);
  return id;
}

/** The account's invoices, due first first: due date, status and what payments pay of each. */
const invoices = (account: string) =>
  many<{ due: string; status: string; paid: string }>(
    ctx.pool,
    `select to_char(i.due_date, 'MM-DD') as due, i.status,
            coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)::text as paid
       from public.invoices i where i.account = $1 order by i.due_date`,
    [account],
  );

const balance = async (account: string) =>
  (
    await one<{ b: string }>(ctx.pool, `select sum(amount)::text as b from public.ledger_entries where account = $1`, [
      account,
    ])
  ).b;

/** A card payment's status and what it pays: [status, [invoice due, amount]…]. */
const payment = async (intent: string) =>
  one<{ status: string; allocations: [string, string][] }>(
    ctx.pool,
    `select p.status,
            coalesce((select json_agg(json_build_array(to_char(i.due_date, 'MM-DD'), a.amount::text) order by i.due_date)
                        from public.payment_allocations a join public.invoices i on i.id = a.invoice
                       where a.payment = p.id), '[]') as allocations
       from public.payments p where p.source = 'stripe:' || $1`,
    [intent],
  );

/**
 * The account's books. The ledger balance must be what its open invoices still owe less its credit: the money of its
 * payments that no invoice took and no refund of the payment took back, less refunds of credit (not cancelled) and
 * card refunds that no payment accounts for yet.
 */
const books = (account: string) =>
  one<{ balance: string; owed: string; credit: string; agree: boolean }>(
    ctx.pool,
    `select b.balance::text, o.owed::text, c.credit::text, b.balance = o.owed - c.credit as agree
       from (select coalesce(sum(l.amount), 0)::numeric(12, 2) as balance from public.ledger_entries l
              where l.account = $1) b,
            (select coalesce(sum(i.total - coalesce((select sum(a.amount) from public.payment_allocations a
                                                       where a.invoice = i.id), 0)), 0)::numeric(12, 2) as owed
               from public.invoices i
              where i.account = $1 and i.kind = 'invoice' and i.status in ('issued', 'partially_paid')) o,
            (select (coalesce((select sum(p.amount
                                         - coalesce((select sum(a.amount) from public.payment_allocations a
                                                      where a.payment = p.id), 0)
                                         - coalesce((select sum(r.amount) from public.refunds r
                                                      where r.payment = p.id and r.status <> 'cancelled'
                                                        and not internal.refund_of_credit(r.source)), 0))
                                 from public.payments p where p.account = $1 and p.status <> 'failed'), 0)
                     - coalesce((select sum(r.amount) from public.refunds r
                                  where r.account = $1 and r.status <> 'cancelled'
                                    and (internal.refund_of_credit(r.source) or r.payment is null)), 0)
                    )::numeric(12, 2) as credit) c`,
    [account],
  );

/** The card refunds of a charge, oldest first: amount, whether linked to the intent's payment, and their ledger debits. */
const cardRefunds = (charge: string, intent: string) =>
  many<{ amount: string; linked: boolean; entries: { kind: string; amount: string }[] }>(
    ctx.pool,
    `select r.amount::text,
            r.payment is not distinct from (select p.id from public.payments p where p.source = 'stripe:' || $2) as linked,
            coalesce((select json_agg(json_build_object('kind', l.kind, 'amount', l.amount::text))
                        from public.ledger_entries l where l.refund = r.id), '[]') as entries
       from public.refunds r where r.source like 'stripe:' || $1 || ':%' order by r.requested_at, r.amount`,
    [charge, intent],
  );

describe('payment webhooks', () => {
  it('refuses a bad signature, a wrong secret, an old timestamp and no signature, storing nothing', async () => {
    const body = succeeded('evt_bad', 'pi_bad', esco.accounts['CARD-000001']!, 1000);
    for (const header of [
      sign(body).replace(/v1=(.)/, (_, c: string) => `v1=${c === '0' ? '1' : '0'}`),
      sign(body, undefined, 'whsec_someone_else_000000'),
      sign(body, Math.floor(Date.now() / 1000) - 301),
      sign(`${body} `).replace(/^t=\d+/, `t=${Math.floor(Date.now() / 1000)}`),
      null,
    ]) {
      await expect(deliver(body, header)).rejects.toMatchObject({ code: 'PT401' });
    }
    expect(await events()).toBe(0);
    expect(await many(ctx.pool, `select 1 from public.payments where source = 'stripe:pi_bad'`)).toEqual([]);
  });

  it('records a payment once when the event is delivered three times', async () => {
    const body = succeeded('evt_1', 'pi_1', esco.accounts['CARD-000001']!, 4560);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await deliver(body, sign(body)));
    expect(results.map((r) => r.status)).toEqual(['payment_recorded', 'duplicate', 'duplicate']);
    const payments = await many<{ amount: string; method: string; account: string }>(
      ctx.pool,
      `select amount::text, method, account from public.payments where source = 'stripe:pi_1'`,
    );
    expect(payments).toEqual([{ amount: '45.60', method: 'card', account: esco.accounts['CARD-000001'] }]);
    expect(
      await one(ctx.pool, `select deliveries, outcome from internal.payment_webhook_events where event_id = 'evt_1'`),
    ).toEqual({
      deliveries: 3,
      outcome: 'payment_recorded',
    });
    // a new event for the same payment intent does not pay twice either
    const again = succeeded('evt_1b', 'pi_1', esco.accounts['CARD-000001']!, 4560);
    expect((await deliver(again, sign(again))).status).toBe('payment_exists');
  });

  it("turns a prepay account's payment into a top-up linked to the payment", async () => {
    const body = succeeded('evt_2', 'pi_2', esco.accounts['CARD-000002']!, 2000, { meter_id: meterId });
    expect(await deliver(body, sign(body))).toMatchObject({ status: 'topup_requested' });
    const topup = await one<{ amount: string; status: string; meter: string; paid: string }>(
      ctx.pool,
      `select t.amount::text, t.status, t.meter, p.amount::text as paid
         from public.topups t join public.payments p on p.id = t.payment where p.source = 'stripe:pi_2'`,
    );
    expect(topup).toEqual({ amount: '20.00', status: 'requested', meter: meterId, paid: '20.00' });
  });

  it('records refunds (amount_refunded is cumulative) and failures', async () => {
    const refund = (id: string, pence: number) =>
      JSON.stringify({
        id,
        type: 'charge.refunded',
        data: {
          object: {
            id: 'ch_1',
            payment_intent: 'pi_1',
            amount_refunded: pence,
            metadata: { account_id: esco.accounts['CARD-000001'] },
          },
        },
      });
    expect((await deliver(refund('evt_r1', 1000), sign(refund('evt_r1', 1000)))).status).toBe('refund_recorded');
    expect((await deliver(refund('evt_r2', 4560), sign(refund('evt_r2', 4560)))).status).toBe('refund_recorded');
    expect((await deliver(refund('evt_r2', 4560), sign(refund('evt_r2', 4560)))).status).toBe('duplicate');
    const refunds = await many<{ amount: string }>(
      ctx.pool,
      `select amount::text from public.refunds where account = $1 order by amount`,
      [esco.accounts['CARD-000001']],
    );
    expect(refunds.map((r) => r.amount)).toEqual(['10.00', '35.60']);
    expect(await one(ctx.pool, `select status from public.payments where source = 'stripe:pi_1'`)).toEqual({
      status: 'refunded',
    });
    const failed = JSON.stringify({
      id: 'evt_f',
      type: 'payment_intent.payment_failed',
      data: { object: { id: 'pi_f', metadata: {} } },
    });
    expect((await deliver(failed, sign(failed))).status).toBe('payment_failed');
  });

  it('takes refunded money off what the payment left over first, then off its latest invoices', async () => {
    const acct = esco.accounts['CARD-000003']!;
    const refund = (id: string, pence: number) => refunded(id, 'ch_5', 'pi_5', acct, pence);

    await invoice(acct, '30.00', '2026-10-10');
    await invoice(acct, '40.00', '2026-10-20');
    await send(succeeded('evt_5', 'pi_5', acct, 10000)); // both invoices and 30.00 credit
    expect(await balance(acct)).toBe('-30.00');

    // 20.00 refunded: it comes off the 30.00 left over; the invoices stay paid
    await send(refund('evt_5r1', 2000));
    expect((await invoices(acct)).map((i) => i.status)).toEqual(['paid', 'paid']);
    // only the 10.00 not refunded pays the next invoice
    await invoice(acct, '15.00', '2026-11-10');
    expect((await invoices(acct)).map((i) => [i.due, i.status, i.paid])).toEqual([
      ['10-10', 'paid', '30.00'],
      ['10-20', 'paid', '40.00'],
      ['11-10', 'partially_paid', '10.00'],
    ]);
    expect(await balance(acct)).toBe('5.00');

    // 30.00 more refunded: nothing is left over, so the invoices due last are owed again
    await send(refund('evt_5r2', 5000));
    expect((await invoices(acct)).map((i) => [i.due, i.status, i.paid])).toEqual([
      ['10-10', 'paid', '30.00'],
      ['10-20', 'partially_paid', '20.00'],
      ['11-10', 'issued', '0'],
    ]);
    expect(await balance(acct)).toBe('35.00'); // = what the invoices owe
    await send(succeeded('evt_6', 'pi_6', acct, 3500));
    expect((await invoices(acct)).map((i) => i.status)).toEqual(['paid', 'paid', 'paid']);
    expect(await balance(acct)).toBe('0.00');
    // each card refund's ledger debit names it
    expect(await cardRefunds('ch_5', 'pi_5')).toEqual([
      { amount: '20.00', linked: true, entries: [{ kind: 'adjustment', amount: '20.00' }] },
      { amount: '30.00', linked: true, entries: [{ kind: 'adjustment', amount: '30.00' }] },
    ]);
  });

  it('counts only its own card refunds, not a cancelled refund of credit naming it, towards a refunded payment', async () => {
    const acct = esco.accounts['CARD-000004']!;
    await send(succeeded('evt_b1', 'pi_b1', acct, 10000));
    expect(await books(acct)).toEqual({ balance: '-100.00', owed: '0.00', credit: '100.00', agree: true });

    // an operator refunds the credit, naming the payment, then cancels the refund
    const op = { sub: esco.operatorSub };
    const { id: paymentId } = await one<{ id: string }>(
      ctx.pool,
      `select id from public.payments where source = 'stripe:pi_b1'`,
    );
    const { id: refundId } = await committedAs(ctx.pool, 'operator', op, (c) =>
      one<{ id: string }>(c, `select id from public.refund_request($1, 100, 'customer asked', $2)`, [acct, paymentId]),
    );
    expect(await books(acct)).toEqual({ balance: '0.00', owed: '0.00', credit: '0.00', agree: true });
    await committedAs(ctx.pool, 'operator', op, (c) =>
      one(c, `select status from public.refund_cancel($1, 'customer changed their mind')`, [refundId]),
    );
    expect(await books(acct)).toEqual({ balance: '-100.00', owed: '0.00', credit: '100.00', agree: true });

    // 10.00 refunded by card: 90.00 of the payment is still the customer's
    expect(await send(refunded('evt_b1r', 'ch_b1', 'pi_b1', acct, 1000))).toMatchObject({ status: 'refund_recorded' });
    expect(await payment('pi_b1')).toEqual({ status: 'received', allocations: [] });
    expect(await books(acct)).toEqual({ balance: '-90.00', owed: '0.00', credit: '90.00', agree: true });
    expect(await cardRefunds('ch_b1', 'pi_b1')).toEqual([
      { amount: '10.00', linked: true, entries: [{ kind: 'adjustment', amount: '10.00' }] },
    ]);

    // and pays the next invoice
    await invoice(acct, '50.00', '2026-10-10');
    expect(await invoices(acct)).toEqual([{ due: '10-10', status: 'paid', paid: '50.00' }]);
    expect(await payment('pi_b1')).toEqual({ status: 'received', allocations: [['10-10', '50.00']] });
    expect(await books(acct)).toEqual({ balance: '-40.00', owed: '0.00', credit: '40.00', agree: true });
  });

  it('takes a refund that arrives before its payment off that payment, never paying an invoice with it', async () => {
    const acct = esco.accounts['CARD-000005']!;
    await invoice(acct, '100.00', '2026-10-10');
    expect(await books(acct)).toEqual({ balance: '100.00', owed: '100.00', credit: '0.00', agree: true });

    // the whole charge refunded: the refund comes first, with no payment to take it off yet
    expect(await send(refunded('evt_b2r', 'ch_b2', 'pi_b2', acct, 10000))).toMatchObject({ status: 'refund_recorded' });
    expect(await books(acct)).toEqual({ balance: '200.00', owed: '100.00', credit: '-100.00', agree: true });

    // then the payment: all of it refunded already, it pays nothing
    await send(succeeded('evt_b2', 'pi_b2', acct, 10000));
    expect(await payment('pi_b2')).toEqual({ status: 'refunded', allocations: [] });
    expect(await invoices(acct)).toEqual([{ due: '10-10', status: 'issued', paid: '0' }]);
    expect(await books(acct)).toEqual({ balance: '100.00', owed: '100.00', credit: '0.00', agree: true });
    expect(await cardRefunds('ch_b2', 'pi_b2')).toEqual([
      { amount: '100.00', linked: true, entries: [{ kind: 'adjustment', amount: '100.00' }] },
    ]);
    // a redelivered refund event changes nothing
    expect(await send(refunded('evt_b2r2', 'ch_b2', 'pi_b2', acct, 10000))).toMatchObject({ status: 'refund_exists' });

    // another payment pays the invoice
    await send(succeeded('evt_b2b', 'pi_b2b', acct, 10000));
    expect(await invoices(acct)).toEqual([{ due: '10-10', status: 'paid', paid: '100.00' }]);
    expect(await books(acct)).toEqual({ balance: '0.00', owed: '0.00', credit: '0.00', agree: true });
  });

  it("counts a charge's refunds recorded before its payment arrived when more of it is refunded", async () => {
    const acct = esco.accounts['CARD-000006']!;
    await invoice(acct, '100.00', '2026-10-10');

    // 30.00 refunded before the payment is known
    await send(refunded('evt_b3r1', 'ch_b3', 'pi_b3', acct, 3000));
    expect(await books(acct)).toEqual({ balance: '130.00', owed: '100.00', credit: '-30.00', agree: true });

    // the 100.00 payment: only the 70.00 not refunded pays the invoice
    await send(succeeded('evt_b3', 'pi_b3', acct, 10000));
    expect(await payment('pi_b3')).toEqual({ status: 'allocated', allocations: [['10-10', '70.00']] });
    expect(await invoices(acct)).toEqual([{ due: '10-10', status: 'partially_paid', paid: '70.00' }]);
    expect(await books(acct)).toEqual({ balance: '30.00', owed: '30.00', credit: '0.00', agree: true });

    // 50.00 refunded in all: 20.00 more, off the invoice the payment paid
    expect(await send(refunded('evt_b3r2', 'ch_b3', 'pi_b3', acct, 5000))).toMatchObject({ status: 'refund_recorded' });
    expect(await cardRefunds('ch_b3', 'pi_b3')).toEqual([
      { amount: '30.00', linked: true, entries: [{ kind: 'adjustment', amount: '30.00' }] },
      { amount: '20.00', linked: true, entries: [{ kind: 'adjustment', amount: '20.00' }] },
    ]);
    expect(await payment('pi_b3')).toEqual({ status: 'allocated', allocations: [['10-10', '50.00']] });
    expect(await invoices(acct)).toEqual([{ due: '10-10', status: 'partially_paid', paid: '50.00' }]);
    expect(await books(acct)).toEqual({ balance: '50.00', owed: '50.00', credit: '0.00', agree: true });
  });

  it("tops up a prepay account's meter with what refunds that came first left of the payment, if anything", async () => {
    const acct = esco.accounts['CARD-000007']!;
    const topup = (intent: string) =>
      many<{ amount: string }>(
        ctx.pool,
        `select t.amount::text from public.topups t join public.payments p on p.id = t.payment
          where p.source = 'stripe:' || $1`,
        [intent],
      );
    await send(refunded('evt_b4r', 'ch_b4', 'pi_b4', acct, 3000));
    expect(await send(succeeded('evt_b4', 'pi_b4', acct, 10000, { meter_id: meterId }))).toMatchObject({
      status: 'topup_requested',
    });
    expect(await topup('pi_b4')).toEqual([{ amount: '70.00' }]);
    expect(await payment('pi_b4')).toEqual({ status: 'received', allocations: [] });
    expect(await books(acct)).toEqual({ balance: '-70.00', owed: '0.00', credit: '70.00', agree: true });

    // all of it refunded first: no top-up
    await send(refunded('evt_b5r', 'ch_b5', 'pi_b5', acct, 2000));
    expect(await send(succeeded('evt_b5', 'pi_b5', acct, 2000, { meter_id: meterId }))).toMatchObject({
      status: 'payment_refunded',
    });
    expect(await topup('pi_b5')).toEqual([]);
    expect(await payment('pi_b5')).toEqual({ status: 'refunded', allocations: [] });
    expect(await books(acct)).toEqual({ balance: '-70.00', owed: '0.00', credit: '70.00', agree: true });
  });

  it('is not callable without a token (anon)', async () => {
    const body = succeeded('evt_anon', 'pi_anon', esco.accounts['CARD-000001']!, 100);
    await expect(deliver(body, sign(body), 'anon', {})).rejects.toMatchObject({ code: '42501' });
  });

  it("lets a service token pay only its ESCOs' accounts", async () => {
    const body = succeeded('evt_3', 'pi_3', esco.accounts['CARD-000001']!, 100);
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      await client.query(
        `select set_config('role', 'service', true), set_config('request.jwt.claims', $1, true), set_config('request.headers', $2, true)`,
        [JSON.stringify({ role: 'service', escos: [] }), JSON.stringify({ 'stripe-signature': sign(body) })],
      );
      expect((await client.query(`select public.payment_webhook($1) as r`, [body])).rows[0].r.status).toBe(
        'unknown_account',
      );
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  it("does not use up an event delivered with another ESCO's service token: the right ESCO's delivery still pays", async () => {
    const other = await makeBankEsco(ctx.pool, 'CARDB', {
      iban: 'GB82WEST12345698765432',
      references: ['CARDB-000001'],
    });
    const account = other.accounts['CARDB-000001']!;
    const body = succeeded('evt_wrong_esco', 'pi_wrong_esco', account, 2500);
    const event = () =>
      one<{ outcome: string; deliveries: number; esco: string | null }>(
        ctx.pool,
        `select outcome, deliveries, esco from internal.payment_webhook_events where event_id = 'evt_wrong_esco'`,
      );
    // the relay of ESCO CARD forwards it: not CARD's account
    expect(await deliver(body, sign(body))).toMatchObject({ status: 'unknown_account' });
    expect(await event()).toEqual({ outcome: 'unknown_account', deliveries: 1, esco: null });
    // the provider delivers it again through ESCO CARDB's relay: handled as new, the payment is recorded
    const paid = await deliver(body, sign(body), 'service', { escos: [other.id] });
    expect(paid).toMatchObject({ status: 'payment_recorded' });
    expect(
      await many(ctx.pool, `select amount::text, esco from public.payments where source = 'stripe:pi_wrong_esco'`),
    ).toEqual([{ amount: '25.00', esco: other.id }]);
    expect(await event()).toEqual({ outcome: 'payment_recorded', deliveries: 2, esco: other.id });
    // once handled, it is used up, for either token
    expect(await deliver(body, sign(body), 'service', { escos: [other.id] })).toMatchObject({ status: 'duplicate' });
    expect(await deliver(body, sign(body))).toMatchObject({ status: 'duplicate' });
    expect(await event()).toEqual({ outcome: 'payment_recorded', deliveries: 4, esco: other.id });
    expect(await balance(account)).toBe('-25.00');
  });
});
