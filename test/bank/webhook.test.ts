// Card payments through provider webhooks (Stripe-shaped): the signature and timestamp are verified in SQL before
// anything is stored; each event is handled once however often it is delivered; a prepay account's payment
// becomes a top-up; refunds are recorded.
import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { useTestDatabase, usePool } from '../support/database.ts';
import { makeBankEsco, type BankEsco } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
const SECRET = 'whsec_test_0123456789abcdef';
let esco: BankEsco;
let meterId: string;

beforeAll(async () => {
  esco = await makeBankEsco(ctx.pool, 'CARD', {
    iban: 'GB29NWBK60161331926819',
    references: ['CARD-000001', 'CARD-000002', 'CARD-000003'],
  });
  await ctx.pool.query(`update public.accounts set billing_mode = 'prepay' where id = $1`, [
    esco.accounts['CARD-000002'],
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

const events = async () =>
  Number((await one<{ n: string }>(ctx.pool, `select count(*) as n from internal.payment_webhook_events`)).n);

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
    const invoice = async (total: string, due: string) => {
      const { id } = await one<{ id: string }>(
        ctx.pool,
        `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                      supply_subtotal, vat, total, issued_at, due_date)
         values ($1, $2, 'invoice', 'issued', 'CARD-' || $4::text, '2026-09-01', '2026-10-01', 0, $3, 0, $3, now(), $4::date)
         returning id`,
        [esco.id, acct, total, due],
      );
      await ctx.pool.query(
        `insert into public.ledger_entries (esco, account, kind, amount, invoice, description)
         values ($1, $2, 'invoice', $3, $4, 'Invoice')`,
        [esco.id, acct, total, id],
      );
      await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct]);
    };
    const refund = (id: string, pence: number) =>
      JSON.stringify({
        id,
        type: 'charge.refunded',
        data: {
          object: { id: 'ch_5', payment_intent: 'pi_5', amount_refunded: pence, metadata: { account_id: acct } },
        },
      });
    const invoices = () =>
      many<{ due: string; status: string; paid: string }>(
        ctx.pool,
        `select to_char(i.due_date, 'MM-DD') as due, i.status,
                coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)::text as paid
           from public.invoices i where i.account = $1 order by i.due_date`,
        [acct],
      );
    const balance = async () =>
      (
        await one<{ b: string }>(
          ctx.pool,
          `select sum(amount)::text as b from public.ledger_entries where account = $1`,
          [acct],
        )
      ).b;

    await invoice('30.00', '2026-10-10');
    await invoice('40.00', '2026-10-20');
    const paid = succeeded('evt_5', 'pi_5', acct, 10000); // both invoices and 30.00 credit
    await deliver(paid, sign(paid));
    expect(await balance()).toBe('-30.00');

    // 20.00 refunded: it comes off the 30.00 left over; the invoices stay paid
    await deliver(refund('evt_5r1', 2000), sign(refund('evt_5r1', 2000)));
    expect((await invoices()).map((i) => i.status)).toEqual(['paid', 'paid']);
    // only the 10.00 not refunded pays the next invoice
    await invoice('15.00', '2026-11-10');
    expect((await invoices()).map((i) => [i.due, i.status, i.paid])).toEqual([
      ['10-10', 'paid', '30.00'],
      ['10-20', 'paid', '40.00'],
      ['11-10', 'partially_paid', '10.00'],
    ]);
    expect(await balance()).toBe('5.00');

    // 30.00 more refunded: nothing is left over, so the invoices due last are owed again
    await deliver(refund('evt_5r2', 5000), sign(refund('evt_5r2', 5000)));
    expect((await invoices()).map((i) => [i.due, i.status, i.paid])).toEqual([
      ['10-10', 'paid', '30.00'],
      ['10-20', 'partially_paid', '20.00'],
      ['11-10', 'issued', '0'],
    ]);
    expect(await balance()).toBe('35.00'); // = what the invoices owe
    const again = succeeded('evt_6', 'pi_6', acct, 3500);
    await deliver(again, sign(again));
    expect((await invoices()).map((i) => i.status)).toEqual(['paid', 'paid', 'paid']);
    expect(await balance()).toBe('0.00');
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
});
