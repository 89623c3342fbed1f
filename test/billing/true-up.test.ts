// Estimates and true-ups (docs/billing.md, rules 4 and 5) and the registers billing reads (rules 3 and 6).
// Tariff of createEsco: element SINGLE £0.20000/kWh, standing charge £0.40000/day, export £0.05000/kWh; VAT 5 %.
// Every figure is worked by hand in the comments; amounts are rounded once per line, VAT once per invoice.
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { brief, compute, createEsco, createScenario, fillIntervals, type BillingEsco } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let esco: BillingEsco;

beforeAll(async () => {
  esco = await createEsco(ctx.pool, 'TRUE');
});

const AUG_1 = '2026-08-01T00:00:00+01:00';
const NOV_1 = '2026-11-01T00:00:00+00:00';
// The half-hour missing from September in most scenarios: 10 Sep 2026, 12:00–12:30 BST.
const SEP_10_NOON = ['2026-09-10T12:00:00+01:00', '2026-09-10T12:30:00+01:00'] as const;

/** Drafts the account's bill for the month (bill date 2026-11-28); returns the draft's id. */
async function draft(accountId: string, month: string): Promise<string> {
  await one(
    ctx.pool,
    `select internal.billing_draft(array[$1::uuid], $2::date, ($2::date + interval '1 month')::date, null, '2026-11-28')`,
    [accountId, month],
  );
  const d = await one<{ id: string }>(
    ctx.pool,
    `select id from public.invoices where account = $1 and period_start = $2 and status = 'draft'`,
    [accountId, month],
  );
  return d.id;
}

/** Drafts the account's bill for the month and issues it; returns the invoice id. */
async function billAndIssue(accountId: string, month: string): Promise<string> {
  const id = await draft(accountId, month);
  await one(ctx.pool, `select internal.issue_invoices(array[$1::uuid])`, [id]);
  return id;
}

const rows = (p: Awaited<ReturnType<typeof compute>>) =>
  brief(p.lines).map((l) => [l.type, l.quantity, l.price, l.amount, l.from, l.to, l.estimated]);

async function invoiceOf(id: string) {
  return one<{ status: string; total: string; estimated: boolean }>(
    ctx.pool,
    `select status, total::text, estimated from public.invoices where id = $1`,
    [id],
  );
}

async function linesOf(id: string) {
  return (
    await many<{ type: string; quantity: string; price: string; amount: string; estimated: boolean }>(
      ctx.pool,
      `select line_type as type, quantity::text, unit_price::text as price, amount::text, estimated
         from public.invoice_lines where invoice = $1 order by position`,
      [id],
    )
  ).map((l) => [l.type, l.quantity, l.price, l.amount, l.estimated]);
}

describe('true-ups', () => {
  it('trues up only the half-hours that were estimated, not the rest of the day again', async () => {
    const s = await createScenario(ctx.pool, esco);
    const r = s.registers.SINGLE!;
    // 0.1 kWh every half-hour, August to October, except 10 Sep 12:00–12:30 BST.
    await fillIntervals(ctx.pool, r, AUG_1, NOV_1, '0.100', { skip: [...SEP_10_NOON] });
    const sep = await compute(ctx.pool, s.accountId, '2026-09-01');
    // 1439 half-hours × 0.1 = 143.9 kWh + the missing one from its profile (12:00 on 3 Sep, 27, 20, 13 Aug: 0.1)
    // = 144.000 kWh × 0.20 = 28.80; 30 days × 0.40 = 12.00
    expect(rows(sep)).toEqual([
      ['standing_charge', '30', '0.40000', '12.00', '2026-09-01', '2026-10-01', false],
      ['unit_charge', '144.000', '0.20000', '28.80', '2026-09-01', '2026-10-01', true],
    ]);
    // 40.80; VAT 2.04; total 42.84
    expect(sep).toMatchObject({ supply_subtotal: '40.80', vat: '2.04', total: '42.84', estimated: true });
    const sepId = await billAndIssue(s.accountId, '2026-09-01');
    expect(
      await many(ctx.pool, `select day::text, estimated_kwh::text from internal.billing_estimates where invoice = $1`, [
        sepId,
      ]),
    ).toEqual([{ day: '2026-09-10', estimated_kwh: '0.100' }]);
    // The missing half-hour arrives: 0.1 kWh, exactly the estimate.
    await fillIntervals(ctx.pool, r, ...SEP_10_NOON, '0.100');
    const oct = await compute(ctx.pool, s.accountId, '2026-10-01');
    // 10 Sep now 48 × 0.1 = 4.8 kWh; billed 47 × 0.1 = 4.7 present + 0.1 estimated = 4.8: true-up 4.8 − 4.8 = 0.000
    // (equivalently: the estimated half-hour's 0.1 − its estimate 0.1), shown at £0.00 so that issuing closes it
    expect(rows(oct)).toEqual([
      ['standing_charge', '31', '0.40000', '12.40', '2026-10-01', '2026-11-01', false],
      ['unit_charge', '149.000', '0.20000', '29.80', '2026-10-01', '2026-11-01', false],
      ['adjustment', '0.000', '0.20000', '0.00', '2026-09-10', '2026-09-11', false],
    ]);
    // 12.40 + 29.80 + 0.00 = 42.20; VAT 2.11; total 44.31 (the golden October)
    expect(oct).toMatchObject({ supply_subtotal: '42.20', vat: '2.11', total: '44.31', estimated: false });
  });

  it('trues up a day cut by a meter exchange once the old register’s half-hours in its window are all there', async () => {
    const s = await createScenario(ctx.pool, esco);
    const r1 = s.registers.SINGLE!;
    const exchange = '2026-09-15T12:00:00+01:00';
    // R1 ends at 12:00 BST on 15 Sep; R2, on the same meter, starts then.
    await ctx.pool.query(`update flows.meter_registers set end_time = $2, status = 'replaced' where register_id = $1`, [
      r1,
      exchange,
    ]);
    const r2 = (
      await one<{ register_id: string }>(
        ctx.pool,
        `insert into flows.meter_registers (meter_id, esco, element, start_time) values ($1, $2, 'SINGLE', $3)
         returning register_id`,
        [s.meterId, esco.id, exchange],
      )
    ).register_id;
    // R1 misses 10:00–10:30 BST on 15 Sep, inside its window.
    const missing = ['2026-09-15T10:00:00+01:00', '2026-09-15T10:30:00+01:00'] as const;
    await fillIntervals(ctx.pool, r1, AUG_1, exchange, '0.100', { skip: [...missing] });
    await fillIntervals(ctx.pool, r2, exchange, NOV_1, '0.100');
    const sep = await compute(ctx.pool, s.accountId, '2026-09-01');
    // R1: 14 × 48 + 23 = 695 half-hours = 69.5 kWh + 0.1 estimated (10:00 on 8, 1 Sep, 25, 18 Aug); R2: 24 + 15 × 48
    // = 744 half-hours = 74.4 kWh; 69.5 + 0.1 + 74.4 = 144.000 kWh × 0.20 = 28.80
    expect(rows(sep)).toEqual([
      ['standing_charge', '30', '0.40000', '12.00', '2026-09-01', '2026-10-01', false],
      ['unit_charge', '144.000', '0.20000', '28.80', '2026-09-01', '2026-10-01', true],
    ]);
    expect(sep).toMatchObject({ total: '42.84', estimated: true });
    const sepId = await billAndIssue(s.accountId, '2026-09-01');
    expect(
      await many(
        ctx.pool,
        `select register_id, day::text, estimated_kwh::text from internal.billing_estimates where invoice = $1`,
        [sepId],
      ),
    ).toEqual([{ register_id: r1, day: '2026-09-15', estimated_kwh: '0.100' }]);
    // The missing half-hour arrives at 0.3 kWh: R1 now has its 24 half-hours of 15 Sep (a day of 48 it never fills).
    await fillIntervals(ctx.pool, r1, ...missing, '0.300');
    const oct = await compute(ctx.pool, s.accountId, '2026-10-01');
    // true-up: 0.3 − 0.1 = 0.200 kWh × 0.20 = 0.04
    expect(rows(oct)).toEqual([
      ['standing_charge', '31', '0.40000', '12.40', '2026-10-01', '2026-11-01', false],
      ['unit_charge', '149.000', '0.20000', '29.80', '2026-10-01', '2026-11-01', false],
      ['adjustment', '0.200', '0.20000', '0.04', '2026-09-15', '2026-09-16', false],
    ]);
    // 12.40 + 29.80 + 0.04 = 42.24; VAT 2.112 → 2.11; total 44.35
    expect(oct).toMatchObject({ supply_subtotal: '42.24', vat: '2.11', total: '44.35' });
    // Issuing October closes it: November has no true-up.
    await billAndIssue(s.accountId, '2026-10-01');
    const nov = await compute(ctx.pool, s.accountId, '2026-11-01');
    expect(nov.lines.filter((l) => l.line_type === 'adjustment')).toEqual([]);
  });

  it('a rebill of a month trued up by a later issued bill bills its estimates as billed: every kWh once', async () => {
    const s = await createScenario(ctx.pool, esco);
    const r = s.registers.SINGLE!;
    await fillIntervals(ctx.pool, r, AUG_1, NOV_1, '0.100', { skip: [...SEP_10_NOON] });
    // September as in the first test: 143.9 + 0.1 estimated = 144.000 kWh; total 42.84.
    const sepId = await billAndIssue(s.accountId, '2026-09-01');
    expect(await invoiceOf(sepId)).toEqual({ status: 'issued', total: '42.84', estimated: true });
    // The missing half-hour arrives at 0.3 kWh; October trues it up: 0.3 − 0.1 = 0.200 kWh × 0.20 = 0.04;
    // 12.40 + 29.80 + 0.04 = 42.24, VAT 2.11, total 44.35.
    await fillIntervals(ctx.pool, r, ...SEP_10_NOON, '0.300');
    const octId = await draft(s.accountId, '2026-10-01');
    // While October's true-up is only a draft, September cannot be voided: a rebill at the actual 4.9 kWh plus
    // that true-up, issued later, would charge the 0.2 kWh twice.
    await expect(ctx.pool.query(`select public.invoice_void($1, 'wrong address')`, [sepId])).rejects.toMatchObject({
      code: 'PT409',
    });
    await one(ctx.pool, `select internal.issue_invoices(array[$1::uuid])`, [octId]);
    expect(await invoiceOf(octId)).toEqual({ status: 'issued', total: '44.35', estimated: false });
    // September is voided and rebilled. Its estimate was trued up by October (still issued), so the rebill bills
    // 10 Sep as September billed it — 4.7 present + 0.1 estimated — not at the 4.9 now known: 144.000 kWh, 42.84.
    // Billed for September's days: 144.0 (rebill) + 0.2 (October's true-up) = 144.2 = 1439 × 0.1 + 0.3, once.
    await ctx.pool.query(`select public.invoice_void($1, 'wrong address')`, [sepId]);
    const rebill = await one<{ id: string }>(ctx.pool, `select id from public.invoice_rebill($1)`, [sepId]);
    expect(await linesOf(rebill.id)).toEqual([
      ['standing_charge', '30.000', '0.40000', '12.00', false],
      ['unit_charge', '144.000', '0.20000', '28.80', true],
    ]);
    expect(await invoiceOf(rebill.id)).toEqual({ status: 'draft', total: '42.84', estimated: true });
    await ctx.pool.query(`select public.invoice_issue($1)`, [rebill.id]);
    // The rebill's estimate is already trued up (by October): November trues up nothing.
    expect(
      await many(
        ctx.pool,
        `select day::text, estimated_kwh::text, trued_up_by from internal.billing_estimates where invoice = $1`,
        [rebill.id],
      ),
    ).toEqual([{ day: '2026-09-10', estimated_kwh: '0.100', trued_up_by: octId }]);
    const nov = await compute(ctx.pool, s.accountId, '2026-11-01');
    expect(nov.lines.filter((l) => l.line_type === 'adjustment')).toEqual([]);
    // Ledger: 42.84 + 44.35 − 42.84 (credit note) + 42.84 (rebill) = 87.19.
    const balance = await one<{ b: string }>(
      ctx.pool,
      `select sum(amount)::text as b from public.ledger_entries where account = $1`,
      [s.accountId],
    );
    expect(balance.b).toBe('87.19');
    // Voiding October reopens the rebill's estimate; October's rebill trues it up again: 0.200 kWh, 0.04, 44.35.
    await ctx.pool.query(`select public.invoice_void($1, 'wrong tariff')`, [octId]);
    const octRebill = await one<{ id: string }>(ctx.pool, `select id from public.invoice_rebill($1)`, [octId]);
    expect(await linesOf(octRebill.id)).toEqual([
      ['standing_charge', '31.000', '0.40000', '12.40', false],
      ['unit_charge', '149.000', '0.20000', '29.80', false],
      ['adjustment', '0.200', '0.20000', '0.04', false],
    ]);
    expect(await invoiceOf(octRebill.id)).toEqual({ status: 'draft', total: '44.35', estimated: false });
  });
});

describe('registers fitted the wrong way round (direction_reversed)', () => {
  it('bills the stored export as import and the stored import as export', async () => {
    const s = await createScenario(ctx.pool, esco);
    const r = s.registers.SINGLE!;
    await ctx.pool.query(`update flows.meter_registers set direction_reversed = true where register_id = $1`, [r]);
    // Stored per half-hour: import 0.02, export 0.10 — really 0.10 imported and 0.02 exported.
    await fillIntervals(ctx.pool, r, '2026-10-01T00:00:00+01:00', NOV_1, '0.020', { exportKwh: '0.100' });
    const oct = await compute(ctx.pool, s.accountId, '2026-10-01');
    // 1490 half-hours: import 1490 × 0.10 = 149.000 kWh × 0.20 = 29.80; export 1490 × 0.02 = 29.800 kWh × 0.05 = 1.49
    expect(rows(oct)).toEqual([
      ['standing_charge', '31', '0.40000', '12.40', '2026-10-01', '2026-11-01', false],
      ['unit_charge', '149.000', '0.20000', '29.80', '2026-10-01', '2026-11-01', false],
      ['export_credit', '29.800', '0.05000', '-1.49', '2026-10-01', '2026-11-01', false],
    ]);
    // 42.20; VAT 2.11; total 42.20 + 2.11 − 1.49 = 42.82
    expect(oct).toMatchObject({ supply_subtotal: '42.20', vat: '2.11', export_credit: '-1.49', total: '42.82' });
    // A billing run's daily aggregate is swapped the same way: 1 Oct, 48 × 0.10 = 4.8 in, 48 × 0.02 = 0.96 out.
    expect(
      await one(
        ctx.pool,
        `select import_kwh::text, export_kwh::text, present, export_present
           from internal.billing_interval_days(array[$1::uuid], '2026-10-01', '2026-10-02')`,
        [r],
      ),
    ).toEqual({ import_kwh: '4.800', export_kwh: '0.960', present: 48, export_present: 48 });
    // and so is what its document shows: the daily chart sums the 149.000 kWh imported
    await ctx.pool.query(
      `select internal.billing_draft(array[$1::uuid], '2026-10-01', '2026-11-01', null, '2026-11-28')`,
      [s.accountId],
    );
    const doc = await one<{ daily: string }>(
      ctx.pool,
      `select (select sum((x ->> 'kwh')::numeric)::text from jsonb_array_elements(d -> 'daily') x) as daily
         from public.invoices i cross join lateral internal.invoice_document_data(i.id) d
        where i.account = $1 and i.status = 'draft'`,
      [s.accountId],
    );
    expect(doc.daily).toBe('149.000');
  });

  it('estimates its import from the cumulative export reads, and its export from the import reads', async () => {
    const s = await createScenario(ctx.pool, esco);
    const r = s.registers.SINGLE!;
    await ctx.pool.query(`update flows.meter_registers set direction_reversed = true where register_id = $1`, [r]);
    await fillIntervals(ctx.pool, r, '2026-09-01T00:00:00+01:00', '2026-10-01T00:00:00+01:00', '0.020', {
      exportKwh: '0.100',
      skip: ['2026-09-20T00:00:00+01:00', '2026-09-21T00:00:00+01:00'],
    });
    // The register's "export" counter is the real import, its "import" counter the real export.
    await ctx.pool.query(
      `insert into flows.register_export (register_id, "timestamp", read)
       values ($1, '2026-09-20T00:00:00+01:00', 1000.000), ($1, '2026-09-21T00:00:00+01:00', 1012.000)`,
      [r],
    );
    await ctx.pool.query(
      `insert into flows.register_import (register_id, "timestamp", read)
       values ($1, '2026-09-20T00:00:00+01:00', 500.000), ($1, '2026-09-21T00:00:00+01:00', 501.000)`,
      [r],
    );
    const sep = await compute(ctx.pool, s.accountId, '2026-09-01');
    // import: 29 days × 48 × 0.10 = 139.2 + 20 Sep from the export reads 1012 − 1000 = 12.0 → 151.200 × 0.20 = 30.24
    // export: 29 × 48 × 0.02 = 27.84 + 20 Sep from the import reads 501 − 500 = 1.0 → 28.840 × 0.05 = 1.442 → 1.44
    expect(rows(sep)).toEqual([
      ['standing_charge', '30', '0.40000', '12.00', '2026-09-01', '2026-10-01', false],
      ['unit_charge', '151.200', '0.20000', '30.24', '2026-09-01', '2026-10-01', true],
      ['export_credit', '28.840', '0.05000', '-1.44', '2026-09-01', '2026-10-01', false],
    ]);
    // 42.24; VAT 2.112 → 2.11; total 42.24 + 2.11 − 1.44 = 42.91
    expect(sep).toMatchObject({ supply_subtotal: '42.24', vat: '2.11', export_credit: '-1.44', total: '42.91' });
  });
});
