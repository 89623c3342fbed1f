// Two neighbouring homes on one shared service head, each with its own meter (flows.service_head_meter.property
// names the home it supplies) and its own account: each bill counts its own meter only — in the dry run, the
// issued invoice, the document's meter reads and daily kWh, and a prepay account's meter balance movement.
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { prepareRun, runBilling } from '../../src/billing/run.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { compute, createEsco, createScenario, fillIntervals, type BillingEsco, type Scenario } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let esco: BillingEsco;
let home1: Scenario;
let home2: Scenario;
// 1490 half-hours in October 2026 (the autumn clock change): 0.100 kWh each = 149.000, 0.250 each = 372.500.
const OCT = ['2026-10-01T00:00:00+01:00', '2026-11-01T00:00:00+00:00'] as const;

const unitKwh = (lines: { line_type: string; quantity: string }[]) =>
  lines
    .filter((l) => l.line_type === 'unit_charge')
    .reduce((sum, l) => sum + Number(l.quantity), 0)
    .toFixed(3);

beforeAll(async () => {
  esco = await createEsco(ctx.pool, 'SHARED');
  home1 = await createScenario(ctx.pool, esco);
  home2 = await createScenario(ctx.pool, esco, { serviceHead: home1.serviceHeadId });
  // Once the head is shared, the first home's meter names its home too.
  await ctx.pool.query(`update flows.service_head_meter set property = $1 where meter = $2`, [
    home1.propertyId,
    home1.meterId,
  ]);
  await fillIntervals(ctx.pool, home1.registers.SINGLE!, ...OCT, '0.100');
  await fillIntervals(ctx.pool, home2.registers.SINGLE!, ...OCT, '0.250');
  for (const [home, opening, closing] of [
    [home1, 1000, 1149],
    [home2, 5000, 5372.5],
  ] as const) {
    await ctx.pool.query(
      `insert into flows.register_import (register_id, "timestamp", read) values ($1, $2, $3), ($1, $4, $5)`,
      [home.registers.SINGLE!, OCT[0], opening, OCT[1], closing],
    );
  }
});

describe('two homes sharing a service head', () => {
  it('are both on the one service head', async () => {
    const heads = await many<{ property: string }>(
      ctx.pool,
      `select property from flows.properties_service_head where service_head = $1`,
      [home1.serviceHeadId],
    );
    expect(heads.map((h) => h.property).sort()).toEqual([home1.propertyId, home2.propertyId].sort());
  });

  it("each dry run charges the home's own meter only", async () => {
    expect(unitKwh((await compute(ctx.pool, home1.accountId, '2026-10-01')).lines)).toBe('149.000');
    expect(unitKwh((await compute(ctx.pool, home2.accountId, '2026-10-01')).lines)).toBe('372.500');
  });

  it("each issued invoice and its document show the home's own meter only", async () => {
    const runId = await prepareRun(ctx.pool, 'SHARED', '2026-10-01', 'test');
    expect(await runBilling(ctx.pool, runId)).toMatchObject({ status: 'drafted', errors: 0, invoices_drafted: 2 });
    await ctx.pool.query(`select public.billing_run_issue($1)`, [runId]);
    for (const [home, kwh, other] of [
      [home1, '149.000', home2],
      [home2, '372.500', home1],
    ] as const) {
      const invoice = await one<{ id: string }>(
        ctx.pool,
        `select id from public.invoices where account = $1 and status = 'issued'`,
        [home.accountId],
      );
      const lines = await many<{ line_type: string; quantity: string }>(
        ctx.pool,
        `select line_type, quantity::text from public.invoice_lines where invoice = $1`,
        [invoice.id],
      );
      expect(unitKwh(lines)).toBe(kwh);
      const doc = await one<{ serials: string[]; daily_kwh: string }>(
        ctx.pool,
        `select (select coalesce(jsonb_agg(distinct r ->> 'serial'), '[]') from jsonb_array_elements(d -> 'reads') r) as serials,
                (select sum((x ->> 'kwh')::numeric)::text from jsonb_array_elements(d -> 'daily') x) as daily_kwh
           from internal.invoice_document_data($1) d`,
        [invoice.id],
      );
      const serial = (s: Scenario) =>
        one<{ serial: string }>(ctx.pool, `select serial from flows.meter_registry where id = $1`, [s.meterId]);
      expect(doc.serials).toEqual([(await serial(home)).serial]);
      expect(doc.serials).not.toContain((await serial(other)).serial);
      expect(doc.daily_kwh).toBe(kwh);
    }
  });

  it("a prepay home's meter charge is its own meter's balance movement only", async () => {
    for (const [home, start, end] of [
      [home1, 50, 20],
      [home2, 80, 10],
    ] as const) {
      await ctx.pool.query(
        `insert into flows.meter_prepay_balance (meter_id, "timestamp", balance) values ($1, $2, $3), ($1, $4, $5)`,
        [home.meterId, OCT[0], start, OCT[1], end],
      );
    }
    const charged = (home: Scenario) =>
      one<{ charged: string }>(
        ctx.pool,
        `select internal.prepay_meter_charged($1, '2026-10-01', '2026-11-01')::text as charged`,
        [home.accountId],
      );
    expect(await charged(home1)).toEqual({ charged: '30.00' });
    expect(await charged(home2)).toEqual({ charged: '70.00' });
  });
});

describe('a shared service head whose meter names no home', () => {
  it('bills neither home for it until an operator names its property', async () => {
    const other = await createEsco(ctx.pool, 'SHARED2');
    const first = await createScenario(ctx.pool, other); // its meter names no property: it supplies both homes
    const second = await createScenario(ctx.pool, other, { serviceHead: first.serviceHeadId });
    for (const home of [first, second]) await fillIntervals(ctx.pool, home.registers.SINGLE!, ...OCT, '0.100');
    const { serial } = await one<{ serial: string }>(
      ctx.pool,
      `select serial from flows.meter_registry where id = $1`,
      [first.meterId],
    );
    const runId = await prepareRun(ctx.pool, 'SHARED2', '2026-10-01', 'test');
    expect(await runBilling(ctx.pool, runId)).toMatchObject({ status: 'drafted', errors: 2, invoices_drafted: 0 });
    const { errors } = await one<{ errors: { account: string; error: string }[] }>(
      ctx.pool,
      `select errors from public.billing_runs where id = $1`,
      [runId],
    );
    expect(errors.map((e) => e.account).sort()).toEqual([first.accountId, second.accountId].sort());
    for (const e of errors)
      expect(e.error).toMatch(new RegExp(`^meter ${serial} on a service head shared with another property`));

    await ctx.pool.query(`update flows.service_head_meter set property = $1 where meter = $2`, [
      first.propertyId,
      first.meterId,
    ]);
    const rerun = await prepareRun(ctx.pool, 'SHARED2', '2026-10-01', 'test');
    expect(await runBilling(ctx.pool, rerun)).toMatchObject({ status: 'drafted', errors: 0, invoices_drafted: 2 });
  });
});
