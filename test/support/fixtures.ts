// Two ESCOs, A and B, with everything a tenant holds: a site, properties, a feeder, service heads,
// single- and dual-element meters with registers, circuits, shadows, history and interval data,
// customers with accounts, supplies (including a move-out and move-in) and tariffs, an operator with
// membership and a service-token scope. Built as the superuser in one transaction.
//
// Every value that identifies a row of one tenant (ids, serials, codes, names, emails…) is unique
// across the fixtures and recorded as a *marker* with its owner: the ESCO, and for customer data the
// customers it belongs to. `forbiddenMarkers(actor)` and `findForbidden(value, actor)` then tell
// whether a row or an RPC result reveals something the actor must not see, whatever its shape.
//
// Interval values carry their owner in their magnitude: ESCO A's rows that belong to customer 1
// (the usual actor) are 0.001 kWh, A's other rows 1 kWh, every row of ESCO B 1000 kWh. A total that a
// customer of A sees is therefore < 1 unless it includes someone else's data.
import type pg from 'pg';
import { withTransaction } from '../../src/db/client.ts';
import type { Claims } from './database.ts';

export type EscoKey = 'A' | 'B';
/** Customer keys: `A1` (the usual actor), `A2` (moves into A1's former property), `B1`, `B2`. */
export type CustomerKey = `${EscoKey}${1 | 2}`;

export interface MeterFixture {
  id: string;
  serial: string;
  /** Register ids by element (`A`, `B` or `SINGLE`). */
  registers: Record<string, string>;
}

export interface CustomerFixture {
  key: CustomerKey;
  id: string;
  sub: string;
  name: string;
  email: string;
  accountId: string;
  accountNumber: string;
  paymentReference: string;
  supplyIds: string[];
  customerTariffId: string;
  claims: Claims;
}

/** A customer may see a meter's time series only within `[from, to)` (their supply of its property). */
export interface SupplyWindow {
  customer: CustomerKey;
  meterId: string;
  registerIds: string[];
  from: Date;
  to: Date | null;
}

export interface EscoFixture {
  key: EscoKey;
  id: string;
  code: string;
  name: string;
  region: string;
  siteId: string;
  properties: { p1: string; p2: string; p3: string };
  feederId: string;
  feederName: string;
  serviceHeads: { sh1: string; sh2: string; sh3: string };
  /** m1: dual-element, prepay, at P1 (A1's); m2: single, at P2 (A1 then A2); m3: single with solar export, P3 (nobody's). */
  meters: { m1: MeterFixture; m2: MeterFixture; m3: MeterFixture };
  circuits: { power: string; solar: string };
  microgridTariffId: string;
  /** The ESCO's next tariff (effective `Fixtures.futureTariffDate`), for the tariff job's work queue. */
  futureTariffId: string;
  operator: { id: string; sub: string; claims: Claims };
  service: { claims: Claims };
  customers: { c1: CustomerFixture; c2: CustomerFixture };
  windows: SupplyWindow[];
  /** Payments (issue 7): the ESCO's bank account, a statement, its unmatched credit (in the review queue), c1's payment, c2's card payment. */
  bank: {
    accountId: string;
    statementId: string;
    unmatchedLineId: string;
    paymentId: string;
    cardPaymentId: string;
    /** A requested refund of customer 1's payment. */
    refundId: string;
  };
  /** Billing (issue 6): an issued run for September 2026 with c1's issued invoice. */
  billing: { runId: string; invoiceId: string };
}

export interface Marker {
  esco: EscoKey;
  /** Customers this object belongs to; null for tenant-wide objects (site, feeder, operator…). */
  customers: ReadonlySet<CustomerKey> | null;
}

export interface Fixtures {
  a: EscoFixture;
  b: EscoFixture;
  benchmarkTariffId: string;
  markers: ReadonlyMap<string, Marker>;
  /** Half-hour starts (UTC) of the interval data and history rows. */
  times: readonly Date[];
  /** The day P2 changes hands (A1 moves out, A2 moves in), Europe/London. */
  moveDate: string;
  /** The 15th of next month: when the ESCOs' next tariffs take effect (relative to today). */
  futureTariffDate: string;
  /** The first quarter start after futureTariffDate, with a benchmark tariff but no ESCO tariff yet. */
  nextQuarter: string;
}

export type Actor =
  | { kind: 'anon' }
  | { kind: 'operator'; esco: EscoKey }
  | { kind: 'service'; esco: EscoKey }
  | { kind: 'customer'; customer: CustomerKey };

export interface FixtureOptions {
  /** ESCO codes of A and B (upper case, 2–10 characters); change them when other data shares the database. */
  codes?: [string, string];
  /** Second octet of the meters' IP addresses (10.x.0.n) of A and B; change them with the codes. */
  octets?: [number, number];
  region?: string;
}

// Before any supply (nobody's), the last half-hour of A1's supply of P2, the first of A2's, a later one.
const times = ['2026-05-31T12:00:00Z', '2026-09-30T22:30:00Z', '2026-09-30T23:00:00Z', '2026-10-01T10:00:00Z'].map(
  (t) => new Date(t),
);
const supplyStart = '2026-06-01';
const moveDate = '2026-10-01';
/** Midnight of a Europe/London day, as an instant (the test dates are all in BST). */
const londonMidnight = (day: string) => new Date(`${day}T00:00:00+01:00`);
const today = new Date();
const futureTariffDate = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() + 1, 15))
  .toISOString()
  .slice(0, 10);
const nextQuarter = new Date(Date.UTC(today.getUTCFullYear(), Math.floor((today.getUTCMonth() + 1) / 3) * 3 + 3, 1))
  .toISOString()
  .slice(0, 10);

type Query = Pick<pg.ClientBase, 'query'>;

async function insert(db: Query, table: string, row: Record<string, unknown>): Promise<string> {
  const columns = Object.keys(row).join(', ');
  const { rows } = await db.query<{ row: Record<string, unknown> }>(
    `insert into ${table} as t (${columns})
     select ${columns} from jsonb_populate_record(null::${table}, $1::jsonb)
     returning to_jsonb(t) as row`,
    [JSON.stringify(row)],
  );
  const inserted = rows[0]!.row;
  return String(inserted.id ?? inserted.register_id);
}

/** Builds ESCOs A and B (and one shared benchmark tariff), committed. */
export async function buildFixtures(pool: pg.Pool, options: FixtureOptions = {}): Promise<Fixtures> {
  const [codeA, codeB] = options.codes ?? ['ISOA', 'ISOB'];
  const [octetA, octetB] = options.octets ?? [1, 2];
  const region = options.region ?? 'L';
  return withTransaction(pool, async (db) => {
    const benchmark = await db.query<{ id: string }>(
      `insert into public.benchmark_tariffs (region, quarter_start, unit_rate_inc_vat_gbp_kwh, standing_charge_inc_vat_gbp_day)
       values ($1, '2026-10-01', 0.24500, 0.53000)
       on conflict (region, quarter_start) do update set region = excluded.region
       returning id`,
      [region],
    );
    const benchmarkTariffId = benchmark.rows[0]!.id;
    await db.query(
      `insert into public.benchmark_tariffs (region, quarter_start, unit_rate_inc_vat_gbp_kwh, standing_charge_inc_vat_gbp_day)
       values ($1, $2, 0.25500, 0.54000) on conflict (region, quarter_start) do nothing`,
      [region, nextQuarter],
    );
    const markers = new Map<string, Marker>();
    const a = await buildEsco(db, 'A', codeA, region, octetA, benchmarkTariffId, markers);
    const b = await buildEsco(db, 'B', codeB, region, octetB, benchmarkTariffId, markers);
    return { a, b, benchmarkTariffId, markers, times, moveDate, futureTariffDate, nextQuarter };
  });
}

async function buildEsco(
  db: Query,
  key: EscoKey,
  code: string,
  region: string,
  octet: number,
  benchmarkTariffId: string,
  markers: Map<string, Marker>,
): Promise<EscoFixture> {
  const [k1, k2] = [`${key}1`, `${key}2`] as [CustomerKey, CustomerKey];
  const tenant = (...values: string[]) => {
    for (const v of values) markers.set(v, { esco: key, customers: null });
  };
  const owned = (owners: CustomerKey[], ...values: string[]) => {
    for (const v of values) markers.set(v, { esco: key, customers: new Set(owners) });
  };
  const lower = code.toLowerCase();

  const name = `${code} Energy`;
  const id = await insert(db, 'flows.escos', { code, name, region });
  tenant(id, code, name);

  const siteName = `${code} Meadows`;
  const siteCode = `${code}-SITE`;
  const siteId = await insert(db, 'flows.sites_new', { esco: id, name: siteName, code: siteCode, capacity_kw: 250 });
  tenant(siteId, siteName, siteCode);

  const property = async (n: number, owners: CustomerKey[]) => {
    const address = `${n} ${code} Lane`;
    const pid = await insert(db, 'flows.properties', { esco: id, site: siteId, plot: `${code}-${n}`, address });
    owned(owners, pid, address, `${code}-${n}`);
    return pid;
  };
  const properties = { p1: await property(1, [k1]), p2: await property(2, [k1, k2]), p3: await property(3, []) };

  const feederName = `${code} feeder 1`;
  const feederId = await insert(db, 'flows.feeder_registry', { esco: id, name: feederName, rating_amps: 400 });
  tenant(feederId, feederName);

  const serviceHead = async (n: number) => {
    const shName = `${code} SH${n}`;
    const sh = await insert(db, 'flows.service_head_registry', {
      esco: id,
      feeder: feederId,
      name: shName,
      phase: n,
      fuse_rating: 100,
      type: n === 3 ? 'network_owned' : 'customer_owned',
    });
    tenant(sh, shName);
    return sh;
  };
  const serviceHeads = { sh1: await serviceHead(1), sh2: await serviceHead(2), sh3: await serviceHead(3) };

  const meter = async (n: number, elements: string[], owners: CustomerKey[], prepay: boolean) => {
    const serial = `${code}-M${n}`;
    const meterName = `${code} meter ${n}`;
    const mid = await insert(db, 'flows.meter_registry', {
      esco: id,
      serial,
      name: meterName,
      ip_address: `10.${octet}.0.${n}`,
      hardware: 'EMP1AX',
      firmware_version: '3.1.4',
      prepay_enabled: prepay,
    });
    owned(owners, mid, serial, meterName, `10.${octet}.0.${n}`, `10.${octet}.0.${n}/32`);
    const registers: Record<string, string> = {};
    for (const element of elements) {
      const rid = await insert(db, 'flows.meter_registers', {
        meter_id: mid,
        esco: id,
        element,
        nature: n === 3 ? 'solar' : 'power',
        start_time: '2026-01-01T00:00:00Z',
      });
      owned(owners, rid);
      registers[element] = rid;
    }
    return { id: mid, serial, registers };
  };
  const meters = {
    m1: await meter(1, ['A', 'B'], [k1], true),
    m2: await meter(2, ['SINGLE'], [k1, k2], false),
    m3: await meter(3, ['SINGLE'], [], false),
  };
  const links: [string, string, string][] = [
    [properties.p1, serviceHeads.sh1, meters.m1.id],
    [properties.p2, serviceHeads.sh2, meters.m2.id],
    [properties.p3, serviceHeads.sh3, meters.m3.id],
  ];
  for (const [p, sh, m] of links) {
    await insert(db, 'flows.properties_service_head', { property: p, service_head: sh, esco: id });
    await insert(db, 'flows.service_head_meter', { service_head: sh, meter: m, esco: id });
  }

  const circuitNames = { power: `${code} block power`, solar: `${code} roof solar` };
  const circuits = {
    power: await insert(db, 'flows.circuits', { esco: id, site: siteId, type: 'power', name: circuitNames.power }),
    solar: await insert(db, 'flows.circuits', { esco: id, site: siteId, type: 'solar', name: circuitNames.solar }),
  };
  tenant(circuits.power, circuits.solar, circuitNames.power, circuitNames.solar);
  for (const [circuit, register] of [
    [circuits.power, meters.m1.registers.A!],
    [circuits.solar, meters.m3.registers.SINGLE!],
  ] as const) {
    await db.query(
      `insert into flows.circuit_register (circuit, register, esco, start_time) values ($1, $2, $3, '2026-01-01T00:00:00Z')`,
      [circuit, register, id],
    );
  }

  // Tariffs: the ESCO's, and each customer's own.
  const microgridTariffId = await insert(db, 'public.microgrid_tariffs', {
    esco: id,
    benchmark_tariff: benchmarkTariffId,
    effective_from: '2026-10-01',
    discount_pct: key === 'A' ? 11 : 12,
    unit_rate_a_gbp_kwh: 0.21,
    unit_rate_b_gbp_kwh: 0.14,
    export_rate_gbp_kwh: 0.05,
    standing_charge_gbp_day: 0.45,
    emergency_credit_gbp: 10,
    ecredit_availability_gbp: 5,
    debt_recovery_gbp_day: 0.5,
  });
  const futureTariffId = await insert(db, 'public.microgrid_tariffs', {
    esco: id,
    benchmark_tariff: benchmarkTariffId,
    effective_from: futureTariffDate,
    discount_pct: key === 'A' ? 11 : 12,
    unit_rate_a_gbp_kwh: 0.22,
    unit_rate_b_gbp_kwh: 0.15,
    export_rate_gbp_kwh: 0.05,
    standing_charge_gbp_day: 0.46,
    emergency_credit_gbp: 10,
    ecredit_availability_gbp: 5,
    debt_recovery_gbp_day: 0.5,
  });
  tenant(microgridTariffId, futureTariffId);

  // People: an operator with membership, two customers.
  const operatorSub = `op-${lower}`;
  const operatorName = `${code} Operator`;
  const operatorEmail = `ops@${lower}.example`;
  const operatorId = await insert(db, 'public.operators', {
    auth_subject: operatorSub,
    name: operatorName,
    email: operatorEmail,
  });
  await db.query(`insert into public.operator_escos (operator, esco) values ($1, $2)`, [operatorId, id]);
  tenant(operatorId, operatorSub, operatorName, operatorEmail);

  const customer = async (n: 1 | 2, opened: string): Promise<CustomerFixture> => {
    const ck = `${key}${n}` as CustomerKey;
    const sub = `cust-${lower}-${n}`;
    const cname = `${code} Customer ${n}`;
    const email = `c${n}@${lower}.example`;
    const phone = `+4477009${octet}000${n}`;
    const cid = await insert(db, 'public.customers', {
      esco: id,
      auth_subject: sub,
      name: cname,
      email,
      phone,
      contact_preferences: { email: true, sms: n === 1 },
    });
    const accountNumber = `${code}-ACC-${n}`;
    const paymentReference = `${code}-PAY-${n}`;
    const accountId = await insert(db, 'public.accounts', {
      esco: id,
      account_number: accountNumber,
      billing_mode: n === 1 ? 'prepay' : 'credit',
      payment_reference: paymentReference,
      opened_on: opened,
    });
    await db.query(
      `insert into public.customer_accounts (customer, account, esco, role) values ($1, $2, $3, 'holder')`,
      [cid, accountId, id],
    );
    const customerTariffId = await insert(db, 'public.customer_tariffs', {
      customer: cid,
      esco: id,
      microgrid_tariff: microgridTariffId,
      effective_from: '2026-10-01',
      discount_pct: 15 + n,
      unit_rate_a_gbp_kwh: 0.2 - n / 100,
      unit_rate_b_gbp_kwh: 0.13,
      standing_charge_gbp_day: 0.44,
    });
    owned([ck], cid, sub, cname, email, phone, accountId, accountNumber, paymentReference, customerTariffId);
    return {
      key: ck,
      id: cid,
      sub,
      name: cname,
      email,
      accountId,
      accountNumber,
      paymentReference,
      supplyIds: [],
      customerTariffId,
      claims: { sub },
    };
  };
  const c1 = await customer(1, supplyStart);
  const c2 = await customer(2, moveDate);
  const supply = async (c: CustomerFixture, propertyId: string, start: string, end: string | null) => {
    const sid = await insert(db, 'public.account_supplies', {
      account: c.accountId,
      property: propertyId,
      esco: id,
      start_date: start,
      end_date: end,
    });
    c.supplyIds.push(sid);
    owned([c.key], sid);
  };
  await supply(c1, properties.p1, supplyStart, null);
  await supply(c1, properties.p2, supplyStart, moveDate);
  await supply(c2, properties.p2, moveDate, null);
  const windows: SupplyWindow[] = [
    window(k1, meters.m1, supplyStart, null),
    window(k1, meters.m2, supplyStart, moveDate),
    window(k2, meters.m2, moveDate, null),
  ];

  // Top-ups (public.topups, issue 5): one on each customer's account, to the meter they are supplied by now.
  for (const [c, m] of [
    [c1, meters.m1],
    [c2, meters.m2],
  ] as const) {
    const topup = await insert(db, 'public.topups', { esco: id, account: c.accountId, meter: m.id, amount: 10 });
    owned([c.key], topup);
  }

  // Payments (issue 7): a bank account with one statement — a credit matched to c1's account (c1's payment), an
  // unmatched credit waiting in the review queue and a bank fee — and a refund of part of c1's payment.
  const bankName = `${code} client account`;
  const bankAccountId = await insert(db, 'public.esco_bank_accounts', {
    esco: id,
    name: bankName,
    sort_code: `${octet}`.padStart(6, '0'),
    account_number: `${octet}`.padStart(8, '7'),
  });
  const fileHash = `${key === 'A' ? 'a' : 'b'}${octet}`.padEnd(64, '0');
  const statementId = await insert(db, 'public.bank_statements', {
    esco: id,
    bank_account: bankAccountId,
    format: 'csv',
    format_version: 'signed-amount',
    file_sha256: fileHash,
    currency: 'GBP',
    opening_balance: 0,
    closing_balance: 42.5,
  });
  tenant(bankAccountId, bankName, statementId, fileHash);
  const paymentSource = `bank:${code}-fixture`;
  const paymentId = await insert(db, 'public.payments', {
    esco: id,
    account: c1.accountId,
    amount: 40,
    method: 'bank_transfer',
    reference: c1.paymentReference,
    source: paymentSource,
    match_rule: 'reference',
  });
  owned([k1], paymentId, paymentSource);
  const cardSource = `stripe:${code}-fixture`;
  const cardPaymentId = await insert(db, 'public.payments', {
    esco: id,
    account: c2.accountId,
    amount: 12,
    method: 'card',
    source: cardSource,
  });
  owned([k2], cardPaymentId, cardSource);
  const cardRefundId = await insert(db, 'public.refunds', {
    esco: id,
    account: c2.accountId,
    payment: cardPaymentId,
    amount: 12,
    reason: 'card refund',
  });
  owned([k2], cardRefundId);
  const line = (position: number, amount: number, extra: Record<string, unknown>) =>
    insert(db, 'public.bank_transactions', {
      esco: id,
      statement: statementId,
      bank_account: bankAccountId,
      identity: `fp:${code}-${position}`,
      position,
      booking_date: '2026-10-02',
      amount,
      currency: 'GBP',
      ...extra,
    });
  const matchedLineId = await line(1, 40, {
    status: 'matched',
    payment: paymentId,
    matched_account: c1.accountId,
    match_rule: 'reference',
    remittance_information: c1.paymentReference,
  });
  const unmatchedLineId = await line(2, 5, { remittance_information: `${code} mystery payer` });
  const feeLineId = await line(3, -2.5, { status: 'debit', remittance_information: 'BANK CHARGES' });
  tenant(matchedLineId, unmatchedLineId, feeLineId, `${code} mystery payer`);
  const refundId = await insert(db, 'public.refunds', {
    esco: id,
    account: c1.accountId,
    payment: paymentId,
    amount: 1.5,
    reason: `${code} overpayment`,
  });
  owned([k1], refundId);

  // Shadows (one per meter, created by trigger where it exists), history and interval data.
  for (const [n, m] of [meters.m1, meters.m2, meters.m3].entries()) {
    await db.query(`insert into flows.meter_shadows (id, esco) values ($1, $2) on conflict (id) do nothing`, [
      m.id,
      id,
    ]);
    await db.query(
      `update flows.meter_shadows
          set balance = $2, emergency_credit = 0, balance_updated_at = now(),
              import_a = $3, export_a = $4, import_b = $5, export_b = $6,
              tariffs_active = $7, tariffs_future = $8, csq = $9, voltage = 239.5,
              clock_time_diff_seconds = $10, health = 'healthy', last_healthy_at = now()
        where id = $1`,
      [
        m.id,
        n === 0 ? 1.25 : 42.5,
        1000 * octet + n,
        n === 2 ? 77 : 0,
        n === 0 ? 500 * octet : null,
        n === 0 ? 0 : null,
        JSON.stringify(shadowTariffs(0.2)),
        JSON.stringify({ ...shadowTariffs(n === 1 ? 0.99 : 0.2), activation_datetime: '2026-10-01T00:00:00Z' }),
        10 + n,
        n === 0 ? 900 : 3,
      ],
    );
  }
  const ownerAt = (meterId: string, at: Date): CustomerKey | null =>
    windows.find((w) => w.meterId === meterId && w.from <= at && (w.to === null || at < w.to))?.customer ?? null;
  const weight = (meterId: string, at: Date) => (key === 'B' ? 1000 : ownerAt(meterId, at) === k1 ? 0.001 : 1);
  // Event type 1 is in the dictionary migrations seed; added here for databases without it.
  await db.query(
    `insert into flows.meter_event_log_type (event_type, name, description) values (1, 'power_fail', 'Power failure')
     on conflict do nothing`,
  );
  for (const m of [meters.m1, meters.m2, meters.m3]) {
    for (const [i, at] of times.entries()) {
      const w = weight(m.id, at);
      for (const rid of Object.values(m.registers)) {
        await insertInterval(db, rid, at, w, m === meters.m3 ? w / 2 : null);
        for (const table of ['flows.register_import', 'flows.register_export']) {
          await db.query(
            `insert into ${table} (register_id, "timestamp", read) values ($1, $2, $3) on conflict do nothing`,
            [rid, at, w * (i + 1)],
          );
        }
      }
      await db.query(
        `insert into flows.meter_prepay_balance (meter_id, "timestamp", balance, emergency_credit)
         values ($1, $2, $3, 0) on conflict do nothing`,
        [m.id, at, w * 10],
      );
      await db.query(
        `insert into flows.meter_csq (meter_id, "timestamp", csq) values ($1, $2, $3) on conflict do nothing`,
        [m.id, at, 10 + i],
      );
      await db.query(
        `insert into flows.meter_voltage (meter_id, "timestamp", voltage) values ($1, $2, $3) on conflict do nothing`,
        [m.id, at, 230 + i],
      );
      await db.query(
        `insert into flows.meter_health_history (meter_id, "timestamp", health, reason)
         values ($1, $2, $3, $4) on conflict do nothing`,
        [m.id, at, i % 2 === 0 ? 'healthy' : 'unhealthy', i % 2 === 0 ? null : 'clock drift'],
      );
      await db.query(
        `insert into flows.meter_event_log (meter_id, "timestamp", event_type, event_set) values ($1, $2, 1, 0)
         on conflict do nothing`,
        [m.id, at],
      );
    }
    const run = await db.query<{ id: string }>(
      `insert into flows.meter_sync_runs (meter_id, esco, started_at, finished_at, outcome, metrics)
       values ($1, $2, now() - interval '1 hour', now() - interval '59 minutes', 'ok', '{csq,prepay_balance}')
       returning id`,
      [m.id, id],
    );
    tenant(run.rows[0]!.id);
  }
  // Notifications (issue 8): c1's preferences, an operator alert subscription, a message to c1 and an alert.
  await db.query(
    `update public.notification_preferences set sms_kinds = '{off_supply}', quiet_hours_start = '22:00',
            quiet_hours_end = '07:00' where customer = $1`,
    [c1.id],
  );
  const alertAddress = `alerts@${lower}.example`;
  const subscriptionId = await insert(db, 'public.operator_alert_subscriptions', {
    esco: id,
    operator: operatorId,
    channel: 'email',
    address: alertAddress,
  });
  tenant(subscriptionId, alertAddress);
  const notices = { c1: `fixture:${code}:c1`, c2: `fixture:${code}:c2`, ops: `fixture:${code}:ops` };
  await db.query(
    `select internal.notify_enqueue($1, $2, null, 'email', $3, 'topup_completed', '{}', $4),
            internal.notify_enqueue($1, $5, null, 'email', $6, 'topup_completed', '{}', $7),
            internal.notify_enqueue($1, null, $8, 'email', $9, 'meter_offline', '{}', $10)`,
    [id, c1.id, c1.email, notices.c1, c2.id, c2.email, notices.c2, subscriptionId, alertAddress, notices.ops],
  );
  owned([k1], notices.c1);
  owned([k2], notices.c2);
  tenant(notices.ops);

  // Billing (issue 6): settings, a community solar allocation, an issued run with c1's invoice, its line
  // and ledger entry.
  const legalName = `${code} Energy Ltd`;
  await insert(db, 'public.billing_settings', { esco: id, legal_name: legalName, address: `${code} House` });
  tenant(legalName, `${code} House`);
  const arrayName = `${code} Roof Array`;
  const allocationId = await insert(db, 'public.community_solar_allocations', {
    esco: id,
    array_name: arrayName,
    capacity_kwp: 10,
    property: properties.p3,
    allocation_ratio: 0.5,
  });
  tenant(allocationId, arrayName);
  const billingRunId = await insert(db, 'public.billing_runs', {
    esco: id,
    period_start: '2026-09-01',
    status: 'issued',
    accounts_total: 1,
    accounts_done: 1,
    invoices_issued: 1,
  });
  tenant(billingRunId);
  const invoiceNumber = `${code}-INV-000001`;
  const invoiceId = await insert(db, 'public.invoices', {
    esco: id,
    account: c1.accountId,
    run: billingRunId,
    kind: 'invoice',
    status: 'issued',
    number: invoiceNumber,
    period_start: '2026-09-01',
    period_end: '2026-10-01',
    vat_rate_pct: 5,
    supply_subtotal: 10,
    vat: 0.5,
    total: 10.5,
    issued_at: '2026-10-02T09:00:00Z',
    due_date: '2026-10-16',
  });
  const lineDescription = `${code} standing charge, 25 days`;
  const invoiceLineId = await insert(db, 'public.invoice_lines', {
    invoice: invoiceId,
    esco: id,
    position: 1,
    line_type: 'standing_charge',
    description: lineDescription,
    quantity: 25,
    unit: 'day',
    unit_price: 0.4,
    amount: 10,
    from_date: '2026-09-01',
    to_date: '2026-09-26',
  });
  const ledgerDescription = `${invoiceNumber} ledger entry`;
  const ledgerId = await insert(db, 'public.ledger_entries', {
    esco: id,
    account: c1.accountId,
    kind: 'invoice',
    amount: 10.5,
    invoice: invoiceId,
    description: ledgerDescription,
  });
  owned([k1], invoiceId, invoiceNumber, invoiceLineId, lineDescription, ledgerId, ledgerDescription);
  // c2's invoice (October, after moving in), with its line and ledger entry.
  const number2 = `${code}-INV-000002`;
  const invoice2Id = await insert(db, 'public.invoices', {
    esco: id,
    account: c2.accountId,
    run: null,
    kind: 'invoice',
    status: 'issued',
    number: number2,
    period_start: '2026-10-01',
    period_end: '2026-11-01',
    vat_rate_pct: 5,
    supply_subtotal: 20,
    vat: 1,
    total: 21,
    issued_at: '2026-11-02T09:00:00Z',
    due_date: '2026-11-16',
  });
  const line2Description = `${code} October standing charge`;
  const line2Id = await insert(db, 'public.invoice_lines', {
    invoice: invoice2Id,
    esco: id,
    position: 1,
    line_type: 'standing_charge',
    description: line2Description,
    quantity: 31,
    unit: 'day',
    unit_price: 0.64516,
    amount: 20,
    from_date: '2026-10-01',
    to_date: '2026-11-01',
  });
  const ledger2Description = `${number2} ledger entry`;
  const ledger2Id = await insert(db, 'public.ledger_entries', {
    esco: id,
    account: c2.accountId,
    kind: 'invoice',
    amount: 21,
    invoice: invoice2Id,
    description: ledger2Description,
  });
  owned([k2], invoice2Id, number2, line2Id, line2Description, ledger2Id, ledger2Description);

  // Meter 1 is low on credit, offline and drifting, so that every monitoring view lists a meter of each
  // ESCO. Its timestamps are set last with triggers off, in case a trigger stamps updated_at.
  await db.query(`set local session_replication_role = replica`);
  await db.query(
    `update flows.meter_shadows set updated_at = now() - interval '10 hours', last_healthy_at = now() - interval '10 hours'
      where id = $1`,
    [meters.m1.id],
  );
  await db.query(`set local session_replication_role = origin`);

  // Payments (issue 7): c1's bank payment and c2's card payment each pay part of their invoice (billing above).
  const allocation1 = await insert(db, 'public.payment_allocations', {
    esco: id,
    payment: paymentId,
    invoice: invoiceId,
    amount: 10,
  });
  const allocation2 = await insert(db, 'public.payment_allocations', {
    esco: id,
    payment: cardPaymentId,
    invoice: invoice2Id,
    amount: 10,
  });
  owned([k1], allocation1);
  owned([k2], allocation2);
  // Collections (issue 7): a payment reminder for each customer's invoice (each queues its payment_overdue).
  const reminder1 = await insert(db, 'public.payment_reminders', {
    esco: id,
    invoice: invoiceId,
    account: c1.accountId,
    step: 28,
    due_date: '2026-10-16',
    days_overdue: 30,
    outstanding_gbp: 0.5,
  });
  const reminder2 = await insert(db, 'public.payment_reminders', {
    esco: id,
    invoice: invoice2Id,
    account: c2.accountId,
    step: 7,
    due_date: '2026-11-16',
    days_overdue: 7,
    outstanding_gbp: 11,
  });
  owned([k1], reminder1);
  owned([k2], reminder2);

  return {
    key,
    id,
    code,
    name,
    region,
    siteId,
    properties,
    feederId,
    feederName,
    serviceHeads,
    meters,
    circuits,
    microgridTariffId,
    futureTariffId,
    operator: { id: operatorId, sub: operatorSub, claims: { sub: operatorSub } },
    service: { claims: { sub: `svc-${lower}`, escos: [id] } },
    customers: { c1, c2 },
    windows,
    bank: { accountId: bankAccountId, statementId, unmatchedLineId, paymentId, cardPaymentId, refundId },
    billing: { runId: billingRunId, invoiceId },
  };
}

function window(customer: CustomerKey, meter: MeterFixture, from: string, to: string | null): SupplyWindow {
  return {
    customer,
    meterId: meter.id,
    registerIds: Object.values(meter.registers),
    from: londonMidnight(from),
    to: to === null ? null : londonMidnight(to),
  };
}

function shadowTariffs(unitRate: number): Record<string, unknown> {
  return {
    standing_charge: 0.47,
    unit_rate_element_a: unitRate,
    unit_rate_element_b: 0.15,
    prepayment_ecredit_availability: 5,
    prepayment_debt_recovery_rate: 0.5,
    prepayment_emergency_credit: 10,
    threshold_mask: 0,
    threshold_values: [],
  };
}

/** Inserts one half-hour, creating its month's partition first when none holds it. */
async function insertInterval(db: Query, registerId: string, at: Date, importKwh: number, exportKwh: number | null) {
  const sql = `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, export_kwh, quality, source)
               values ($1, $2, $3, $4, 'actual', 'fixture') on conflict do nothing`;
  const values = [registerId, at, importKwh, exportKwh];
  await db.query('savepoint interval_row');
  try {
    await db.query(sql, values);
    await db.query('release savepoint interval_row');
    return;
  } catch (error) {
    await db.query('rollback to savepoint interval_row');
    if ((error as { code?: string }).code !== '23514') throw error;
  }
  await ensureMonthPartition(db, at);
  await db.query(sql, values);
}

/** The month's partition, through internal.ensure_interval_partitions when it takes a range, else directly. */
async function ensureMonthPartition(db: Query, at: Date): Promise<void> {
  const from = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const to = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  const { rows } = await db.query<{ types: string[] }>(
    `select p.proargtypes::regtype[]::text[] as types from pg_proc p
      where p.pronamespace = 'internal'::regnamespace and p.proname = 'ensure_interval_partitions'`,
  );
  const ranged = rows.find((r) => r.types.length === 2 && r.types.every((t) => t.startsWith('timestamp with')));
  if (ranged !== undefined) {
    await db.query(`select internal.ensure_interval_partitions($1, $2)`, [from, to]);
    return;
  }
  const name = `register_interval_hh_fixture_${from.toISOString().slice(0, 7).replace('-', '_')}`;
  await db.query(
    `create table flows_partitions.${name} partition of flows.register_interval_hh
       for values from ('${from.toISOString()}') to ('${to.toISOString()}')`,
  );
  await db.query(`alter table flows_partitions.${name} enable row level security`);
}

// Classification ------------------------------------------------------------------------------------

export function escoOf(f: Fixtures, key: EscoKey): EscoFixture {
  return key === 'A' ? f.a : f.b;
}

export function customerOf(f: Fixtures, key: CustomerKey): CustomerFixture {
  const esco = escoOf(f, key[0] as EscoKey);
  return key.endsWith('1') ? esco.customers.c1 : esco.customers.c2;
}

/** The role and JWT claims of an actor, as asRole takes them. */
export function roleOf(f: Fixtures, actor: Actor): { role: string; claims: Claims } {
  switch (actor.kind) {
    case 'anon':
      return { role: 'anon', claims: {} };
    case 'operator':
      return { role: 'operator', claims: escoOf(f, actor.esco).operator.claims };
    case 'service':
      return { role: 'service', claims: escoOf(f, actor.esco).service.claims };
    case 'customer':
      return { role: 'customer', claims: customerOf(f, actor.customer).claims };
  }
}

/** Whether the actor may see an object marked so (ignoring time windows). */
export function mayReveal(marker: Marker, actor: Actor): boolean {
  switch (actor.kind) {
    case 'anon':
      return false;
    case 'operator':
    case 'service':
      return marker.esco === actor.esco;
    case 'customer':
      return (
        marker.esco === (actor.customer[0] as EscoKey) &&
        (marker.customers === null || marker.customers.has(actor.customer))
      );
  }
}

/** Marker values the actor must never see. */
export function forbiddenMarkers(f: Fixtures, actor: Actor): string[] {
  return [...f.markers].filter(([, m]) => !mayReveal(m, actor)).map(([v]) => v);
}

/** Marker values found anywhere in `value` (rows, nested JSON, arrays, error texts) that the actor must not see. */
export function findForbidden(f: Fixtures, value: unknown, actor: Actor): string[] {
  const found = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      const m = f.markers.get(v);
      if (m !== undefined && !mayReveal(m, actor)) found.add(v);
    } else if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      Object.values(v).forEach(visit);
    }
  };
  visit(value);
  return [...found];
}

/**
 * Marker values found in `value` that the actor may see: their ESCO's, or for a customer with
 * `customerOwned`, only those of objects that are theirs (not the tenant-wide ones such as the ESCO).
 */
export function findOwn(f: Fixtures, value: unknown, actor: Actor, customerOwned = true): string[] {
  const found = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      const m = f.markers.get(v);
      if (
        m !== undefined &&
        mayReveal(m, actor) &&
        (!customerOwned || actor.kind !== 'customer' || m.customers !== null)
      )
        found.add(v);
    } else if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      Object.values(v).forEach(visit);
    }
  };
  visit(value);
  return [...found];
}
