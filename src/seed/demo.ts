// `flows seed demo`: two ESCOs (WLCE and HMCE) with sites, ~60 properties, feeders, service heads,
// single- and dual-element meters (some with solar export), circuits, customers, operators,
// accounts and supplies (with a move-out and move-in), tariffs for the last four quarters, and N
// days of half-hourly data through the one ingest path. Deterministic for a given seed.
import type pg from 'pg';
import { ingestIntervals, type IntervalRow } from '../db/ingest.ts';
import { one, withTransaction } from '../db/client.ts';
import { demandKwh, kwh, solarKwh } from './load-profile.ts';
import { createRandom, type Random } from './random.ts';

export interface DemoOptions {
  days: number;
  seed: number;
  /** The end of the data (exclusive), default now; aligned down to the half-hour. */
  until?: Date;
  onProgress?: (done: number, total: number) => void;
}

export interface DemoSummary {
  escos: number;
  properties: number;
  meters: number;
  registers: number;
  customers: number;
  intervalRows: number;
}

export class DemoDataPresentError extends Error {
  constructor() {
    super('demo data is already present (ESCO WLCE exists); run `flows db reset` first');
    this.name = 'DemoDataPresentError';
  }
}

interface EscoPlan {
  code: string;
  name: string;
  region: string;
  site: { code: string; name: string; location: string; capacityKw: string };
  properties: number;
  portBase: number;
}

const escoPlans: EscoPlan[] = [
  {
    code: 'WLCE',
    name: 'Water Lilies Community Energy',
    region: 'J',
    site: { code: 'WL1', name: 'Water Lilies', location: 'Bristol', capacityKw: '250.00' },
    properties: 36,
    portBase: 18000,
  },
  {
    code: 'HMCE',
    name: 'Hazelmead Community Energy',
    region: 'L',
    site: { code: 'HM1', name: 'Hazelmead', location: 'Bridport', capacityKw: '160.00' },
    properties: 24,
    portBase: 18100,
  },
];

const firstNames = [
  'Amelia',
  'Oliver',
  'Isla',
  'George',
  'Ava',
  'Harry',
  'Mia',
  'Noah',
  'Ivy',
  'Leo',
  'Freya',
  'Arthur',
];
const lastNames = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Evans', 'Thomas', 'Roberts', 'Walker'];
const HALF_HOUR_MS = 1_800_000;
const DAY_MS = 86_400_000;

interface RegisterPlan {
  id: string;
  meterId: string;
  element: 'A' | 'B' | 'SINGLE';
  scale: number;
  solarKwp: number;
  gapDay: number | undefined;
}

/** Creates the demo data set; refuses when it is already there. */
export async function seedDemo(client: pg.ClientBase, options: DemoOptions): Promise<DemoSummary> {
  const random = createRandom(options.seed);
  const until = new Date(Math.floor((options.until ?? new Date()).getTime() / HALF_HOUR_MS) * HALF_HOUR_MS);
  const from = new Date(until.getTime() - options.days * DAY_MS);
  const today = until.toISOString().slice(0, 10);
  const supplyStart = isoDate(new Date(from.getTime() - 30 * DAY_MS));
  const moveDate = isoDate(new Date(until.getTime() - Math.min(20, Math.floor(options.days / 2)) * DAY_MS));

  const registers: RegisterPlan[] = [];
  const summary: DemoSummary = { escos: 0, properties: 0, meters: 0, registers: 0, customers: 0, intervalRows: 0 };

  await withTransaction(client as pg.Client, async (tx) => {
    const present = await tx.query(`select 1 from flows.escos where code = 'WLCE'`);
    if (present.rowCount) throw new DemoDataPresentError();
    const admin = await one<{ id: string }>(
      tx,
      `insert into public.operators (auth_subject, name, email) values ('flows-admin', 'Flows Admin', 'admin@example.org') returning id`,
    );
    for (const plan of escoPlans) {
      summary.escos++;
      const esco = await one<{ id: string }>(
        tx,
        `insert into flows.escos (code, name, region) values ($1, $2, $3) returning id`,
        [plan.code, plan.name, plan.region],
      );
      const operator = await one<{ id: string }>(
        tx,
        `insert into public.operators (auth_subject, name, email) values ($1, $2, $3) returning id`,
        [
          `${plan.code.toLowerCase()}-operator`,
          `${plan.name} operator`,
          `operator@${plan.code.toLowerCase()}.example.org`,
        ],
      );
      await tx.query(`insert into public.operator_escos (operator, esco) values ($1, $3), ($2, $3)`, [
        operator.id,
        admin.id,
        esco.id,
      ]);
      const site = await one<{ id: string }>(
        tx,
        `insert into flows.sites_new (esco, name, code, location, capacity_kw) values ($1, $2, $3, $4, $5) returning id`,
        [esco.id, plan.site.name, plan.site.code, plan.site.location, plan.site.capacityKw],
      );
      const feeders: string[] = [];
      for (const n of [1, 2]) {
        const feeder = await one<{ id: string }>(
          tx,
          `insert into flows.feeder_registry (esco, name, substation, rating_amps) values ($1, $2, $3, 400) returning id`,
          [esco.id, `${plan.site.code}-F${n}`, `${plan.site.name} substation`],
        );
        feeders.push(feeder.id);
      }
      const circuits = {} as Record<'power' | 'heat' | 'solar', string>;
      for (const [type, name] of [
        ['power', 'Homes'],
        ['heat', 'Heat pumps'],
        ['solar', 'Rooftop solar'],
      ] as const) {
        circuits[type] = (
          await one<{ id: string }>(
            tx,
            `insert into flows.circuits (esco, site, type, name, rating_amps) values ($1, $2, $3, $4, 400) returning id`,
            [esco.id, site.id, type, `${plan.site.name} ${name}`],
          )
        ).id;
      }
      let sharedHead: string | undefined;
      for (let i = 1; i <= plan.properties; i++) {
        summary.properties++;
        const plot = String(i).padStart(2, '0');
        const property = await one<{ id: string }>(
          tx,
          `insert into flows.properties (esco, site, plot, address, type) values ($1, $2, $3, $4, $5) returning id`,
          [
            esco.id,
            site.id,
            plot,
            `${i} ${plan.site.name} Lane, ${plan.site.location}`,
            random.pick(['house', 'flat', 'bungalow']),
          ],
        );
        // Pairs of neighbouring homes share a customer-owned service head every sixth plot.
        let head: string;
        if (i % 6 === 2 && sharedHead !== undefined) {
          head = sharedHead;
        } else {
          head = (
            await one<{ id: string }>(
              tx,
              `insert into flows.service_head_registry (esco, feeder, name, phase, fuse_rating, type)
               values ($1, $2, $3, $4, $5, $6) returning id`,
              [
                esco.id,
                feeders[i % 2]!,
                `${plan.site.code}-SH${plot}`,
                (i % 3) + 1,
                100,
                i % 6 === 1 ? 'customer_owned' : 'network_owned',
              ],
            )
          ).id;
          sharedHead = head;
        }
        await tx.query(`insert into flows.properties_service_head (property, service_head, esco) values ($1, $2, $3)`, [
          property.id,
          head,
          esco.id,
        ]);

        const dual = i % 3 === 0;
        const solar = i % 4 === 0;
        const prepay = i % 2 === 1;
        summary.meters++;
        const meter = await one<{ id: string }>(
          tx,
          `insert into flows.meter_registry (esco, serial, name, ip_address, port, hardware, firmware_version, mode,
                                             prepay_enabled, daylight_savings_correction_enabled)
           values ($1, $2, $3, '127.0.0.1', $4, $5, '3.2.13', 'active', $6, true) returning id`,
          [
            esco.id,
            `EML${plan.region.charCodeAt(0)}${String(2_000_000 + summary.meters * 7919).padStart(7, '0')}`,
            `${plan.site.code} plot ${plot}`,
            plan.portBase + i,
            dual ? 'EMP1AX' : 'EMP1AH',
            prepay,
          ],
        );
        // On a shared head (plots 1 and 2 of every six) each meter names its home, so that each home is billed
        // for, and shown, its own meter only; elsewhere the meter supplies every property of its head (null).
        const onSharedHead = i % 6 === 1 || i % 6 === 2;
        await tx.query(
          `insert into flows.service_head_meter (service_head, meter, esco, property) values ($1, $2, $3, $4)`,
          [head, meter.id, esco.id, onSharedHead ? property.id : null],
        );
        const scale = 0.7 + random.next() * 0.9;
        const gapDay = i % 11 === 7 ? random.int(1, Math.max(1, options.days - 2)) : undefined;
        for (const element of dual ? (['A', 'B'] as const) : (['SINGLE'] as const)) {
          summary.registers++;
          const register = await one<{ register_id: string }>(
            tx,
            `insert into flows.meter_registers (meter_id, esco, element, nature, start_time)
             values ($1, $2, $3, $4, $5) returning register_id`,
            [meter.id, esco.id, element, element === 'B' ? 'heat' : 'power', `${supplyStart}T00:00:00Z`],
          );
          registers.push({
            id: register.register_id,
            meterId: meter.id,
            element,
            scale: element === 'B' ? scale * 0.6 : scale,
            solarKwp: solar && element !== 'B' ? 2 + random.int(0, 2) : 0,
            gapDay,
          });
          const circuit = element === 'B' ? circuits.heat : circuits.power;
          await tx.query(
            `insert into flows.circuit_register (circuit, register, esco, start_time) values ($1, $2, $3, $4)`,
            [circuit, register.register_id, esco.id, `${supplyStart}T00:00:00Z`],
          );
          if (solar && element !== 'B') {
            await tx.query(
              `insert into flows.circuit_register (circuit, register, esco, start_time) values ($1, $2, $3, $4)`,
              [circuits.solar, register.register_id, esco.id, `${supplyStart}T00:00:00Z`],
            );
          }
        }

        // A customer and an account per home; plot 05 moved out and a new customer moved in.
        const movers = i === 5 ? 2 : 1;
        for (let m = 0; m < movers; m++) {
          summary.customers++;
          const first = random.pick(firstNames);
          const last = random.pick(lastNames);
          const customer = await one<{ id: string }>(
            tx,
            `insert into public.customers (esco, auth_subject, name, email, phone, vulnerable, priority_services)
             values ($1, $2, $3, $4, $5, $6, $6) returning id`,
            [
              esco.id,
              `${plan.code.toLowerCase()}-customer-${plot}${m ? '-b' : ''}`,
              `${first} ${last}`,
              `${first}.${last}.${plan.code}${plot}${m ? 'b' : ''}@example.org`.toLowerCase(),
              `+447700900${String(summary.customers).padStart(3, '0')}`,
              i % 10 === 3,
            ],
          );
          const number = `${plan.site.code}-${plot}${m ? 'B' : ''}`;
          const account = await one<{ id: string }>(
            tx,
            `insert into public.accounts (esco, account_number, billing_mode, payment_reference, opened_on, status, closed_on)
             values ($1, $2, $3, $4, $5, $6, $7) returning id`,
            [
              esco.id,
              number,
              prepay ? 'prepay' : 'credit',
              `${plan.code}${plot}${m ? 'B' : 'A'}${String(summary.customers).padStart(3, '0')}`,
              m === 0 ? supplyStart : moveDate,
              movers === 2 && m === 0 ? 'closed' : 'open',
              movers === 2 && m === 0 ? moveDate : null,
            ],
          );
          await tx.query(
            `insert into public.customer_accounts (customer, account, esco, role) values ($1, $2, $3, 'holder')`,
            [customer.id, account.id, esco.id],
          );
          await tx.query(
            `insert into public.account_supplies (account, property, esco, start_date, end_date) values ($1, $2, $3, $4, $5)`,
            [
              account.id,
              property.id,
              esco.id,
              m === 0 ? supplyStart : moveDate,
              movers === 2 && m === 0 ? moveDate : null,
            ],
          );
        }
      }
      await seedTariffs(tx, random, esco.id, plan, today);
    }
  });

  // Half-hourly data, a day at a time, through the ingest path (each day commits on its own).
  const total = options.days;
  for (let day = 0; day < total; day++) {
    const dayStart = from.getTime() + day * DAY_MS;
    const cloudiness = random.next();
    const rows: IntervalRow[] = [];
    for (const register of registers) {
      if (register.gapDay === day) continue; // a meter that was offline for a day
      for (let slot = 0; slot < 48; slot++) {
        const at = new Date(dayStart + slot * HALF_HOUR_MS);
        const noise = 1 + 0.15 * random.gaussian();
        const demand = demandKwh(at, register.scale) * noise;
        const generated = register.solarKwp ? solarKwh(at, register.solarKwp, cloudiness) : 0;
        rows.push({
          registerId: register.id,
          timestamp: at.toISOString(),
          importKwh: kwh(Math.max(0, demand - generated)),
          exportKwh: register.solarKwp ? kwh(Math.max(0, generated - demand)) : null,
          quality: 'actual',
          source: 'demo',
        });
      }
    }
    await withTransaction(client as pg.Client, (tx) => ingestIntervals(tx, rows));
    summary.intervalRows += rows.length;
    options.onProgress?.(day + 1, total);
  }

  await updateShadows(client, random, until);
  return summary;
}

/** Benchmarks for the last four quarters, the ESCO tariff of the first, then generate_new_quarter_tariffs. */
async function seedTariffs(tx: pg.ClientBase, random: Random, esco: string, plan: EscoPlan, today: string) {
  const quarters = lastQuarters(today, 4);
  for (const [n, quarter] of quarters.entries()) {
    await tx.query(
      `insert into public.benchmark_tariffs (region, quarter_start, unit_rate_inc_vat_gbp_kwh, standing_charge_inc_vat_gbp_day)
       values ($1, $2, $3, $4) on conflict (region, quarter_start) do nothing`,
      [plan.region, quarter, (0.245 + 0.01 * n + random.int(0, 99) / 10_000).toFixed(5), (0.53 + 0.005 * n).toFixed(5)],
    );
  }
  await tx.query(
    `insert into public.microgrid_tariffs (esco, benchmark_tariff, effective_from, discount_pct, unit_rate_a_gbp_kwh,
                                          unit_rate_b_gbp_kwh, export_rate_gbp_kwh, standing_charge_gbp_day,
                                          emergency_credit_gbp, ecredit_availability_gbp, debt_recovery_gbp_day)
     select $1, b.id, b.quarter_start, 20.00,
            public.tariff_rate_ex_vat(b.unit_rate_inc_vat_gbp_kwh, 20.00),
            public.tariff_rate_ex_vat(b.unit_rate_inc_vat_gbp_kwh, 30.00),
            0.15000,
            public.tariff_rate_ex_vat(b.standing_charge_inc_vat_gbp_day, 20.00),
            15.00, 10.00, 0.50
       from public.benchmark_tariffs b where b.region = $2 and b.quarter_start = $3`,
    [esco, plan.region, quarters[0]],
  );
  for (const quarter of quarters.slice(1)) {
    await tx.query(`select * from public.generate_new_quarter_tariffs($1::date, $2)`, [quarter, plan.code]);
  }
}

/** The shadows as a last sync would leave them: cumulative reads, balances, signal, health. */
async function updateShadows(client: pg.ClientBase, random: Random, at: Date): Promise<void> {
  const meters = await client.query<{ id: string; prepay: boolean }>(
    `select id, prepay_enabled as prepay from flows.meter_registry order by serial`,
  );
  for (const meter of meters.rows) {
    await client.query(
      `update flows.meter_shadows s set
         import_a = coalesce((select sum(i.import_kwh) from flows.register_interval_hh i join flows.meter_registers r using (register_id)
                               where r.meter_id = s.id and r.element in ('A', 'SINGLE')), 0) + $2,
         export_a = coalesce((select sum(i.export_kwh) from flows.register_interval_hh i join flows.meter_registers r using (register_id)
                               where r.meter_id = s.id and r.element in ('A', 'SINGLE')), 0),
         import_b = (select sum(i.import_kwh) + $2 from flows.register_interval_hh i join flows.meter_registers r using (register_id)
                      where r.meter_id = s.id and r.element = 'B'),
         balance = case when $3 then $4::numeric end,
         emergency_credit = case when $3 then 15.00 end,
         balance_updated_at = case when $3 then $5::timestamptz end,
         csq = $6, voltage = $7, clock_time_diff_seconds = $8,
         health = 'healthy', last_healthy_at = $5, updated_at = $5
       where s.id = $1`,
      [
        meter.id,
        (1000 + random.int(0, 9000)).toFixed(3),
        meter.prepay,
        (random.chance(0.15) ? random.int(0, 400) / 100 : random.int(500, 6000) / 100).toFixed(2),
        at.toISOString(),
        random.int(8, 28),
        (236 + random.int(0, 80) / 10).toFixed(1),
        random.chance(0.1) ? random.int(150, 600) : random.int(-20, 20),
      ],
    );
  }
}

function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** First days of the `count` quarters ending with the one containing `today`, oldest first. */
function lastQuarters(today: string, count: number): string[] {
  const [year, month] = today.split('-').map(Number) as [number, number];
  const quarterIndex = year * 4 + Math.floor((month - 1) / 3);
  const out: string[] = [];
  for (let q = quarterIndex - count + 1; q <= quarterIndex; q++) {
    out.push(`${Math.floor(q / 4)}-${String((q % 4) * 3 + 1).padStart(2, '0')}-01`);
  }
  return out;
}
