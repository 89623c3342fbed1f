// Final bills at move-out (issue 7, Collections): credit left on the account (ledger) or on a prepay meter is
// carried to the final bill and, where it exceeds what is owed, refunded — never lost, never counted twice.
// Every account here moves out on 10 October 2026 (supplied 1–9 October, 9 days of 48 half-hours at 0.1 kWh):
//   standing charge 9 × £0.40 = £3.60; 432 × 0.1 = 43.200 kWh × £0.20 = £8.64; subtotal £12.24;
//   VAT 5 % = 0.612 → £0.61; charges £12.85.
import { PDFParse } from 'pdf-parse';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { renderPending } from '../../src/billing/document.ts';
import { prepareRun, runBilling } from '../../src/billing/run.ts';
import { asRole, usePool, useTestDatabase } from '../support/database.ts';
import { createEsco, createScenario, fillIntervals, type BillingEsco, type Scenario } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let esco: BillingEsco;
let overpaid: Scenario; // credit account with £50.00 over-paid
let prepay: Scenario; // prepay, £20.00 left on the meter that the ledger never saw
let toppedUp: Scenario; // prepay, £30.00 topped up through the ledger, £17.15 left on the meter
let runId: string;
const SUPPLIED = ['2026-10-01T00:00:00+01:00', '2026-10-10T00:00:00+01:00'] as const;

interface Final {
  id: string;
  kind: string;
  status: string;
  is_final: boolean;
  total: string;
  meter_credit: string;
  balance_brought_forward: string;
  amount_due: string;
}

const finalOf = (account: string) =>
  one<Final>(
    ctx.pool,
    `select id, kind, status, is_final, total::text, meter_credit::text, balance_brought_forward::text,
            amount_due::text
       from public.invoices
      where account = $1 and period_start = '2026-10-01' and status <> 'void' and kind <> 'credit_note'`,
    [account],
  );
const linesOf = (invoice: string) =>
  many<{ line_type: string; amount: string; description: string }>(
    ctx.pool,
    `select line_type, amount::text, description from public.invoice_lines where invoice = $1 order by position`,
    [invoice],
  );
const balanceOf = (account: string) =>
  one<{ b: string }>(
    ctx.pool,
    `select coalesce(sum(amount), 0)::text as b from public.ledger_entries where account = $1`,
    [account],
  ).then((r) => r.b);
const refundsOf = (account: string) =>
  many<{ amount: string; status: string; source: string; reason: string }>(
    ctx.pool,
    `select amount::text, status, source, reason from public.refunds where account = $1`,
    [account],
  );

/** What a bill shows: the figures as text (exact to the penny and the scale) and every line as stored. */
interface Figures {
  kind: string;
  is_final: boolean;
  total: string;
  meter_credit: string;
  balance_brought_forward: string;
  amount_due: string;
  lines: { position: number; line_type: string; description: string; amount: string; [column: string]: unknown }[];
}
const LINE_COLUMNS = `position, line_type, element, description, quantity::text as quantity, unit,
                      unit_price::text as unit_price, amount::text as amount, from_date::text as from_date,
                      to_date::text as to_date, estimated, inputs`;

/** The final bill of October (draft or issued) of the account. */
async function billFigures(account: string): Promise<Figures> {
  const { id, status: _status, ...head } = await finalOf(account);
  const lines = await many<Figures['lines'][number]>(
    ctx.pool,
    `select ${LINE_COLUMNS} from public.invoice_lines where invoice = $1 order by position`,
    [id],
  );
  return { ...head, lines };
}

/** The dry run of the month, as the account's customer; its lines read as invoice_lines would store them. */
async function previewFigures(account: Scenario, month = '2026-10-01'): Promise<Figures> {
  const { p } = await asRole(ctx.pool, 'customer', { sub: account.customerSub }, (c) =>
    one<{ p: string }>(c, `select public.monthly_costs_compute($1, $2)::text as p`, [account.accountId, month]),
  );
  const head = await one<Omit<Figures, 'lines'>>(
    ctx.pool,
    `select p ->> 'kind' as kind, (p -> 'is_final')::boolean as is_final, p ->> 'total' as total,
            p ->> 'meter_credit' as meter_credit, p ->> 'balance_brought_forward' as balance_brought_forward,
            p ->> 'amount_due' as amount_due
       from (select $1::jsonb as p) x`,
    [p],
  );
  const lines = await many<Figures['lines'][number]>(
    ctx.pool,
    `select ${LINE_COLUMNS} from jsonb_populate_recordset(null::public.invoice_lines, $1::jsonb -> 'lines')
      order by position`,
    [p],
  );
  return { ...head, lines };
}

/** A payment of `amount` for the account, posted to the ledger by the payments' own posting. */
async function pay(account: Scenario, amount: string, source: string): Promise<void> {
  await ctx.pool.query(
    `insert into public.payments (esco, account, received_at, amount, method, reference, source)
     values ($1, $2, '2026-09-20T10:00:00Z', $3, 'bank_transfer', 'over-payment', $4)`,
    [esco.id, account.accountId, amount, source],
  );
  await ctx.pool.query(`select internal.payments_post(array[$1::uuid])`, [account.accountId]);
}

async function meterBalance(meter: string, at: string, balance: string): Promise<void> {
  await ctx.pool.query(`insert into flows.meter_prepay_balance (meter_id, "timestamp", balance) values ($1, $2, $3)`, [
    meter,
    at,
    balance,
  ]);
}

beforeAll(async () => {
  esco = await createEsco(ctx.pool, 'FIN');
  overpaid = await createScenario(ctx.pool, esco, { end: '2026-10-10' });
  prepay = await createScenario(ctx.pool, esco, { billingMode: 'prepay', end: '2026-10-10' });
  toppedUp = await createScenario(ctx.pool, esco, { billingMode: 'prepay', end: '2026-10-10' });
  for (const s of [overpaid, prepay, toppedUp])
    await fillIntervals(ctx.pool, s.registers.SINGLE!, ...SUPPLIED, '0.100');
  await pay(overpaid, '50.00', 'manual:final-overpaid');
  // Meter balances around the move-out instant (10 Oct 00:00 BST = 9 Oct 23:00 UTC): the last reading at or
  // before it counts; a reading after it (the next occupant's) and an older one do not.
  await meterBalance(prepay.meterId, '2026-10-09T12:00:00Z', '24.00');
  await meterBalance(prepay.meterId, '2026-10-09T22:30:00Z', '20.00');
  await meterBalance(prepay.meterId, '2026-10-10T08:00:00Z', '5.00');
  // £30.00 of top-ups credited to the ledger (kind topup), of which the meter charged the statement's £12.85.
  await ctx.pool.query(
    `insert into public.ledger_entries (esco, account, at, kind, amount, description)
     values ($1, $2, '2026-10-02T09:00:00Z', 'topup', -30.00, 'Top-up')`,
    [esco.id, toppedUp.accountId],
  );
  await meterBalance(toppedUp.meterId, '2026-10-09T23:00:00Z', '17.15');
  runId = await prepareRun(ctx.pool, 'FIN', '2026-10-01', 'test');
  const progress = await runBilling(ctx.pool, runId);
  expect(progress).toMatchObject({ status: 'drafted', invoices_drafted: 3, errors: 0 });
});

describe('the final bill at move-out', () => {
  it('carries the ledger credit of a credit account (over-payment) and shows the refund due', async () => {
    const f = await finalOf(overpaid.accountId);
    // charges £12.85; credit brought forward −£50.00; amount due 12.85 − 50.00 = −£37.15 (a refund)
    expect(f).toMatchObject({
      kind: 'invoice',
      status: 'draft',
      is_final: true,
      total: '12.85',
      meter_credit: '0.00',
      balance_brought_forward: '-50.00',
      amount_due: '-37.15',
    });
    const lines = await linesOf(f.id);
    expect(lines.map((l) => [l.line_type, l.amount])).toEqual([
      ['standing_charge', '3.60'],
      ['unit_charge', '8.64'],
      ['account_balance', '-50.00'],
    ]);
    expect(lines[2]!.description).toMatch(/^Credit on your account brought forward/);
  });

  it('credits the prepay meter credit the ledger never saw', async () => {
    const f = await finalOf(prepay.accountId);
    // Y = £20.00 on the meter at move-out (the 22:30 UTC reading); ledger B = 0; charges £12.85.
    // The ledger expects −(B + charges) = −12.85 on the meter; it holds 20.00 + 12.85 = £32.85 more:
    // meter credit −32.85; total 12.85 − 32.85 = −£20.00 = amount due: the £20.00 on the meter is refunded.
    expect(f).toMatchObject({
      kind: 'statement',
      is_final: true,
      total: '-20.00',
      meter_credit: '-32.85',
      balance_brought_forward: '0.00',
      amount_due: '-20.00',
    });
    const lines = await linesOf(f.id);
    expect(lines.map((l) => [l.line_type, l.amount])).toEqual([
      ['standing_charge', '3.60'],
      ['unit_charge', '8.64'],
      ['meter_credit', '-32.85'],
    ]);
    expect(lines[2]!.description).toContain(`M-`);
    expect(lines[2]!.description).toContain('£20.00 at 2026-10-09 23:30');
  });

  it('does not count a prepay meter credit twice when the ledger already holds its top-ups', async () => {
    const f = await finalOf(toppedUp.accountId);
    // Y = £17.15; B = −30.00; charges 12.85: Y + B + charges = 0, so no meter credit is added;
    // amount due = 12.85 − 30.00 = −£17.15: exactly what is left on the meter.
    expect(f).toMatchObject({
      total: '12.85',
      meter_credit: '0.00',
      balance_brought_forward: '-30.00',
      amount_due: '-17.15',
    });
    const lines = await linesOf(f.id);
    expect(lines.map((l) => [l.line_type, l.amount])).toEqual([
      ['standing_charge', '3.60'],
      ['unit_charge', '8.64'],
      ['meter_credit', '0.00'],
      ['account_balance', '-30.00'],
    ]);
    expect(lines[2]!.description).toContain('already on your account balance');
  });

  it('the dry run of the final month shows the final bill as drafted: same lines, total, balance and amount due', async () => {
    for (const s of [overpaid, prepay, toppedUp])
      expect(await previewFigures(s)).toEqual(await billFigures(s.accountId));
    // and those are the settled figures (not two bills that both lack the settlement)
    const credit = await previewFigures(overpaid);
    expect(credit).toMatchObject({
      is_final: true,
      total: '12.85',
      balance_brought_forward: '-50.00',
      amount_due: '-37.15',
    });
    expect(credit.lines.map((l) => [l.line_type, l.amount])).toEqual([
      ['standing_charge', '3.60'],
      ['unit_charge', '8.64'],
      ['account_balance', '-50.00'],
    ]);
    const meter = await previewFigures(prepay);
    expect(meter).toMatchObject({ is_final: true, total: '-20.00', meter_credit: '-32.85', amount_due: '-20.00' });
    expect(meter.lines.map((l) => [l.line_type, l.amount])).toEqual([
      ['standing_charge', '3.60'],
      ['unit_charge', '8.64'],
      ['meter_credit', '-32.85'],
    ]);
    expect(meter.lines[2]!.description).toContain('£20.00 at 2026-10-09 23:30');
  });

  it('the dry run of a month before the move-out is not final and settles nothing', async () => {
    // September: supplied all month, with the same ledger credit and meters, but the supply goes on.
    for (const s of [overpaid, prepay, toppedUp]) {
      const p = await previewFigures(s, '2026-09-01');
      expect(p).toMatchObject({ is_final: false, meter_credit: '0.00', balance_brought_forward: '0.00' });
      expect(p.amount_due).toBe(p.total);
      expect(p.lines.length).toBeGreaterThan(0);
      expect(p.lines.filter((l) => ['meter_credit', 'account_balance'].includes(l.line_type))).toEqual([]);
    }
  });

  it('a rerun of the run drafts the same final bills', async () => {
    const before = await Promise.all([overpaid, prepay, toppedUp].map((s) => finalOf(s.accountId)));
    await prepareRun(ctx.pool, 'FIN', '2026-10-01', 'test');
    await runBilling(ctx.pool, runId, { batchSize: 2 });
    const after = await Promise.all([overpaid, prepay, toppedUp].map((s) => finalOf(s.accountId)));
    const figures = (f: Final) => ({ ...f, id: undefined });
    expect(after.map(figures)).toEqual(before.map(figures));
    expect(after.every((a, k) => a.id !== before[k]!.id)).toBe(true);
    const drafts = await many(ctx.pool, `select 1 from public.invoices where run = $1 and status = 'draft'`, [runId]);
    expect(drafts).toHaveLength(3);
  });

  it('issuing takes the ledger as it is then, refunds the excess once and leaves every balance at zero', async () => {
    // Another £10.00 arrives between drafting and issuing: the final invoice carries −£60.00.
    await pay(overpaid, '10.00', 'manual:final-overpaid-2');
    // The dry run previews the bills as issuing will make them, the £10.00 included.
    const previews = await Promise.all([overpaid, prepay, toppedUp].map((s) => previewFigures(s)));
    expect(previews[0]).toMatchObject({ balance_brought_forward: '-60.00', amount_due: '-47.15' });
    await ctx.pool.query(`select public.billing_run_issue($1)`, [runId]);
    expect(await Promise.all([overpaid, prepay, toppedUp].map((s) => billFigures(s.accountId)))).toEqual(previews);
    // and previewed once issued, the month still shows what the bill carried (not the balance it left)
    expect(await Promise.all([overpaid, prepay, toppedUp].map((s) => previewFigures(s)))).toEqual(previews);
    const f = await finalOf(overpaid.accountId);
    // 12.85 − 60.00 = −£47.15; the over-payments pay the final invoice (allocation), which is paid.
    expect(f).toMatchObject({
      status: 'paid',
      total: '12.85',
      balance_brought_forward: '-60.00',
      amount_due: '-47.15',
    });
    expect(await refundsOf(overpaid.accountId)).toEqual([
      {
        amount: '47.15',
        status: 'requested',
        source: `billing:${f.id}`,
        reason: expect.stringMatching(/^Credit at move-out, final bill FIN-INV-/),
      },
    ]);
    const allocated = await one<{ a: string }>(
      ctx.pool,
      `select sum(amount)::text as a from public.payment_allocations where invoice = $1`,
      [f.id],
    );
    expect(allocated.a).toBe('12.85');
    expect((await refundsOf(prepay.accountId)).map((r) => r.amount)).toEqual(['20.00']);
    expect((await refundsOf(toppedUp.accountId)).map((r) => r.amount)).toEqual(['17.15']);
    // ledger: −60.00 + 12.85 + 47.15 = 0; −20.00 + 20.00 = 0; −30.00 + 12.85 + 17.15 = 0
    for (const s of [overpaid, prepay, toppedUp]) expect(await balanceOf(s.accountId)).toBe('0.00');

    // Issuing again, or drafting the month again, changes nothing.
    const ids = (await many<{ id: string }>(ctx.pool, `select id from public.invoices where run = $1`, [runId])).map(
      (r) => r.id,
    );
    const again = await one<{ n: number }>(ctx.pool, `select internal.issue_invoices($1::uuid[]) as n`, [ids]);
    expect(again.n).toBe(0);
    const redrafted = await one<{ n: number }>(
      ctx.pool,
      `select internal.billing_draft($1::uuid[], '2026-10-01', '2026-11-01', null, '2026-11-28') as n`,
      [[overpaid.accountId, prepay.accountId, toppedUp.accountId]],
    );
    expect(redrafted.n).toBe(0);
    for (const s of [overpaid, prepay, toppedUp]) {
      expect(await refundsOf(s.accountId)).toHaveLength(1);
      expect(await balanceOf(s.accountId)).toBe('0.00');
    }
  });

  it('prints the carried credit and the refund on the final bill', async () => {
    await renderPending(ctx.pool);
    const f = await finalOf(prepay.accountId);
    const doc = await one<{ pdf: Buffer; html: string }>(
      ctx.pool,
      `select pdf, html from internal.invoice_documents where invoice = $1`,
      [f.id],
    );
    const parser = new PDFParse({ data: doc.pdf });
    const text = (await parser.getText()).text;
    await parser.destroy();
    for (const t of [text, doc.html]) {
      expect(t).toContain('Final bill');
      expect(t).toContain('Credit left on your prepay meter at move-out');
      expect(t).toContain('Credit to be refunded to you');
      expect(t).toContain('£20.00');
    }
  });

  it('voiding a final bill reverses its meter credit too', async () => {
    const f = await finalOf(prepay.accountId);
    const credit = await one<{ total: string; meter_credit: string; amount_due: string }>(
      ctx.pool,
      `select total::text, meter_credit::text, amount_due::text from public.invoice_void($1, 'meter read wrong')`,
      [f.id],
    );
    expect(credit).toEqual({ total: '20.00', meter_credit: '32.85', amount_due: '20.00' });
    // the credit note issues no refund of its own
    expect(await refundsOf(prepay.accountId)).toHaveLength(1);
  });

  it('a voided final bill whose refund was paid, rebilled, refunds nothing more', async () => {
    // The £20.00 refund of the voided statement has left the bank; the ledger owes it back (+20.00) until the
    // rebill carries the meter credit again.
    const voided = await one<{ id: string }>(
      ctx.pool,
      `select id from public.invoices where account = $1 and period_start = '2026-10-01' and status = 'void'`,
      [prepay.accountId],
    );
    await ctx.pool.query(`update public.refunds set status = 'paid', paid_at = now() where account = $1`, [
      prepay.accountId,
    ]);
    expect(await balanceOf(prepay.accountId)).toBe('20.00');
    const draft = await one<{ id: string }>(ctx.pool, `select id from public.invoice_rebill($1)`, [voided.id]);
    await ctx.pool.query(`select public.invoice_issue($1)`, [draft.id]);
    // B = +20.00 (the refund paid), but the meter credit leaves refunds out (M = 0.00): the same −32.85 as before;
    // amount due −20.00 + 20.00 = 0.00
    expect(await finalOf(prepay.accountId)).toMatchObject({
      id: draft.id,
      status: 'issued',
      total: '-20.00',
      meter_credit: '-32.85',
      balance_brought_forward: '20.00',
      amount_due: '0.00',
    });
    expect((await refundsOf(prepay.accountId)).map((r) => [r.amount, r.status])).toEqual([['20.00', 'paid']]);
    expect(await balanceOf(prepay.accountId)).toBe('0.00');
  });
});
