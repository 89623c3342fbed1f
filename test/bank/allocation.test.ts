// Payments pay invoices: each payment credits the ledger once; its money is allocated to the account's open
// invoices oldest due first — partial payments leave an invoice partially_paid, over-payments stay as credit and
// pay the next invoice, split payments add up; the ledger balance is invoices minus payments.
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { importStatement, parseStatementFile } from '../../src/bank/import.ts';
import type { StatementDocument } from '../../src/bank/document.ts';
import { committedAs, useTestDatabase, usePool } from '../support/database.ts';
import { makeBankEsco, type BankEsco } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let esco: BankEsco;
let n = 0;

beforeAll(async () => {
  esco = await makeBankEsco(ctx.pool, 'ALLOC', {
    iban: 'GB82WEST12345698765432',
    references: [
      'AL-000001',
      'AL-000002',
      'AL-000003',
      'AL-000004',
      'AL-000005',
      'AL-000006',
      'AL-000007',
      'AL-000008',
      'AL-000009',
      'AL-000010',
    ],
  });
});

/** An issued invoice (billing's table), with its ledger debit as billing writes it. */
async function invoice(account: string, total: string, due: string, escoId = esco.id): Promise<string> {
  n++;
  const { id } = await one<{ id: string }>(
    ctx.pool,
    `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                  supply_subtotal, vat, total, issued_at, due_date)
     values ($1, $2, 'invoice', 'issued', $3, '2026-09-01', '2026-10-01', 0, $4, 0, $4, now(), $5) returning id`,
    [escoId, account, `ALLOC-${n}`, total, due],
  );
  await ctx.pool.query(
    `insert into public.ledger_entries (esco, account, kind, amount, invoice, description) values ($1, $2, 'invoice', $3, $4, 'Invoice')`,
    [escoId, account, total, id],
  );
  return id;
}

/** A customer holding the account (rule 2 compares the payer's name with theirs). */
async function holder(escoId: string, account: string, name: string): Promise<void> {
  const c = await one<{ id: string }>(
    ctx.pool,
    `insert into public.customers (esco, name) values ($1, $2) returning id`,
    [escoId, name],
  );
  await ctx.pool.query(
    `insert into public.customer_accounts (customer, account, esco, role) values ($1, $2, $3, 'holder')`,
    [c.id, account, escoId],
  );
}

/** A statement document of today's credits to one bank account, as the parsers hand it to the import. */
function statementOf(iban: string, fileSha256: string, entries: StatementDocument['statements'][number]['entries']) {
  const today = new Date().toISOString().slice(0, 10);
  const document: StatementDocument = {
    format: 'csv',
    format_version: 'test',
    file_sha256: fileSha256,
    file_name: null,
    statements: [
      {
        path: 'line 1',
        statement_ref: null,
        iban,
        sort_code: null,
        account_number: null,
        currency: 'GBP',
        period_from: today,
        period_to: today,
        opening_balance: null,
        closing_balance: null,
        entries,
      },
    ],
  };
  return document;
}

/** A credit booked today from a named payer, with no reference to match (rules 2 and 3 only). */
const creditFrom = (amount: string, counterparty: string | null) => ({
  path: `line ${amount} ${counterparty ?? ''}`,
  entry_reference: null,
  booking_date: new Date().toISOString().slice(0, 10),
  value_date: null,
  booked: true,
  amount,
  currency: 'GBP',
  reversal: false,
  bank_transaction_code: null,
  counterparty_name: counterparty,
  counterparty_account: null,
  remittance_information: 'ELECTRICITY',
  end_to_end_id: null,
});

/** Pays through a one-line bank CSV and the reconcile (the real path). */
async function pay(reference: string, amount: string, day: number): Promise<void> {
  const csv = `Date,Description,Amount,Balance\n${String(day).padStart(2, '0')}/10/2026,${reference} ${n++},${amount},${amount}\n`;
  await importStatement(ctx.pool, 'ALLOC', parseStatementFile(Buffer.from(csv)));
  await one(ctx.pool, `select internal.bank_reconcile($1)`, [esco.id]);
}

const state = (account: string) =>
  many<{ number: string; status: string; paid: string }>(
    ctx.pool,
    `select i.number, i.status, coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)::text as paid
       from public.invoices i where i.account = $1 order by i.due_date`,
    [account],
  );
const balance = async (account: string) =>
  (
    await one<{ b: string }>(
      ctx.pool,
      `select coalesce(sum(amount), 0)::text as b from public.ledger_entries where account = $1`,
      [account],
    )
  ).b;

describe('allocation', () => {
  it('pays the oldest due invoice first; partial, split and over-payments; credit pays the next invoice', async () => {
    const acct = esco.accounts['AL-000001']!;
    const newer = await invoice(acct, '60.00', '2026-10-20');
    const older = await invoice(acct, '40.00', '2026-10-10');
    expect([newer, older]).toHaveLength(2);

    await pay('AL-000001', '25.00', 1); // partial: the older invoice
    expect((await state(acct)).map((s) => [s.status, s.paid])).toEqual([
      ['partially_paid', '25.00'],
      ['issued', '0'],
    ]);
    await pay('AL000001', '35.00', 2); // split: finishes the older, starts the newer
    expect((await state(acct)).map((s) => [s.status, s.paid])).toEqual([
      ['paid', '40.00'],
      ['partially_paid', '20.00'],
    ]);
    await pay('al 000001', '70.00', 3); // over-payment: 40.00 pays the newer invoice, 30.00 stays as credit
    expect((await state(acct)).map((s) => [s.status, s.paid])).toEqual([
      ['paid', '40.00'],
      ['paid', '60.00'],
    ]);
    expect(await balance(acct)).toBe('-30.00');
    const ledger = await many<{ kind: string; amount: string }>(
      ctx.pool,
      `select kind, amount::text from public.ledger_entries where account = $1 and kind = 'payment' order by amount`,
      [acct],
    );
    expect(ledger.map((l) => l.amount)).toEqual(['-25.00', '-35.00', '-70.00']);

    // the credit pays the next invoice as soon as there is one and a posting runs
    await invoice(acct, '10.00', '2026-11-10');
    await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct]);
    expect((await state(acct)).map((s) => s.status)).toEqual(['paid', 'paid', 'paid']);
    expect(await balance(acct)).toBe('-20.00');
    // posting again changes nothing
    await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct]);
    expect(await balance(acct)).toBe('-20.00');
    const allocations = await one<{ n: string; total: string }>(
      ctx.pool,
      `select count(*) as n, sum(a.amount)::text as total from public.payment_allocations a join public.payments p on p.id = a.payment where p.account = $1`,
      [acct],
    );
    expect(allocations).toEqual({ n: '5', total: '110.00' });
    expect(
      await many(ctx.pool, `select status from public.payments where account = $1 order by received_at`, [acct]),
    ).toEqual([{ status: 'allocated' }, { status: 'allocated' }, { status: 'received' }]); // 20.00 of the last is credit
  });

  it('never allocates the same money twice when postings race', async () => {
    const acct = esco.accounts['AL-000002']!;
    await invoice(acct, '30.00', '2026-10-10');
    await invoice(acct, '30.00', '2026-10-11');
    await pay('AL-000002', '50.00', 4);
    await Promise.all(
      Array.from({ length: 4 }, () => one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct])),
    );
    expect((await state(acct)).map((s) => [s.status, s.paid])).toEqual([
      ['paid', '30.00'],
      ['partially_paid', '20.00'],
    ]);
    expect(await balance(acct)).toBe('10.00');
    const aged = await one<Record<string, string>>(
      ctx.pool,
      `select outstanding::text, (not_due + overdue_1_30 + overdue_31_60 + overdue_61_90 + overdue_over_90)::text as buckets,
              oldest_due_date::text from public.aged_debt where account = $1`,
      [acct],
    );
    expect(aged).toEqual({ outstanding: '10.00', buckets: '10.00', oldest_due_date: '2026-10-11' });
  });

  it('rule 2 (amount and payer name) and rule 3 (the only invoice of that amount), else review', async () => {
    const due = new Date(Date.now() + 14 * 86_400_000).toISOString().slice(0, 10);
    await holder(esco.id, esco.accounts['AL-000003']!, 'Jane Smith');
    await holder(esco.id, esco.accounts['AL-000004']!, 'Tomasz Nowak');
    await invoice(esco.accounts['AL-000003']!, '33.33', due);
    await invoice(esco.accounts['AL-000004']!, '33.33', due);
    await invoice(esco.accounts['AL-000005']!, '77.77', due);
    const byNumber = await invoice(esco.accounts['AL-000006']!, '5.00', due);
    const { number } = await one<{ number: string }>(ctx.pool, `select number from public.invoices where id = $1`, [
      byNumber,
    ]);
    const document = statementOf('GB82WEST12345698765432', 'f'.repeat(63) + '1', [
      creditFrom('33.33', 'MRS J SMITH'),
      creditFrom('33.33', 'A N OTHER'),
      creditFrom('77.77', 'SOMEONE'),
      // rule 1 through an invoice number ("INV alloc 6" names ALLOC-6)
      { ...creditFrom('5.00', 'T NOWAK'), remittance_information: `INV ${number.toLowerCase().replace('-', ' ')}` },
      creditFrom('12.34', 'NOBODY'),
    ]);
    await importStatement(ctx.pool, 'ALLOC', document);
    await one(ctx.pool, `select internal.bank_reconcile($1)`, [esco.id]);
    const rows = await many<{
      counterparty_name: string;
      status: string;
      match_rule: string | null;
      ref: string | null;
    }>(
      ctx.pool,
      `select t.counterparty_name, t.status, t.match_rule, a.payment_reference as ref
         from public.bank_transactions t left join public.accounts a on a.id = t.matched_account
        where t.esco = $1 and t.statement = (select s.id from public.bank_statements s where s.file_sha256 = $2)
        order by t.position`,
      [esco.id, 'f'.repeat(63) + '1'],
    );
    expect(rows).toEqual([
      { counterparty_name: 'MRS J SMITH', status: 'matched', match_rule: 'amount_name', ref: 'AL-000003' },
      // rule 2 paid Smith's 33.33, so Nowak's is the only open invoice of 33.33 left
      { counterparty_name: 'A N OTHER', status: 'matched', match_rule: 'unique_amount', ref: 'AL-000004' },
      { counterparty_name: 'SOMEONE', status: 'matched', match_rule: 'unique_amount', ref: 'AL-000005' },
      { counterparty_name: 'T NOWAK', status: 'matched', match_rule: 'reference', ref: 'AL-000006' },
      // no open invoice of 12.34 and no reference: the review queue
      { counterparty_name: 'NOBODY', status: 'unmatched', match_rule: null, ref: null },
    ]);
    expect((await state(esco.accounts['AL-000005']!)).map((s) => s.status)).toEqual(['paid']);
    expect(await one(ctx.pool, `select internal.name_similarity('MRS J SMITH', 'Jane Smith') as s`)).toEqual({
      s: '1.000',
    });
    expect(await one(ctx.pool, `select internal.name_similarity('A N OTHER', 'Jane Smith') as s`)).toEqual({
      s: '0.000',
    });
  });
});

describe('returned payments', () => {
  it('reverses the payment of a credit the bank returns: refunded, its invoice owed again, once', async () => {
    const acct = esco.accounts['AL-000009']!;
    const inv = await invoice(acct, '30.00', '2026-12-10');
    const invoiceStatus = async () =>
      (await one<{ status: string }>(ctx.pool, `select status from public.invoices where id = $1`, [inv])).status;
    const returned = { end_to_end_id: 'E2E-RET-0001', remittance_information: 'AL-000009 DEC' };
    const statement = (sha: string, entries: Parameters<typeof statementOf>[2]) =>
      importStatement(ctx.pool, 'ALLOC', statementOf('GB82WEST12345698765432', sha.repeat(64), entries));
    const reconcile = async () =>
      (await one<{ r: { reversed: number } }>(ctx.pool, `select internal.bank_reconcile($1) as r`, [esco.id])).r;

    await statement('d', [{ ...creditFrom('30.00', 'R PAYER'), ...returned }]);
    await reconcile();
    expect(await invoiceStatus()).toBe('paid');
    expect(await balance(acct)).toBe('0.00');

    // the next statement: that credit comes back (a reversal with its end-to-end id), and a reversal of nothing known
    const reversal = (amount: string, more: object) => ({ ...creditFrom(amount, 'R PAYER'), reversal: true, ...more });
    await statement('c', [reversal('-30.00', returned), reversal('-99.00', { end_to_end_id: 'E2E-UNKNOWN' })]);
    expect(await reconcile()).toMatchObject({ reversed: 1 });
    expect(await invoiceStatus()).toBe('issued');
    expect(await balance(acct)).toBe('30.00');
    const debits = await many<{ amount: string; match_rule: string | null; matched_account: string | null }>(
      ctx.pool,
      `select t.amount::text, t.match_rule, t.matched_account from public.bank_transactions t
        where t.statement = (select s.id from public.bank_statements s where s.file_sha256 = $1) order by t.position`,
      ['c'.repeat(64)],
    );
    expect(debits).toEqual([
      { amount: '-30.00', match_rule: 'reversal', matched_account: acct },
      { amount: '-99.00', match_rule: null, matched_account: null },
    ]);
    // a second run reverses nothing more
    expect(await reconcile()).toMatchObject({ reversed: 0 });
    expect(await balance(acct)).toBe('30.00');

    // paid again: the invoice is paid by the new money, never by the returned
    await statement('b', [{ ...creditFrom('30.00', 'R PAYER'), remittance_information: 'AL-000009 AGAIN' }]);
    await reconcile();
    expect(await invoiceStatus()).toBe('paid');
    expect(await balance(acct)).toBe('0.00');
    expect(
      await many(
        ctx.pool,
        `select p.reference, p.status, (select sum(r.amount)::text from public.refunds r where r.payment = p.id) as refunded
           from public.payments p where p.account = $1 order by p.reference`,
        [acct],
      ),
    ).toEqual([
      { reference: 'AL-000009 AGAIN', status: 'allocated', refunded: null },
      { reference: 'AL-000009 DEC', status: 'refunded', refunded: '30.00' },
    ]);
  });
});

describe('matching settings', () => {
  it("takes rule 2's name threshold and rule 3's window from the ESCO's billing settings", async () => {
    const cfg = await makeBankEsco(ctx.pool, 'MCFG', {
      iban: 'GB94BARC10201530093459',
      references: ['MC-000001', 'MC-000002', 'MC-000003'],
    });
    await ctx.pool.query(`insert into public.billing_settings (esco, legal_name) values ($1, 'MCFG Energy')`, [cfg.id]);
    const settings = (threshold: string, days: number) =>
      committedAs(ctx.pool, 'operator', { sub: cfg.operatorSub }, (c) =>
        c.query(`update public.billing_settings set match_name_threshold = $1, match_window_days = $2`, [
          threshold,
          days,
        ]),
      );
    await holder(cfg.id, cfg.accounts['MC-000001']!, 'Jane Smith Brown');
    await holder(cfg.id, cfg.accounts['MC-000002']!, 'Someone Else');
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
    await invoice(cfg.accounts['MC-000001']!, '41.00', daysAgo(-14), cfg.id);
    await invoice(cfg.accounts['MC-000002']!, '41.00', daysAgo(-14), cfg.id); // the same amount: rule 3 cannot choose
    await invoice(cfg.accounts['MC-000003']!, '55.55', daysAgo(10), cfg.id); // due ten days ago
    await importStatement(
      ctx.pool,
      'MCFG',
      statementOf('GB94BARC10201530093459', 'e'.repeat(64), [
        creditFrom('41.00', 'JANE SMITH GREEN'),
        creditFrom('55.55', null),
      ]),
    );
    const lines = () =>
      many<{ status: string; match_rule: string | null }>(
        ctx.pool,
        `select status, match_rule from public.bank_transactions where esco = $1 order by position`,
        [cfg.id],
      );

    // names alike by 2/3 and the money 10 days after the due date: too little for 0.9 and 5 days
    await settings('0.90', 5);
    await one(ctx.pool, `select internal.bank_reconcile($1)`, [cfg.id]);
    expect(await lines()).toEqual([
      { status: 'unmatched', match_rule: null },
      { status: 'unmatched', match_rule: null },
    ]);
    // a run may still override them (the job's payload)
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      await one(client, `select internal.bank_reconcile($1, null, 0.6, 45)`, [cfg.id]);
      const { rows } = await client.query(
        `select match_rule from public.bank_transactions where esco = $1 order by position`,
        [cfg.id],
      );
      expect(rows.map((l) => l.match_rule)).toEqual(['amount_name', 'unique_amount']);
    } finally {
      await client.query('rollback');
      client.release();
    }
    // enough for 0.6 and 15 days
    await settings('0.60', 15);
    await one(ctx.pool, `select internal.bank_reconcile($1)`, [cfg.id]);
    expect(await lines()).toEqual([
      { status: 'matched', match_rule: 'amount_name' },
      { status: 'matched', match_rule: 'unique_amount' },
    ]);
    // out of range: refused, nothing changes
    await expect(settings('1.50', 15)).rejects.toMatchObject({ code: '23514' });
    await expect(settings('0.60', 400)).rejects.toMatchObject({ code: '23514' });
  });
});

const operator = <T>(sql: string, values: unknown[]) =>
  committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) => one<{ r: T }>(c, sql, values));

describe('credit and voided invoices', () => {
  /** A draft invoice (or statement), issued through billing's own path (internal.issue_invoices). */
  async function issue(account: string, total: string, kind = 'invoice'): Promise<string> {
    const { id } = await one<{ id: string }>(
      ctx.pool,
      `insert into public.invoices (esco, account, kind, status, period_start, period_end, vat_rate_pct,
                                    supply_subtotal, vat, total)
       values ($1, $2, $4, 'draft', '2026-10-01', '2026-11-01', 0, $3, 0, $3) returning id`,
      [esco.id, account, total, kind],
    );
    await one(ctx.pool, `select internal.issue_invoices(array[$1::uuid])`, [id]);
    return id;
  }
  const invoices = (account: string) =>
    many<{ id: string; status: string; paid: string }>(
      ctx.pool,
      `select i.id, i.status, coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)::text as paid
         from public.invoices i where i.account = $1 and i.kind = 'invoice' order by i.total`,
      [account],
    );

  it('pays an invoice from the credit when it is issued, and frees the money of a voided invoice', async () => {
    const acct = esco.accounts['AL-000008']!;
    await pay('AL-000008', '50.00', 7); // no invoice yet: all credit
    const covered = await issue(acct, '30.00');
    expect((await invoices(acct)).map((i) => [i.status, i.paid])).toEqual([['paid', '30.00']]);
    const partly = await issue(acct, '45.00');
    expect((await invoices(acct)).map((i) => [i.status, i.paid])).toEqual([
      ['paid', '30.00'],
      ['partially_paid', '20.00'],
    ]);
    expect(await balance(acct)).toBe('25.00');

    // voided (its credit note reverses the debit): the 30.00 that paid it pays the other invoice; 5.00 is credit
    await operator(`select to_jsonb(public.invoice_void($1, 'wrong tariff')) as r`, [covered]);
    expect((await invoices(acct)).map((i) => [i.id, i.status, i.paid])).toEqual([
      [covered, 'void', '0'],
      [partly, 'paid', '45.00'],
    ]);
    expect(await balance(acct)).toBe('-5.00');
    expect(await many(ctx.pool, `select status from public.payments where account = $1`, [acct])).toEqual([
      { status: 'received' },
    ]);
    // the 5.00 left pays the rebill in part
    await issue(acct, '32.00');
    expect((await invoices(acct)).map((i) => [i.status, i.paid])).toEqual([
      ['void', '0'],
      ['partially_paid', '5.00'],
      ['paid', '45.00'],
    ]);
    expect(await balance(acct)).toBe('27.00');
  });

  it('allocates no more than the credit its ledger holds: money a prepay statement used pays no later invoice', async () => {
    const acct = esco.accounts['AL-000010']!;
    await ctx.pool.query(`update public.accounts set billing_mode = 'prepay' where id = $1`, [acct]);
    await pay('AL-000010', '30.00', 8); // a top-up
    await issue(acct, '25.00', 'statement'); // what the meter charged of it: 5.00 of credit is left
    expect(await balance(acct)).toBe('-5.00');
    // the account moves to credit billing: only those 5.00 pay its first invoice
    await ctx.pool.query(`update public.accounts set billing_mode = 'credit' where id = $1`, [acct]);
    await issue(acct, '40.00');
    expect((await invoices(acct)).map((i) => [i.status, i.paid])).toEqual([['partially_paid', '5.00']]);
    expect(await balance(acct)).toBe('35.00'); // what the invoice still owes
  });
});

describe('refunds', () => {
  const request = (account: string, amount: string, reason = 'Customer asked') =>
    operator<{ id: string; status: string }>(`select to_jsonb(public.refund_request($1, $2, $3)) as r`, [
      account,
      amount,
      reason,
    ]);
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => 'succeeded',
      (e: { code?: string }) => e.code,
    );

  it('refunds only credit, debits the ledger, keeps refunded money off invoices, and gives it back when cancelled', async () => {
    const acct = esco.accounts['AL-000007']!;
    await invoice(acct, '60.00', '2026-10-10');
    await pay('AL-000007', '100.00', 5); // 40.00 credit
    expect(await balance(acct)).toBe('-40.00');

    // bad input changes nothing
    expect(await refusal(request(acct, '0'))).toBe('22023');
    expect(await refusal(request(acct, '1.234'))).toBe('22023');
    expect(await refusal(request(acct, '5.00', ' '))).toBe('22023');
    expect(await refusal(request(acct, '40.01'))).toBe('PT409'); // more than the credit
    expect(await refusal(request(esco.accounts['AL-000002']!, '1.00'))).toBe('PT409'); // that account owes
    // operators go through refund_request: no direct insert
    expect(
      await refusal(
        committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
          c.query(`insert into public.refunds (esco, account, amount, reason) values ($1, $2, 1, 'x')`, [
            esco.id,
            acct,
          ]),
        ),
      ),
    ).toBe('42501');
    expect(await balance(acct)).toBe('-40.00');

    const paid = (await request(acct, '30.00')).r;
    expect(paid.status).toBe('requested');
    expect(await balance(acct)).toBe('-10.00');
    expect(
      await many(ctx.pool, `select kind, amount::text from public.ledger_entries where refund = $1`, [paid.id]),
    ).toEqual([{ kind: 'refund', amount: '30.00' }]);
    expect(await refusal(request(acct, '10.01'))).toBe('PT409'); // 10.00 left

    // the next invoice is paid only with the credit that was not refunded
    await invoice(acct, '25.00', '2026-11-10');
    await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct]);
    expect((await state(acct)).map((s) => [s.status, s.paid])).toEqual([
      ['paid', '60.00'],
      ['partially_paid', '10.00'],
    ]);
    expect(await balance(acct)).toBe('15.00');

    // paid: the money left; it cannot be cancelled any more
    const done = await operator<{ status: string; paid_at: string | null }>(
      `select to_jsonb(public.refund_mark_paid($1)) as r`,
      [paid.id],
    );
    expect(done.r).toMatchObject({ status: 'paid' });
    expect(done.r.paid_at).not.toBeNull();
    expect(await refusal(operator(`select to_jsonb(public.refund_cancel($1, 'changed mind')) as r`, [paid.id]))).toBe(
      'PT409',
    );

    // a refund cancelled: the credit is the customer's again and pays what is owed
    await pay('AL-000007', '20.00', 6); // pays the 15.00 owed; 5.00 credit
    expect(await balance(acct)).toBe('-5.00');
    const second = (await request(acct, '5.00')).r;
    expect(await refusal(operator(`select to_jsonb(public.refund_cancel($1, ' ')) as r`, [second.id]))).toBe('22023');
    await invoice(acct, '5.00', '2026-12-10');
    await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct]);
    expect((await state(acct)).map((s) => s.status)).toEqual(['paid', 'paid', 'issued']); // the 5.00 is refunded
    const cancelled = await operator<{ status: string; cancel_reason: string }>(
      `select to_jsonb(public.refund_cancel($1, 'Customer stays')) as r`,
      [second.id],
    );
    expect(cancelled.r).toMatchObject({ status: 'cancelled', cancel_reason: 'Customer stays' });
    expect((await state(acct)).map((s) => s.status)).toEqual(['paid', 'paid', 'paid']);
    expect(await balance(acct)).toBe('0.00');
    expect(
      await many(ctx.pool, `select kind, amount::text from public.ledger_entries where refund = $1 order by amount`, [
        second.id,
      ]),
    ).toEqual([
      { kind: 'adjustment', amount: '-5.00' },
      { kind: 'refund', amount: '5.00' },
    ]);
  });
});
