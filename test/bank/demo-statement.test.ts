// The demo's money, as `npm start` makes it: the demo ESCO's month is billed and issued, a bank statement in which
// every customer pays is imported, and bank__reconcile (the real job, as the worker) pays every invoice; the ledger
// balances match: each paid account's invoice debit and payment credit cancel out, and the statement's credits are
// exactly the invoices' totals.
import { describe, expect, it } from 'vitest';
import reconcileTask from '../../jobs/bank__reconcile.ts';
import { importStatement, parseStatementFile } from '../../src/bank/import.ts';
import { many, one, withClient } from '../../src/db/client.ts';
import { seedDemo } from '../../src/seed/demo.ts';
import { seedDemoPayments } from '../../src/seed/demo-payments.ts';
import { useTestDatabase, usePool } from '../support/database.ts';
import { runJobsOnce } from '../support/worker.ts';

const db = useTestDatabase();
const ctx = usePool(db);

describe('the demo statement', () => {
  it('pays every invoice of the demo ESCO’s month, and the ledger balances match', async () => {
    const summary = await withClient(db.url, async (c) => {
      await seedDemo(c, { days: 31, seed: 3, until: new Date('2026-11-01T00:00:00Z') });
      return seedDemoPayments(c, { esco: 'WLCE', month: '2026-10-01', paidOn: '2026-11-03' });
    });
    expect(summary).toMatchObject({ esco: 'WLCE', month: '2026-10-01', import: { status: 'imported' } });
    expect(summary.invoices).toBeGreaterThan(10);
    expect(summary.import.lines).toBe(summary.invoices + 1); // and the bank charge

    // Before the reconcile nothing is paid.
    const open = () =>
      many<{ number: string; status: string }>(
        ctx.pool,
        `select i.number, i.status from public.invoices i join flows.escos e on e.id = i.esco
          where e.code = 'WLCE' and i.kind = 'invoice' and i.status <> 'paid' order by i.number`,
      );
    expect(await open()).toHaveLength(summary.invoices);
    await runJobsOnce(db, { bank__reconcile: reconcileTask });
    expect(await open()).toEqual([]);

    const lines = await many<{ status: string; match_rule: string | null; n: number; total: string }>(
      ctx.pool,
      `select t.status, t.match_rule, count(*)::int as n, sum(t.amount)::text as total
         from public.bank_transactions t join flows.escos e on e.id = t.esco where e.code = 'WLCE'
        group by 1, 2 order by 1, 2`,
    );
    const invoiced = await one<{ total: string }>(
      ctx.pool,
      `select sum(i.total)::text as total from public.invoices i join flows.escos e on e.id = i.esco
        where e.code = 'WLCE' and i.kind = 'invoice'`,
    );
    expect(lines).toEqual([
      { status: 'debit', match_rule: null, n: 1, total: '-4.50' },
      { status: 'matched', match_rule: 'reference', n: summary.invoices, total: invoiced.total },
    ]);
    // Statement: opening + credits − charge = closing (exact, in SQL).
    const statement = await one<{ moved: string; expected: string }>(
      ctx.pool,
      `select (s.closing_balance - s.opening_balance)::text as moved, ($1::numeric - 4.50)::text as expected
         from public.bank_statements s join flows.escos e on e.id = s.esco where e.code = 'WLCE'`,
      [invoiced.total],
    );
    expect(statement.moved).toBe(statement.expected);

    // Each invoiced account: one payment of exactly its invoice, allocated to it; debit and credit cancel out.
    const accounts = await many<{ account: string; invoice: string; paid: string; allocated: string; ledger: string }>(
      ctx.pool,
      `select a.account_number as account, i.total::text as invoice,
              (select sum(p.amount) from public.payments p where p.account = a.id)::text as paid,
              (select sum(x.amount) from public.payment_allocations x where x.invoice = i.id)::text as allocated,
              (select sum(l.amount) from public.ledger_entries l where l.account = a.id and l.kind in ('invoice', 'payment'))::text
                as ledger
         from public.invoices i join public.accounts a on a.id = i.account join flows.escos e on e.id = i.esco
        where e.code = 'WLCE' and i.kind = 'invoice' order by a.account_number`,
    );
    expect(accounts).toHaveLength(summary.invoices);
    for (const a of accounts)
      expect(a, a.account).toMatchObject({ paid: a.invoice, allocated: a.invoice, ledger: '0.00' });
    const debt = await one<{ outstanding: string }>(
      ctx.pool,
      `select coalesce(sum(d.outstanding), 0)::text as outstanding from public.aged_debt d
         join flows.escos e on e.id = d.esco where e.code = 'WLCE'`,
    );
    expect(debt.outstanding).toBe('0');
    expect(
      await many(
        ctx.pool,
        `select 1 from public.bank_review_queue q join flows.escos e on e.id = q.esco where e.code = 'WLCE'`,
      ),
    ).toEqual([]);

    // The same statement again is a no-op.
    const again = parseStatementFile(Buffer.from(summary.statement.csv), {
      fileName: summary.statement.fileName,
      account: { iban: 'GB55MONZ04000420261101', sort_code: null, account_number: null },
    });
    expect(await importStatement(ctx.pool, 'WLCE', again)).toMatchObject({ status: 'duplicate' });
  }, 300_000);
});
