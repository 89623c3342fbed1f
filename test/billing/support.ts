// Billing test data: one ESCO per test file, and per scenario an account supplying a property with one
// meter (single element, or dual A and B), tariffs and half-hourly data written directly as the superuser.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { many, one } from '../../src/db/client.ts';

export interface BillingEsco {
  id: string;
  code: string;
  siteId: string;
  feederId: string;
  operatorSub: string;
  tariffId: string;
}

export interface Scenario {
  accountId: string;
  accountNumber: string;
  customerId: string;
  customerSub: string;
  propertyId: string;
  serviceHeadId: string;
  meterId: string;
  registers: Record<string, string>;
}

const suffix = () => randomBytes(3).toString('hex').toUpperCase();

/** An ESCO with a site, a feeder, an operator and a tariff from 2025-01-01 (A 0.20, B 0.10, SC 0.40, export 0.05). */
export async function createEsco(pool: pg.Pool, code: string): Promise<BillingEsco> {
  const esco = await one<{ id: string }>(pool, `insert into flows.escos (code, name) values ($1, $2) returning id`, [
    code,
    `${code} Community Energy`,
  ]);
  const site = await one<{ id: string }>(
    pool,
    `insert into flows.sites_new (esco, name, code) values ($1, 'Site', $2) returning id`,
    [esco.id, `${code}-S`],
  );
  const feeder = await one<{ id: string }>(
    pool,
    `insert into flows.feeder_registry (esco, name) values ($1, $2) returning id`,
    [esco.id, `${code}-F`],
  );
  const operatorSub = `op-${code}`;
  const op = await one<{ id: string }>(
    pool,
    `insert into public.operators (auth_subject, name) values ($1, 'Operator') returning id`,
    [operatorSub],
  );
  await pool.query(`insert into public.operator_escos (operator, esco) values ($1, $2)`, [op.id, esco.id]);
  const tariff = await one<{ id: string }>(
    pool,
    `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
                                           export_rate_gbp_kwh, standing_charge_gbp_day)
     values ($1, '2025-01-01', 0.20000, 0.10000, 0.05000, 0.40000) returning id`,
    [esco.id],
  );
  await pool.query(`select internal.ensure_interval_partitions('2025-01-01', '2027-03-01')`);
  return { id: esco.id, code, siteId: site.id, feederId: feeder.id, operatorSub, tariffId: tariff.id };
}

export interface ScenarioOptions {
  elements?: ('A' | 'B' | 'SINGLE')[];
  billingMode?: 'credit' | 'prepay';
  vatRatePct?: string;
  start?: string;
  end?: string | null;
  /** Reuse a property (move-in after someone else's move-out). */
  property?: { propertyId: string; serviceHeadId: string; meterId: string; registers: Record<string, string> };
  /**
   * Put the new property on this existing service head (neighbours sharing a cut-out) instead of a head of its
   * own; its meter names the property it supplies (flows.service_head_meter.property).
   */
  serviceHead?: string;
}

/** An account supplying a property with one meter, from `start` (default 2025-01-01) to `end` (exclusive). */
export async function createScenario(
  pool: pg.Pool,
  esco: BillingEsco,
  options: ScenarioOptions = {},
): Promise<Scenario> {
  const s = suffix();
  const elements = options.elements ?? ['SINGLE'];
  let place = options.property;
  if (!place) {
    const property = await one<{ id: string }>(
      pool,
      `insert into flows.properties (esco, site, plot, address) values ($1, $2, $3, $4) returning id`,
      [esco.id, esco.siteId, `P-${s}`, `${s} Lily Lane`],
    );
    const sh = options.serviceHead
      ? { id: options.serviceHead }
      : await one<{ id: string }>(
          pool,
          `insert into flows.service_head_registry (esco, feeder, name, phase, type)
           values ($1, $2, $3, 1, 'network_owned') returning id`,
          [esco.id, esco.feederId, `SH-${s}`],
        );
    await pool.query(`insert into flows.properties_service_head (property, service_head, esco) values ($1, $2, $3)`, [
      property.id,
      sh.id,
      esco.id,
    ]);
    const meter = await one<{ id: string }>(
      pool,
      `insert into flows.meter_registry (esco, serial) values ($1, $2) returning id`,
      [esco.id, `M-${s}`],
    );
    await pool.query(
      options.serviceHead
        ? `insert into flows.service_head_meter (service_head, meter, esco, property) values ($1, $2, $3, $4)`
        : `insert into flows.service_head_meter (service_head, meter, esco) values ($1, $2, $3)`,
      options.serviceHead ? [sh.id, meter.id, esco.id, property.id] : [sh.id, meter.id, esco.id],
    );
    const registers: Record<string, string> = {};
    for (const element of elements) {
      const r = await one<{ register_id: string }>(
        pool,
        `insert into flows.meter_registers (meter_id, esco, element, start_time)
         values ($1, $2, $3, '2024-01-01T00:00:00Z') returning register_id`,
        [meter.id, esco.id, element],
      );
      registers[element] = r.register_id;
    }
    place = { propertyId: property.id, serviceHeadId: sh.id, meterId: meter.id, registers };
  }
  const customerSub = `cust-${s}`;
  const customer = await one<{ id: string }>(
    pool,
    `insert into public.customers (esco, auth_subject, name) values ($1, $2, $3) returning id`,
    [esco.id, customerSub, `Customer ${s}`],
  );
  const accountNumber = `ACC-${s}`;
  const account = await one<{ id: string }>(
    pool,
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference, vat_rate_pct, opened_on)
     values ($1, $2, $3, $4, $5, '2024-01-01') returning id`,
    [esco.id, accountNumber, options.billingMode ?? 'credit', `PAY-${s}`, options.vatRatePct ?? '5.00'],
  );
  await pool.query(`insert into public.customer_accounts (customer, account, esco) values ($1, $2, $3)`, [
    customer.id,
    account.id,
    esco.id,
  ]);
  await pool.query(
    `insert into public.account_supplies (account, property, esco, start_date, end_date) values ($1, $2, $3, $4, $5)`,
    [account.id, place.propertyId, esco.id, options.start ?? '2025-01-01', options.end ?? null],
  );
  return {
    propertyId: place.propertyId,
    serviceHeadId: place.serviceHeadId,
    meterId: place.meterId,
    registers: place.registers,
    accountId: account.id,
    accountNumber,
    customerId: customer.id,
    customerSub,
  };
}

/**
 * Half-hourly rows for a register over [from, to) (instants), `kwh` each (3 dp), optionally with export,
 * skipping half-hours for which `skip` is true.
 */
export async function fillIntervals(
  pool: pg.Pool,
  registerId: string,
  from: string,
  to: string,
  kwh: string,
  options: { exportKwh?: string; skip?: [string, string] } = {},
): Promise<number> {
  const result = await pool.query(
    `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, export_kwh, source)
     select $1, g, $4::numeric, $5::numeric, 'test'
       from generate_series($2::timestamptz, $3::timestamptz - interval '30 minutes', interval '30 minutes') g
      where $6::timestamptz is null or not (g >= $6::timestamptz and g < $7::timestamptz)`,
    [registerId, from, to, kwh, options.exportKwh ?? null, options.skip?.[0] ?? null, options.skip?.[1] ?? null],
  );
  return result.rowCount ?? 0;
}

export interface Line {
  position: number;
  line_type: string;
  element: string | null;
  quantity: string;
  unit_price: string;
  amount: string;
  from_date: string;
  to_date: string;
  estimated: boolean;
}

export interface Preview {
  supply_subtotal: string;
  vat: string;
  export_credit: string;
  community_credit: string;
  total: string;
  estimated: boolean;
  lines: Line[];
}

/** The dry run, as the superuser (access checks are tested separately), with the bill date `asOf`. */
export async function compute(pool: pg.Pool, accountId: string, month: string, asOf = '2026-11-28'): Promise<Preview> {
  const lines = await many<Line & { inputs: unknown }>(
    pool,
    `select l.position, l.line_type, l.element, l.quantity::text as quantity, l.unit_price::text as unit_price,
            l.amount::text as amount, l.from_date::text as from_date, l.to_date::text as to_date, l.estimated, l.inputs
       from internal.billing_compute(array[$1::uuid], $2::date, ($2::date + interval '1 month')::date, $3::date) l
      order by l.position`,
    [accountId, month, asOf],
  );
  const totals = await one<Omit<Preview, 'lines'>>(
    pool,
    `select t.supply_subtotal::text, t.vat::text, t.export_credit::text, t.community_credit::text, t.total::text, t.estimated
       from public.accounts a, internal.billing_totals($2::jsonb, a.vat_rate_pct) t where a.id = $1`,
    [accountId, JSON.stringify(lines)],
  );
  return { ...totals, lines };
}

/** The lines reduced to what the golden tests compare. */
export const brief = (lines: Line[]) =>
  lines.map((l) => ({
    type: l.line_type,
    element: l.element,
    quantity: String(l.quantity),
    price: String(l.unit_price),
    amount: String(l.amount),
    from: l.from_date,
    to: l.to_date,
    estimated: l.estimated,
  }));
