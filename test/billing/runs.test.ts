// Billing runs: idempotent reruns, a run killed mid-way, concurrent starts, issuing with gap-free
// numbers and the ledger, void / rebill / dispute, who may preview what, and the PDF.
import { PDFParse } from 'pdf-parse';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { renderPending } from '../../src/billing/document.ts';
import { runBilling, runStep } from '../../src/billing/run.ts';
import { asRole, committedAs, usePool, useTestDatabase } from '../support/database.ts';
import { createEsco, createScenario, fillIntervals, type BillingEsco, type Scenario } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let esco: BillingEsco;
let other: BillingEsco;
let accounts: Scenario[];
let stranger: Scenario;
const OCT = ['2026-10-01T00:00:00+01:00', '2026-11-01T00:00:00+00:00'] as const;

const drafts = (runId: string) =>
  many<{ id: string; account: string }>(
    ctx.pool,
    `select id, account from public.invoices where run = $1 and status = 'draft'`,
    [runId],
  );

beforeAll(async () => {
  esco = await createEsco(ctx.pool, 'RUN');
  other = await createEsco(ctx.pool, 'RUNX');
  accounts = [];
  for (let k = 0; k < 4; k++) accounts.push(await createScenario(ctx.pool, esco));
  accounts.push(await createScenario(ctx.pool, esco, { billingMode: 'prepay' }));
  stranger = await createScenario(ctx.pool, other);
  for (const s of [...accounts, stranger]) await fillIntervals(ctx.pool, s.registers.SINGLE!, ...OCT, '0.100');
  await ctx.pool.query(
    `update public.billing_settings set payment_instructions = 'Pay by bank transfer quoting your reference.'
      where esco = $1`,
    [esco.id],
  );
});

describe('a billing run', () => {
  let runId: string;

  it('two concurrent starts of the same run make one run', async () => {
    const start = () =>
      committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
        one<{ id: string; status: string }>(c, `select id, status from public.billing_run_start('RUN', '2026-10-15')`),
      );
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.id).toBe(b.id);
    runId = a.id;
    const runs = await many(ctx.pool, `select 1 from public.billing_runs where esco = $1`, [esco.id]);
    expect(runs).toHaveLength(1);
    const jobs = await many(ctx.pool, `select 1 from graphile_worker.jobs where key = $1`, [`billing_run:${runId}`]);
    expect(jobs).toHaveLength(1);
  });

  it('killed mid-way and started again, ends with exactly one draft per account', async () => {
    // The pass's first step aggregates the month's interval data; the next ones draft batches of accounts.
    const aggregate = await runStep(ctx.pool, runId, 2);
    expect(aggregate).toMatchObject({ status: 'running', accounts_total: 5, accounts_done: 0 });
    const first = await runStep(ctx.pool, runId, 2);
    expect(first).toMatchObject({ status: 'running', accounts_total: 5, accounts_done: 2 });
    // A step killed inside its transaction leaves nothing behind.
    const client = await ctx.pool.connect();
    await client.query('begin');
    await runStep(client, runId, 2);
    await client.query('rollback');
    client.release();
    expect(await drafts(runId)).toHaveLength(2);
    const seen: number[] = [];
    const done = await runBilling(ctx.pool, runId, { batchSize: 2, onProgress: (p) => seen.push(p.accounts_done) });
    expect(done).toMatchObject({
      status: 'drafted',
      accounts_total: 5,
      accounts_done: 5,
      invoices_drafted: 5,
      errors: 0,
    });
    expect(seen).toEqual([4, 5, 5]);
    const rows = await drafts(runId);
    expect(new Set(rows.map((r) => r.account))).toEqual(new Set(accounts.map((a) => a.accountId)));
    expect(rows).toHaveLength(5);
  });

  it('a rerun replaces the drafts, one per account, with the same figures', async () => {
    const before = await many<{ id: string; account: string; total: string }>(
      ctx.pool,
      `select id, account, total::text from public.invoices where run = $1 order by account`,
      [runId],
    );
    await committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
      c.query(`select public.billing_run_start('RUN', '2026-10-01')`),
    );
    // Two workers on the same run at once.
    await Promise.all([runBilling(ctx.pool, runId, { batchSize: 2 }), runBilling(ctx.pool, runId, { batchSize: 3 })]);
    const after = await many<{ id: string; account: string; total: string }>(
      ctx.pool,
      `select id, account, total::text from public.invoices where run = $1 order by account`,
      [runId],
    );
    expect(after.map((r) => [r.account, r.total])).toEqual(before.map((r) => [r.account, r.total]));
    expect(after.map((r) => r.id).filter((id) => before.some((b) => b.id === id))).toEqual([]);
  });

  it('issues with gap-free numbers per ESCO and kind, debits the ledger and records the events', async () => {
    const run = await committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
      one<{ status: string; invoices_issued: number }>(c, `select * from public.billing_run_issue($1)`, [runId]),
    );
    expect(run).toMatchObject({ status: 'issued', invoices_issued: 5 });
    // issuing it again: refused, and the hint says it is done (not "wait for drafting")
    await expect(
      committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
        c.query(`select public.billing_run_issue($1)`, [runId]),
      ),
    ).rejects.toMatchObject({ code: 'PT409', hint: 'It is issued already: there is nothing left to issue.' });
    const issued = await many<{ number: string; kind: string; total: string; ledger: string }>(
      ctx.pool,
      `select i.number, i.kind, i.total::text, l.amount::text as ledger
         from public.invoices i join public.ledger_entries l on l.invoice = i.id
        where i.run = $1 order by i.number`,
      [runId],
    );
    expect(issued.map((i) => i.number)).toEqual([
      'RUN-INV-000001',
      'RUN-INV-000002',
      'RUN-INV-000003',
      'RUN-INV-000004',
      'RUN-STM-000001',
    ]);
    // Each: 12.40 + 29.80 = 42.20 + VAT 2.11 = 44.31 (golden single-rate October)
    expect(issued.every((i) => i.total === '44.31' && i.ledger === '44.31')).toBe(true);
    const events = await many(
      ctx.pool,
      `select 1 from internal.billing_events e join public.invoices i on i.id = e.invoice where i.run = $1`,
      [runId],
    );
    expect(events).toHaveLength(5);
    await expect(
      committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
        c.query(`select public.billing_run_start('RUN', '2026-10-01')`),
      ),
    ).rejects.toMatchObject({ code: 'PT409' });
  });

  it('void issues a credit note that reverses the ledger; rebill drafts a replacement', async () => {
    const target = await one<{ id: string; account: string }>(
      ctx.pool,
      `select id, account from public.invoices where number = 'RUN-INV-000002'`,
    );
    const credit = await committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
      one<{ number: string; total: string; credits: string }>(
        c,
        `select number, total::text, credits from public.invoice_void($1, 'wrong meter')`,
        [target.id],
      ),
    );
    expect(credit).toEqual({ number: 'RUN-CRN-000001', total: '-44.31', credits: target.id });
    const balance = await one<{ b: string }>(
      ctx.pool,
      `select sum(amount)::text as b from public.ledger_entries where account = $1`,
      [target.account],
    );
    expect(balance.b).toBe('0.00');
    const rebill = await committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
      one<{ id: string; status: string; replaces: string; total: string }>(
        c,
        `select id, status, replaces, total::text from public.invoice_rebill($1)`,
        [target.id],
      ),
    );
    expect(rebill).toMatchObject({ status: 'draft', replaces: target.id, total: '44.31' });
    // a retried rebill gives the same draft back; it does not replace the one already handed out
    const retried = await committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
      one<{ id: string }>(c, `select id from public.invoice_rebill($1)`, [target.id]),
    );
    expect(retried.id).toBe(rebill.id);
    const reissued = await committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
      one<{ number: string }>(c, `select number from public.invoice_issue($1)`, [rebill.id]),
    );
    expect(reissued.number).toBe('RUN-INV-000005');
    // An operator of another ESCO reaches none of it.
    await expect(
      committedAs(ctx.pool, 'operator', { sub: other.operatorSub }, (c) =>
        c.query(`select public.invoice_void($1, 'x')`, [rebill.id]),
      ),
    ).rejects.toMatchObject({ code: 'PT404' });
  });

  it('a customer disputes their own invoice, not anyone else’s; an operator resolves it', async () => {
    const mine = await one<{ id: string }>(ctx.pool, `select id from public.invoices where number = 'RUN-INV-000001'`);
    const owner = await one<{ sub: string }>(
      ctx.pool,
      `select c.auth_subject as sub from public.invoices i join public.customer_accounts ca on ca.account = i.account
         join public.customers c on c.id = ca.customer where i.id = $1`,
      [mine.id],
    );
    await expect(
      committedAs(ctx.pool, 'customer', { sub: stranger.customerSub }, (c) =>
        c.query(`select public.invoice_dispute($1, 'not mine')`, [mine.id]),
      ),
    ).rejects.toMatchObject({ code: 'PT404' });
    const disputed = await committedAs(ctx.pool, 'customer', { sub: owner.sub }, (c) =>
      one<{ disputed: boolean }>(c, `select disputed from public.invoice_dispute($1, 'too high')`, [mine.id]),
    );
    expect(disputed.disputed).toBe(true);
    const resolved = await committedAs(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
      one<{ disputed: boolean; dispute_resolution: string }>(
        c,
        `select disputed, dispute_resolution from public.invoice_dispute_resolve($1, 'readings checked')`,
        [mine.id],
      ),
    );
    expect(resolved).toEqual({ disputed: false, dispute_resolution: 'readings checked' });
  });

  it('renders the documents; the customer gets their PDF, which parses and shows the number and total', async () => {
    expect(await renderPending(ctx.pool)).toBe(7); // 5 + the credit note + the rebill
    const inv = await one<{ id: string; account: string; pages: number }>(
      ctx.pool,
      `select i.id, i.account, d.pages from public.invoices i join internal.invoice_documents d on d.invoice = i.id
        where i.number = 'RUN-INV-000003'`,
    );
    const owner = accounts.find((a) => a.accountId === inv.account)!;
    const pdf = await asRole(ctx.pool, 'customer', { sub: owner.customerSub }, (c) =>
      one<{ pdf: Buffer }>(c, `select public.invoice_pdf($1) as pdf`, [inv.id]),
    );
    expect(pdf.pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const parser = new PDFParse({ data: pdf.pdf });
    const text = await parser.getText();
    await parser.destroy();
    expect(text.total).toBe(inv.pages);
    expect(text.total).toBe(1);
    expect(text.text).toContain('RUN-INV-000003');
    expect(text.text).toContain('£44.31');
    expect(text.text).toContain(owner.accountNumber);
    // Someone else's PDF: not found.
    await expect(
      asRole(ctx.pool, 'customer', { sub: stranger.customerSub }, (c) =>
        c.query(`select public.invoice_pdf($1)`, [inv.id]),
      ),
    ).rejects.toMatchObject({ code: 'PT404' });
  });
});

describe('who may preview (monthly_costs_compute)', () => {
  it('a customer previews their own account and no one else’s', async () => {
    const mine = accounts[0]!;
    const preview = await asRole(ctx.pool, 'customer', { sub: mine.customerSub }, (c) =>
      one<{ p: { total: string; lines: unknown[] } }>(c, `select public.monthly_costs_compute($1, '2026-10-01') as p`, [
        mine.accountId,
      ]),
    );
    expect(preview.p.total).toBe(44.31);
    expect(preview.p.lines).toHaveLength(2);
    await expect(
      asRole(ctx.pool, 'customer', { sub: mine.customerSub }, (c) =>
        c.query(`select public.monthly_costs_compute($1, '2026-10-01')`, [accounts[1]!.accountId]),
      ),
    ).rejects.toMatchObject({ code: 'PT404' });
  });

  it('an operator previews their ESCO’s accounts only', async () => {
    await asRole(ctx.pool, 'operator', { sub: esco.operatorSub }, async (c) => {
      await c.query(`select public.monthly_costs_compute($1, '2026-10-01')`, [accounts[0]!.accountId]);
    });
    await expect(
      asRole(ctx.pool, 'operator', { sub: esco.operatorSub }, (c) =>
        c.query(`select public.monthly_costs_compute($1, '2026-10-01')`, [stranger.accountId]),
      ),
    ).rejects.toMatchObject({ code: 'PT404' });
  });

  it('a customer reads their issued invoices, lines and ledger, never drafts or other accounts', async () => {
    const mine = accounts[0]!;
    await ctx.pool.query(
      `select internal.billing_draft(array[$1::uuid], '2026-09-01', '2026-10-01', null, '2026-11-28')`,
      [mine.accountId],
    );
    await asRole(ctx.pool, 'customer', { sub: mine.customerSub }, async (c) => {
      const invoices = await many<{ id: string; account: string; status: string }>(
        c,
        `select id, account, status from public.invoices`,
      );
      expect(invoices.length).toBeGreaterThan(0);
      expect(invoices.every((i) => i.account === mine.accountId && i.status !== 'draft')).toBe(true);
      const lines = await many<{ invoice: string }>(c, `select invoice from public.invoice_lines`);
      expect(lines).toHaveLength(2 * invoices.length);
      expect(lines.every((l) => invoices.some((i) => i.id === l.invoice))).toBe(true);
      const ledger = await many<{ account: string }>(c, `select account from public.ledger_entries`);
      expect(ledger.every((l) => l.account === mine.accountId)).toBe(true);
    });
  });
});
