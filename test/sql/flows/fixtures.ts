// Test fixtures for the flows schema, written as the superuser: ESCOs, topology, meters, registers,
// customers with supplies, operators. Every test file builds its own (its database is its own).
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ingestIntervals, type IngestOptions, type IntervalRow } from '../../../src/db/ingest.ts';
import { one } from '../../../src/db/client.ts';

type Db = Pick<pg.ClientBase, 'query'>;

const suffix = () => randomBytes(3).toString('hex').toUpperCase();

export async function createEsco(db: Db, code = `E${suffix()}`, settings: Record<string, unknown> = {}) {
  const row = await one<{ id: string }>(
    db,
    `insert into flows.escos (code, name, region) values ($1, $2, 'A') returning id`,
    [code, `ESCO ${code}`],
  );
  for (const [column, value] of Object.entries(settings)) {
    await db.query(`update flows.escos set ${column} = $2 where id = $1`, [row.id, value]);
  }
  return { id: row.id, code };
}

export interface Topology {
  esco: string;
  site: string;
  property: string;
  feeder: string;
  feederName: string;
  serviceHead: string;
}

export async function createTopology(db: Db, esco: string): Promise<Topology> {
  const s = suffix();
  const site = await one<{ id: string }>(
    db,
    `insert into flows.sites_new (esco, name, code) values ($1, 'Site', $2) returning id`,
    [esco, `S${s}`],
  );
  const property = await one<{ id: string }>(
    db,
    `insert into flows.properties (esco, site, plot) values ($1, $2, '1') returning id`,
    [esco, site.id],
  );
  const feederName = `F${s}`;
  const feeder = await one<{ id: string }>(
    db,
    `insert into flows.feeder_registry (esco, name) values ($1, $2) returning id`,
    [esco, feederName],
  );
  const serviceHead = await one<{ id: string }>(
    db,
    `insert into flows.service_head_registry (esco, feeder, name, phase, type)
     values ($1, $2, $3, 1, 'network_owned') returning id`,
    [esco, feeder.id, `SH${s}`],
  );
  await db.query(`insert into flows.properties_service_head (esco, property, service_head) values ($1, $2, $3)`, [
    esco,
    property.id,
    serviceHead.id,
  ]);
  return { esco, site: site.id, property: property.id, feeder: feeder.id, feederName, serviceHead: serviceHead.id };
}

export interface MeterOptions {
  serviceHead?: string;
  prepay?: boolean;
  ip?: string;
  port?: number;
  mode?: 'active' | 'passive';
}

export async function createMeter(db: Db, esco: string, options: MeterOptions = {}) {
  const serial = `EML${suffix()}${suffix()}`;
  const meter = await one<{ id: string }>(
    db,
    `insert into flows.meter_registry (esco, serial, name, ip_address, port, prepay_enabled, mode)
     values ($1, $2, $2, $3, $4, $5, $6) returning id`,
    [esco, serial, options.ip ?? null, options.port ?? 8080, options.prepay ?? false, options.mode ?? 'active'],
  );
  if (options.serviceHead) {
    await db.query(`insert into flows.service_head_meter (esco, service_head, meter) values ($1, $2, $3)`, [
      esco,
      options.serviceHead,
      meter.id,
    ]);
  }
  return { id: meter.id, serial };
}

export async function createRegister(
  db: Db,
  esco: string,
  meter: string,
  element: 'A' | 'B' | 'SINGLE' = 'SINGLE',
  startTime = '2020-01-01T00:00:00Z',
  endTime: string | null = null,
): Promise<string> {
  const row = await one<{ register_id: string }>(
    db,
    `insert into flows.meter_registers (esco, meter_id, element, start_time, end_time, status)
     values ($1, $2, $3, $4, $5, case when $5::timestamptz is null then 'enabled' else 'replaced' end)
     returning register_id`,
    [esco, meter, element, startTime, endTime],
  );
  return row.register_id;
}

/** A customer with an account that supplies `property` over [startDate, endDate). */
export async function createCustomer(
  db: Db,
  esco: string,
  property: string,
  startDate: string,
  endDate: string | null = null,
) {
  const sub = `customer-${suffix()}`;
  const customer = await one<{ id: string }>(
    db,
    `insert into public.customers (esco, auth_subject, name) values ($1, $2, 'Test Customer') returning id`,
    [esco, sub],
  );
  const account = await one<{ id: string }>(
    db,
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
     values ($1, $2, 'credit', $3) returning id`,
    [esco, `A${suffix()}`, `REF${suffix()}`],
  );
  await db.query(`insert into public.customer_accounts (customer, account, esco) values ($1, $2, $3)`, [
    customer.id,
    account.id,
    esco,
  ]);
  await db.query(
    `insert into public.account_supplies (account, property, esco, start_date, end_date) values ($1, $2, $3, $4, $5)`,
    [account.id, property, esco, startDate, endDate],
  );
  return { id: customer.id, sub, account: account.id };
}

/** An operator whose membership covers `escos`. */
export async function createOperator(db: Db, escos: string[]) {
  const sub = `operator-${suffix()}`;
  const operator = await one<{ id: string }>(
    db,
    `insert into public.operators (auth_subject, name) values ($1, 'Test Operator') returning id`,
    [sub],
  );
  for (const esco of escos) {
    await db.query(`insert into public.operator_escos (operator, esco) values ($1, $2)`, [operator.id, esco]);
  }
  return { id: operator.id, sub };
}

/** Half-hour starts from `from` (inclusive) to `to` (exclusive), as ISO strings. */
export function halfHours(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += 30 * 60 * 1000) out.push(new Date(t).toISOString());
  return out;
}

/** Ingests rows on a connection of its own (the staging table and COPY belong to one session). */
export async function ingest(pool: pg.Pool, rows: IntervalRow[], options?: IngestOptions) {
  const client = await pool.connect();
  try {
    return await ingestIntervals(client, rows, options);
  } finally {
    client.release();
  }
}
