// The demo data bills cleanly: every supplied account of both demo ESCOs gets one draft, no errors,
// totals that add up, and issued documents that render.
import { describe, expect, it } from 'vitest';
import { many, one, withClient } from '../../src/db/client.ts';
import { renderPending } from '../../src/billing/document.ts';
import { prepareRun, runBilling } from '../../src/billing/run.ts';
import { seedDemo } from '../../src/seed/demo.ts';
import { usePool, useTestDatabase } from '../support/database.ts';

const db = useTestDatabase();
const ctx = usePool(db);

describe('billing the demo data', () => {
  it('drafts one bill per supplied account of WLCE and HMCE for October, issues and renders them', async () => {
    await withClient(db.url, (c) => seedDemo(c, { days: 35, seed: 7, until: new Date('2026-11-01T00:00:00Z') }));
    for (const code of ['WLCE', 'HMCE']) {
      const runId = await prepareRun(ctx.pool, code, '2026-10-01', 'test');
      const progress = await runBilling(ctx.pool, runId);
      expect(progress).toMatchObject({ status: 'drafted', errors: 0 });
      expect(progress.invoices_drafted).toBe(progress.accounts_total);
      expect(progress.accounts_total).toBeGreaterThan(20);
      await ctx.pool.query(`select public.billing_run_issue($1)`, [runId]);
    }
    const wrong = await many(
      ctx.pool,
      `select i.number from public.invoices i
        where i.total <> (select sum(l.amount) from public.invoice_lines l where l.invoice = i.id) + i.vat
           or i.vat <> round(i.supply_subtotal * i.vat_rate_pct / 100, 2)`,
    );
    expect(wrong).toEqual([]);
    const kinds = await many<{ kind: string; n: number }>(
      ctx.pool,
      `select kind, count(*)::int as n from public.invoices group by kind order by kind`,
    );
    expect(kinds.map((k) => k.kind)).toEqual(['invoice', 'statement']);
    // Neighbours on a shared service head are each billed for their own meter: no register is charged to two
    // accounts for the same time (a move-out and a move-in charge it for consecutive times).
    const sharedCharges = await many(
      ctx.pool,
      `select a.number, b.number as other, r.register
         from public.invoice_lines la
         join public.invoices a on a.id = la.invoice
        cross join lateral jsonb_array_elements_text(la.inputs -> 'registers') r(register)
         join public.invoice_lines lb on lb.line_type = 'unit_charge' and lb.inputs -> 'registers' ? r.register
         join public.invoices b on b.id = lb.invoice and b.account <> a.account
        where la.line_type = 'unit_charge'
          and tstzrange((la.inputs ->> 'interval_from')::timestamptz, (la.inputs ->> 'interval_to')::timestamptz)
              && tstzrange((lb.inputs ->> 'interval_from')::timestamptz, (lb.inputs ->> 'interval_to')::timestamptz)`,
    );
    expect(sharedCharges).toEqual([]);
    const rendered = await renderPending(ctx.pool);
    const issued = await one<{ n: number }>(
      ctx.pool,
      `select count(*)::int as n from public.invoices where status = 'issued'`,
    );
    expect(rendered).toBe(issued.n);
  }, 120_000);
});
