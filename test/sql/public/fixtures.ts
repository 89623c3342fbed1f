// A small world for the public-schema tests, built as superuser in the test file's own database:
// two ESCOs (A = WLCE, B = HMCE), their topology and meters, customers, accounts, supplies and operators.
//
//   ESCO A (WLCE, region J): properties P1, P2, P4 → service heads SH1, SH2, SH4 → meters M1 (elements A+B), M2, M4
//   ESCO B (HMCE, region K): property P3 → SH3 → meter M3
//   alice (A) account ACC-ALICE supplies P1 from 2026-01-01; bob (A) ACC-BOB supplies P2 from 2025-06-01;
//   carol (B) ACC-CAROL supplies P3 from 2025-01-01; P4 is not supplied. Operators op-a (A), op-b (B).
import type pg from 'pg';
import { one } from '../../../src/db/client.ts';

export interface World {
  escoA: string;
  escoB: string;
  properties: { p1: string; p2: string; p3: string; p4: string };
  meters: { m1: string; m2: string; m3: string; m4: string };
  registers: { m1a: string; m1b: string; m2: string; m3: string; m4: string };
  customers: { alice: string; bob: string; carol: string };
  accounts: { alice: string; bob: string; carol: string };
  supplies: { alice: string; bob: string; carol: string };
}

type Db = Pick<pg.ClientBase, 'query'>;

async function id(db: Db, text: string, values: unknown[] = []): Promise<string> {
  return (await one<{ id: string }>(db, text, values)).id;
}

async function esco(db: Db, code: string, region: string): Promise<string> {
  return id(db, `insert into flows.escos (code, name, region) values ($1, $2, $3) returning id`, [
    code,
    `${code} energy`,
    region,
  ]);
}

/** A property with its own service head and meter (registers valid from 2025-01-01). */
async function plot(
  db: Db,
  escoId: string,
  site: string,
  feeder: string,
  name: string,
  elements: string[],
): Promise<{ property: string; meter: string; registers: string[] }> {
  const property = await id(db, `insert into flows.properties (esco, site, plot) values ($1, $2, $3) returning id`, [
    escoId,
    site,
    name,
  ]);
  const head = await id(
    db,
    `insert into flows.service_head_registry (esco, feeder, name, phase, type)
     values ($1, $2, $3, 1, 'network_owned') returning id`,
    [escoId, feeder, `SH-${name}`],
  );
  await db.query(`insert into flows.properties_service_head (esco, property, service_head) values ($1, $2, $3)`, [
    escoId,
    property,
    head,
  ]);
  const meter = await id(
    db,
    `insert into flows.meter_registry (esco, serial, name, prepay_enabled) values ($1, $2, $3, true) returning id`,
    [escoId, `EML-${name}`, `Meter ${name}`],
  );
  // The shadow may already exist (created by trigger with the meter).
  await db.query(
    `insert into flows.meter_shadows (id, esco, balance, emergency_credit, balance_updated_at, health)
     values ($1, $2, 12.34, 0, '2026-11-01T00:00:00Z', 'healthy')
     on conflict (id) do update set balance = excluded.balance, emergency_credit = excluded.emergency_credit,
       balance_updated_at = excluded.balance_updated_at, health = excluded.health`,
    [meter, escoId],
  );
  await db.query(`insert into flows.service_head_meter (esco, service_head, meter) values ($1, $2, $3)`, [
    escoId,
    head,
    meter,
  ]);
  const registers: string[] = [];
  for (const element of elements) {
    registers.push(
      await id(
        db,
        `insert into flows.meter_registers (meter_id, esco, element, start_time)
         values ($1, $2, $3, '2025-01-01T00:00:00Z') returning register_id as id`,
        [meter, escoId, element],
      ),
    );
  }
  return { property, meter, registers };
}

async function customerWithSupply(
  db: Db,
  escoId: string,
  sub: string,
  property: string,
  startDate: string,
  billingMode: 'credit' | 'prepay',
): Promise<{ customer: string; account: string; supply: string }> {
  const customer = await id(
    db,
    `insert into public.customers (esco, auth_subject, name, email) values ($1, $2, $3, $4) returning id`,
    [escoId, sub, `Customer ${sub}`, `${sub}@example.org`],
  );
  const account = await id(
    db,
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference, opened_on)
     values ($1, $2, $3, $4, $5) returning id`,
    [escoId, `ACC-${sub.toUpperCase()}`, billingMode, `REF-${sub.toUpperCase()}`, startDate],
  );
  await db.query(`insert into public.customer_accounts (customer, account, esco, role) values ($1, $2, $3, 'holder')`, [
    customer,
    account,
    escoId,
  ]);
  const supply = await id(
    db,
    `insert into public.account_supplies (account, property, esco, start_date) values ($1, $2, $3, $4) returning id`,
    [account, property, escoId, startDate],
  );
  return { customer, account, supply };
}

export async function buildWorld(db: Db): Promise<World> {
  const escoA = await esco(db, 'WLCE', 'J');
  const escoB = await esco(db, 'HMCE', 'K');
  const siteA = await id(
    db,
    `insert into flows.sites_new (esco, name, code) values ($1, 'Site A', 'SITE-A') returning id`,
    [escoA],
  );
  const siteB = await id(
    db,
    `insert into flows.sites_new (esco, name, code) values ($1, 'Site B', 'SITE-B') returning id`,
    [escoB],
  );
  const feederA = await id(db, `insert into flows.feeder_registry (esco, name) values ($1, 'Feeder A') returning id`, [
    escoA,
  ]);
  const feederB = await id(db, `insert into flows.feeder_registry (esco, name) values ($1, 'Feeder B') returning id`, [
    escoB,
  ]);
  const p1 = await plot(db, escoA, siteA, feederA, 'P1', ['A', 'B']);
  const p2 = await plot(db, escoA, siteA, feederA, 'P2', ['SINGLE']);
  const p4 = await plot(db, escoA, siteA, feederA, 'P4', ['SINGLE']);
  const p3 = await plot(db, escoB, siteB, feederB, 'P3', ['SINGLE']);
  const alice = await customerWithSupply(db, escoA, 'alice', p1.property, '2026-01-01', 'prepay');
  const bob = await customerWithSupply(db, escoA, 'bob', p2.property, '2025-06-01', 'credit');
  const carol = await customerWithSupply(db, escoB, 'carol', p3.property, '2025-01-01', 'prepay');
  for (const [sub, escoId] of [
    ['op-a', escoA],
    ['op-b', escoB],
  ] as const) {
    const operator = await id(db, `insert into public.operators (auth_subject, name) values ($1, $1) returning id`, [
      sub,
    ]);
    await db.query(`insert into public.operator_escos (operator, esco) values ($1, $2)`, [operator, escoId]);
  }
  return {
    escoA,
    escoB,
    properties: { p1: p1.property, p2: p2.property, p3: p3.property, p4: p4.property },
    meters: { m1: p1.meter, m2: p2.meter, m3: p3.meter, m4: p4.meter },
    registers: {
      m1a: p1.registers[0]!,
      m1b: p1.registers[1]!,
      m2: p2.registers[0]!,
      m3: p3.registers[0]!,
      m4: p4.registers[0]!,
    },
    customers: { alice: alice.customer, bob: bob.customer, carol: carol.customer },
    accounts: { alice: alice.account, bob: bob.account, carol: carol.account },
    supplies: { alice: alice.supply, bob: bob.supply, carol: carol.supply },
  };
}

/** Interval data needs partitions: the project's own function makes them; a default partition stands in without it. */
async function ensurePartitions(db: Db, from: string, to: string): Promise<void> {
  const { ok } = await one<{ ok: boolean }>(
    db,
    `select to_regprocedure('internal.ensure_interval_partitions(timestamptz, timestamptz)') is not null as ok`,
  );
  if (ok) {
    await db.query(`select internal.ensure_interval_partitions($1, $2)`, [from, to]);
    return;
  }
  await db.query(`do $$ begin
    if not exists (select 1 from pg_inherits i join pg_class c on c.oid = i.inhrelid
                    where i.inhparent = 'flows.register_interval_hh'::regclass
                      and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') then
      create table flows_partitions.register_interval_hh_test_default partition of flows.register_interval_hh default;
    end if; end $$`);
}

/** Half-hourly rows for a register from `from` (inclusive) to `to` (exclusive), 1 kWh each unless told. */
export async function insertHalfHours(
  db: Db,
  register: string,
  from: string,
  to: string,
  importKwh = '1.000',
  quality: 'actual' | 'estimated' = 'actual',
): Promise<number> {
  await ensurePartitions(db, from, to);
  const result = await db.query(
    `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, export_kwh, quality, source)
     select $1, t, $4::numeric, 0, $5, 'test'
       from generate_series($2::timestamptz, $3::timestamptz - interval '30 minutes', interval '30 minutes') t`,
    [register, from, to, importKwh, quality],
  );
  return result.rowCount ?? 0;
}

export const claims = {
  alice: { sub: 'alice' },
  bob: { sub: 'bob' },
  carol: { sub: 'carol' },
  opA: { sub: 'op-a' },
  opB: { sub: 'op-b' },
} as const;

/**
 * Like asRole, but runs `setup` as superuser first, in the same always-rolled-back transaction, so a test
 * can arrange its own data without leaking it to the other tests of the file.
 */
export async function asRoleAfter<T>(
  pool: pg.Pool,
  setup: (client: pg.PoolClient) => Promise<unknown>,
  role: string,
  claims: { sub?: string; [claim: string]: unknown },
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await setup(client);
    await client.query(`select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`, [
      role,
      JSON.stringify({ ...claims, role }),
    ]);
    return await fn(client);
  } finally {
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}

/** The current and next quarter starts (Europe/London), as 'YYYY-MM-DD'. */
export async function quarters(db: Db): Promise<{ current: string; next: string; previous: string }> {
  return one<{ current: string; next: string; previous: string }>(
    db,
    `select q::date::text as current, (q + interval '3 months')::date::text as next,
            (q - interval '3 months')::date::text as previous
       from date_trunc('quarter', now() at time zone 'Europe/London') q`,
  );
}

/** The SQLSTATE of a failed promise (or 'none'). */
export async function sqlstate(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    return (error as { code?: string }).code ?? 'unknown';
  }
}
