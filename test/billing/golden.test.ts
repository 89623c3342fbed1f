// Golden scenarios: expected lines and totals computed by hand (the arithmetic is in the comments).
// Tariff of every ESCO here unless said otherwise (createEsco): element A (and SINGLE) £0.20000/kWh,
// element B £0.10000/kWh, standing charge £0.40000/day, export £0.05000/kWh; VAT 5 % unless said.
// Amounts are rounded once per line, half away from zero; VAT once on the supply lines.
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { brief, compute, createEsco, createScenario, fillIntervals, type BillingEsco } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let esco: BillingEsco;

beforeAll(async () => {
  esco = await createEsco(ctx.pool, 'GOLD');
});

// Local-month boundaries as instants.
const OCT_2026 = ['2026-10-01T00:00:00+01:00', '2026-11-01T00:00:00+00:00'] as const; // 31 days, 1490 half-hours
const MAR_2026 = ['2026-03-01T00:00:00+00:00', '2026-04-01T00:00:00+01:00'] as const; // 31 days, 1486 half-hours

describe('golden scenarios', () => {
  it('single-rate month containing the autumn clock change (25 Oct 2026: a 50-half-hour day)', async () => {
    const s = await createScenario(ctx.pool, esco);
    await fillIntervals(ctx.pool, s.registers.SINGLE!, ...OCT_2026, '0.100');
    const p = await compute(ctx.pool, s.accountId, '2026-10-01');
    expect(brief(p.lines)).toEqual([
      // 31 days × £0.40 = £12.40
      {
        type: 'standing_charge',
        element: null,
        quantity: '31',
        price: '0.40000',
        amount: '12.40',
        from: '2026-10-01',
        to: '2026-11-01',
        estimated: false,
      },
      // (30 × 48 + 50) = 1490 half-hours × 0.1 kWh = 149.000 kWh × £0.20 = £29.80
      {
        type: 'unit_charge',
        element: 'SINGLE',
        quantity: '149.000',
        price: '0.20000',
        amount: '29.80',
        from: '2026-10-01',
        to: '2026-11-01',
        estimated: false,
      },
    ]);
    // subtotal 12.40 + 29.80 = 42.20; VAT 5 % = 2.11; total 44.31
    expect(p).toMatchObject({
      supply_subtotal: '42.20',
      vat: '2.11',
      export_credit: '0.00',
      total: '44.31',
      estimated: false,
    });
  });

  it('dual-rate (A and B) month containing the spring clock change (29 Mar 2026: a 46-half-hour day)', async () => {
    const s = await createScenario(ctx.pool, esco, { elements: ['A', 'B'] });
    await fillIntervals(ctx.pool, s.registers.A!, ...MAR_2026, '0.200');
    await fillIntervals(ctx.pool, s.registers.B!, ...MAR_2026, '0.050');
    const p = await compute(ctx.pool, s.accountId, '2026-03-01');
    expect(brief(p.lines).map((l) => [l.type, l.element, l.quantity, l.price, l.amount])).toEqual([
      ['standing_charge', null, '31', '0.40000', '12.40'], // 31 × 0.40
      ['unit_charge', 'A', '297.200', '0.20000', '59.44'], // 1486 × 0.2 = 297.2 kWh × 0.20 = 59.44
      ['unit_charge', 'B', '74.300', '0.10000', '7.43'], // 1486 × 0.05 = 74.3 kWh × 0.10 = 7.43
    ]);
    // 12.40 + 59.44 + 7.43 = 79.27; VAT 79.27 × 5 % = 3.9635 → 3.96; total 83.23
    expect(p).toMatchObject({ supply_subtotal: '79.27', vat: '3.96', total: '83.23' });
  });

  it('a tariff change on the 15th splits the standing and unit lines', async () => {
    const e2 = await createEsco(ctx.pool, 'GOLDT');
    await ctx.pool.query(
      `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
                                             export_rate_gbp_kwh, standing_charge_gbp_day)
       values ($1, '2026-06-15', 0.25000, 0.10000, 0.05000, 0.50000)`,
      [e2.id],
    );
    const s = await createScenario(ctx.pool, e2);
    await fillIntervals(
      ctx.pool,
      s.registers.SINGLE!,
      '2026-06-01T00:00:00+01:00',
      '2026-07-01T00:00:00+01:00',
      '0.100',
    );
    const p = await compute(ctx.pool, s.accountId, '2026-06-01');
    expect(brief(p.lines).map((l) => [l.type, l.quantity, l.price, l.amount, l.from, l.to])).toEqual([
      ['standing_charge', '14', '0.40000', '5.60', '2026-06-01', '2026-06-15'], // 14 × 0.40
      ['standing_charge', '16', '0.50000', '8.00', '2026-06-15', '2026-07-01'], // 16 × 0.50
      ['unit_charge', '67.200', '0.20000', '13.44', '2026-06-01', '2026-06-15'], // 14 × 48 × 0.1 = 67.2 × 0.20
      ['unit_charge', '76.800', '0.25000', '19.20', '2026-06-15', '2026-07-01'], // 16 × 48 × 0.1 = 76.8 × 0.25
    ]);
    // 5.60 + 8.00 + 13.44 + 19.20 = 46.24; VAT 2.312 → 2.31; total 48.55
    expect(p).toMatchObject({ supply_subtotal: '46.24', vat: '2.31', total: '48.55' });
  });

  it('move-out on the 9th and move-in on the 10th of the same property pro-rate both bills', async () => {
    const out = await createScenario(ctx.pool, esco, { end: '2026-07-10' });
    const into = await createScenario(ctx.pool, esco, { start: '2026-07-10', property: out });
    await fillIntervals(
      ctx.pool,
      out.registers.SINGLE!,
      '2026-07-01T00:00:00+01:00',
      '2026-08-01T00:00:00+01:00',
      '0.100',
    );
    const leaving = await compute(ctx.pool, out.accountId, '2026-07-01');
    expect(brief(leaving.lines).map((l) => [l.type, l.quantity, l.amount, l.from, l.to])).toEqual([
      ['standing_charge', '9', '3.60', '2026-07-01', '2026-07-10'], // 9 × 0.40
      ['unit_charge', '43.200', '8.64', '2026-07-01', '2026-07-10'], // 9 × 4.8 kWh = 43.2 × 0.20
    ]);
    // 12.24; VAT 0.612 → 0.61; total 12.85
    expect(leaving).toMatchObject({ supply_subtotal: '12.24', vat: '0.61', total: '12.85' });
    const arriving = await compute(ctx.pool, into.accountId, '2026-07-01');
    expect(brief(arriving.lines).map((l) => [l.type, l.quantity, l.amount, l.from, l.to])).toEqual([
      ['standing_charge', '22', '8.80', '2026-07-10', '2026-08-01'], // 22 × 0.40
      ['unit_charge', '105.600', '21.12', '2026-07-10', '2026-08-01'], // 22 × 4.8 = 105.6 × 0.20
    ]);
    // 29.92; VAT 1.496 → 1.50; total 31.42
    expect(arriving).toMatchObject({ supply_subtotal: '29.92', vat: '1.50', total: '31.42' });
    // The move-out month is the leaving account's final bill.
    await one(
      ctx.pool,
      `select internal.billing_draft(array[$1::uuid], '2026-07-01', '2026-08-01', null, '2026-11-28')`,
      [out.accountId],
    );
    const draft = await one<{ is_final: boolean; total: string }>(
      ctx.pool,
      `select is_final, total::text from public.invoices where account = $1 and period_start = '2026-07-01'`,
      [out.accountId],
    );
    expect(draft).toEqual({ is_final: true, total: '12.85' });
  });

  it('export is credited at the export rate, outside VAT', async () => {
    const s = await createScenario(ctx.pool, esco);
    await fillIntervals(
      ctx.pool,
      s.registers.SINGLE!,
      '2026-08-01T00:00:00+01:00',
      '2026-09-01T00:00:00+01:00',
      '0.100',
      {
        exportKwh: '0.050',
      },
    );
    const p = await compute(ctx.pool, s.accountId, '2026-08-01');
    expect(brief(p.lines).map((l) => [l.type, l.quantity, l.price, l.amount])).toEqual([
      ['standing_charge', '31', '0.40000', '12.40'],
      ['unit_charge', '148.800', '0.20000', '29.76'], // 1488 × 0.1 = 148.8 × 0.20
      ['export_credit', '74.400', '0.05000', '-3.72'], // 1488 × 0.05 = 74.4 × 0.05
    ]);
    // supply 42.16; VAT on supply only: 2.108 → 2.11; total 42.16 + 2.11 − 3.72 = 40.55
    expect(p).toMatchObject({ supply_subtotal: '42.16', vat: '2.11', export_credit: '-3.72', total: '40.55' });
  });

  it('a non-domestic VAT rate (20 %) is the account’s and applies once', async () => {
    const s = await createScenario(ctx.pool, esco, { vatRatePct: '20.00' });
    await fillIntervals(ctx.pool, s.registers.SINGLE!, ...OCT_2026, '0.100');
    const p = await compute(ctx.pool, s.accountId, '2026-10-01');
    // 42.20 as above; VAT 20 % = 8.44; total 50.64
    expect(p).toMatchObject({ supply_subtotal: '42.20', vat: '8.44', total: '50.64' });
  });

  it('rounds each line once and VAT once, half away from zero (ties)', async () => {
    // One day, one half-hour of 0.125 kWh: 0.125 × 0.20 = 0.025 → 0.03 (not banker's 0.02).
    const s = await createScenario(ctx.pool, esco, { start: '2026-04-10', end: '2026-04-11' });
    await fillIntervals(
      ctx.pool,
      s.registers.SINGLE!,
      '2026-04-10T00:00:00+01:00',
      '2026-04-11T00:00:00+01:00',
      '0.000',
      {
        skip: ['2026-04-10T12:00:00+01:00', '2026-04-10T12:30:00+01:00'],
      },
    );
    await fillIntervals(
      ctx.pool,
      s.registers.SINGLE!,
      '2026-04-10T12:00:00+01:00',
      '2026-04-10T12:30:00+01:00',
      '0.125',
    );
    const p = await compute(ctx.pool, s.accountId, '2026-04-01');
    expect(brief(p.lines).map((l) => [l.type, l.quantity, l.amount])).toEqual([
      ['standing_charge', '1', '0.40'],
      ['unit_charge', '0.125', '0.03'],
    ]);
    // 0.43 × 5 % = 0.0215 → 0.02; total 0.45
    expect(p).toMatchObject({ supply_subtotal: '0.43', vat: '0.02', total: '0.45' });
    // VAT ties: 0.10 × 5 % = 0.005 → 0.01, and −0.10 × 5 % = −0.005 → −0.01 (away from zero); 0.30 × 5 % = 0.015 → 0.02.
    const vat = await one<{ a: string; b: string; c: string }>(
      ctx.pool,
      `select internal.billing_vat(0.10, 5)::text as a, internal.billing_vat(-0.10, 5)::text as b,
              internal.billing_vat(0.30, 5)::text as c`,
    );
    expect(vat).toEqual({ a: '0.01', b: '-0.01', c: '0.02' });
  });

  it('community solar credit: pence per kWp-year × allocation, pro-rated by days, outside VAT', async () => {
    const e3 = await createEsco(ctx.pool, 'GOLDC');
    await ctx.pool.query(
      `insert into public.billing_settings (esco, legal_name, community_credit_pence_per_kwp_year) values ($1, 'C Ltd', 2000)`,
      [e3.id],
    );
    const s = await createScenario(ctx.pool, e3);
    const other = await createScenario(ctx.pool, e3);
    await ctx.pool.query(
      `insert into public.community_solar_allocations (esco, array_name, capacity_kwp, property, allocation_ratio)
       values ($1, 'Roof', 4, $2, 0.25), ($1, 'Roof', 4, $3, 0.75)`,
      [e3.id, s.propertyId, other.propertyId],
    );
    await fillIntervals(ctx.pool, s.registers.SINGLE!, ...OCT_2026, '0.100');
    const p = await compute(ctx.pool, s.accountId, '2026-10-01');
    // £20.00/kWp-year × 4 kWp × 0.25 = £20/year; × 31/365 = 1.69863… → −1.70 (unit price 20/365 = 0.05479/day)
    expect(brief(p.lines).at(-1)).toMatchObject({
      type: 'community_credit',
      quantity: '31',
      price: '0.05479',
      amount: '-1.70',
    });
    // 42.20 + VAT 2.11 − 1.70 = 42.61
    expect(p).toMatchObject({ supply_subtotal: '42.20', vat: '2.11', community_credit: '-1.70', total: '42.61' });
    // Ratios of one array may not exceed 1.
    await expect(
      ctx.pool.query(
        `insert into public.community_solar_allocations (esco, array_name, capacity_kwp, property, allocation_ratio)
         values ($1, 'Roof', 4, $2, 0.01)`,
        [e3.id, (await createScenario(ctx.pool, e3)).propertyId],
      ),
    ).rejects.toMatchObject({ code: 'PT409' });
  });

  it('back-billing limit: consumption more than 12 months before the bill is not charged', async () => {
    const s = await createScenario(ctx.pool, esco);
    await fillIntervals(ctx.pool, s.registers.SINGLE!, '2025-11-01T00:00:00Z', '2025-12-01T00:00:00Z', '0.100');
    // Bill date 2026-11-28: the limit is 2025-11-28; 1–27 Nov 2025 (27 days × 4.8 = 129.6 kWh) is not charged.
    const p = await compute(ctx.pool, s.accountId, '2025-11-01', '2026-11-28');
    expect(brief(p.lines).map((l) => [l.type, l.quantity, l.amount, l.from, l.to])).toEqual([
      ['standing_charge', '30', '12.00', '2025-11-01', '2025-12-01'],
      ['unit_charge', '14.400', '2.88', '2025-11-28', '2025-12-01'], // 3 days × 4.8 = 14.4 × 0.20
      ['adjustment', '129.600', '0.00', '2025-11-01', '2025-11-28'], // shown, not charged
    ]);
    // 14.88; VAT 0.744 → 0.74; total 15.62
    expect(p).toMatchObject({ supply_subtotal: '14.88', vat: '0.74', total: '15.62' });
  });

  it('estimates a missing day from the cumulative reads around it', async () => {
    const s = await createScenario(ctx.pool, esco);
    const r = s.registers.SINGLE!;
    await fillIntervals(ctx.pool, r, '2026-09-01T00:00:00+01:00', '2026-10-01T00:00:00+01:00', '0.100', {
      skip: ['2026-09-20T00:00:00+01:00', '2026-09-21T00:00:00+01:00'],
    });
    await ctx.pool.query(
      `insert into flows.register_import (register_id, "timestamp", read)
       values ($1, '2026-09-20T00:00:00+01:00', 1000.000), ($1, '2026-09-21T00:00:00+01:00', 1012.000)`,
      [r],
    );
    const p = await compute(ctx.pool, s.accountId, '2026-09-01');
    // 29 days × 4.8 = 139.2 actual + (1012 − 1000) = 12.0 estimated = 151.2 kWh × 0.20 = 30.24
    expect(brief(p.lines).map((l) => [l.type, l.quantity, l.amount, l.estimated])).toEqual([
      ['standing_charge', '30', '12.00', false],
      ['unit_charge', '151.200', '30.24', true],
    ]);
    // 42.24; VAT 2.112 → 2.11; total 44.35; the bill is marked estimated
    expect(p).toMatchObject({ supply_subtotal: '42.24', vat: '2.11', total: '44.35', estimated: true });
  });

  it('estimates a missing day from the same weekday’s profile, and the next bill trues it up', async () => {
    const s = await createScenario(ctx.pool, esco);
    const r = s.registers.SINGLE!;
    // Data from 1 August (the profile needs the four previous Thursdays) to the end of October, without 10 Sep.
    await fillIntervals(ctx.pool, r, '2026-08-01T00:00:00+01:00', OCT_2026[1], '0.100', {
      skip: ['2026-09-10T00:00:00+01:00', '2026-09-11T00:00:00+01:00'],
    });
    const sep = await compute(ctx.pool, s.accountId, '2026-09-01');
    // 10 Sep estimated from 3 Sep, 27, 20 and 13 Aug: 48 × 0.1 = 4.8 kWh; 30 × 4.8 = 144.0 kWh × 0.20 = 28.80
    expect(brief(sep.lines).map((l) => [l.type, l.quantity, l.amount, l.estimated])).toEqual([
      ['standing_charge', '30', '12.00', false],
      ['unit_charge', '144.000', '28.80', true],
    ]);
    // 40.80; VAT 2.04; total 42.84
    expect(sep).toMatchObject({ total: '42.84', estimated: true });
    // Issue September, then the actual data for 10 Sep arrives: 0.2 kWh per half-hour = 9.6 kWh.
    await one(
      ctx.pool,
      `select internal.billing_draft(array[$1::uuid], '2026-09-01', '2026-10-01', null, '2026-11-28')`,
      [s.accountId],
    );
    const draft = await one<{ id: string }>(ctx.pool, `select id from public.invoices where account = $1`, [
      s.accountId,
    ]);
    await one(ctx.pool, `select internal.issue_invoices(array[$1::uuid])`, [draft.id]);
    const estimates = await many<{ day: string; estimated_kwh: string }>(
      ctx.pool,
      `select day::text, estimated_kwh::text from internal.billing_estimates where invoice = $1`,
      [draft.id],
    );
    expect(estimates).toEqual([{ day: '2026-09-10', estimated_kwh: '4.800' }]);
    await fillIntervals(ctx.pool, r, '2026-09-10T00:00:00+01:00', '2026-09-11T00:00:00+01:00', '0.200');
    const oct = await compute(ctx.pool, s.accountId, '2026-10-01');
    expect(brief(oct.lines).map((l) => [l.type, l.quantity, l.price, l.amount, l.from, l.to])).toEqual([
      ['standing_charge', '31', '0.40000', '12.40', '2026-10-01', '2026-11-01'],
      ['unit_charge', '149.000', '0.20000', '29.80', '2026-10-01', '2026-11-01'],
      // true-up: actual 9.6 − estimated 4.8 = 4.8 kWh at September's £0.20 = 0.96
      ['adjustment', '4.800', '0.20000', '0.96', '2026-09-10', '2026-09-11'],
    ]);
    // 12.40 + 29.80 + 0.96 = 43.16; VAT 2.158 → 2.16; total 45.32
    expect(oct).toMatchObject({ supply_subtotal: '43.16', vat: '2.16', total: '45.32', estimated: false });
    // Issuing October marks the estimate trued up: November has no true-up line.
    await one(
      ctx.pool,
      `select internal.billing_draft(array[$1::uuid], '2026-10-01', '2026-11-01', null, '2026-11-28')`,
      [s.accountId],
    );
    const octDraft = await one<{ id: string }>(
      ctx.pool,
      `select id from public.invoices where account = $1 and period_start = '2026-10-01'`,
      [s.accountId],
    );
    await one(ctx.pool, `select internal.issue_invoices(array[$1::uuid])`, [octDraft.id]);
    const nov = await compute(ctx.pool, s.accountId, '2026-11-01');
    expect(nov.lines.filter((l) => l.line_type === 'adjustment')).toEqual([]);
  });
});
