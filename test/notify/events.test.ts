// The events that exist today, each enqueued in the transaction of its change: prepay balance below the
// threshold (once a day per meter), off supply (customers and operators at once, vulnerable first), meter
// offline and recovered (operators), tariff change notices (the daily planner).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { useTestDatabase } from '../support/database.ts';
import { household } from './support.ts';

const db = useTestDatabase();
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool?.end();
});

interface Row {
  customer: string | null;
  subscription: string | null;
  channel: string;
  template: string;
  status: string;
  priority: number;
  payload: Record<string, unknown>;
}
const outbox = (esco: string, template?: string) =>
  many<Row>(
    pool,
    `select customer, subscription, channel, template, status, priority, payload from public.notifications
      where esco = $1 and ($2::text is null or template = $2) order by priority, channel, customer`,
    [esco, template ?? null],
  );
/** A prepay balance as the sync writes it: signed, a negative one also as the emergency credit in use. */
const setBalance = (meter: string, balance: string) =>
  pool.query(
    `update flows.meter_shadows set balance = $2, emergency_credit = greatest(-$2::numeric, 0) where id = $1`,
    [meter, balance],
  );

describe('prepay balance', () => {
  it('warns below the customer threshold at most once a day per meter', async () => {
    const h = await household(pool, { phone: null });
    await pool.query(`update public.notification_preferences set low_balance_threshold_gbp = 8 where customer = $1`, [
      h.customer,
    ]);
    await setBalance(h.meter, '20.00');
    expect(await outbox(h.esco, 'low_balance')).toEqual([]);
    await setBalance(h.meter, '9.00');
    expect(await outbox(h.esco, 'low_balance')).toEqual([]);
    await setBalance(h.meter, '7.50');
    await setBalance(h.meter, '6.10');
    await setBalance(h.meter, '12.00');
    await setBalance(h.meter, '3.00');
    const rows = await outbox(h.esco, 'low_balance');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ channel: 'email', status: 'queued' });
    expect(rows[0]!.payload).toMatchObject({ balance_gbp: '7.50', threshold_gbp: '8.00', meter_serial: h.serial });
  });

  it('tells customers (vulnerable first) and operators at once when credit and emergency credit run out', async () => {
    const h = await household(pool, { vulnerable: true });
    // The meter's active tariff allows £5.00 of emergency credit: the supply is cut at −5.00.
    await pool.query(
      `update flows.meter_shadows set tariffs_active = '{"prepayment_emergency_credit": "5.00000"}' where id = $1`,
      [h.meter],
    );
    await setBalance(h.meter, '2.00');
    await pool.query(`delete from public.notifications where esco = $1`, [h.esco]);
    // Balance gone, £3.00 of the £5.00 emergency credit in use: still on supply.
    await setBalance(h.meter, '-0.50');
    await setBalance(h.meter, '-3.00');
    expect(await outbox(h.esco, 'off_supply')).toEqual([]);
    await setBalance(h.meter, '-5.00');
    await setBalance(h.meter, '-5.50'); // still off: no second message
    const rows = await outbox(h.esco, 'off_supply');
    expect(rows.map((r) => [r.priority, r.channel, r.customer ? 'customer' : 'operator', r.status])).toEqual([
      [0, 'email', 'customer', 'queued'],
      [0, 'sms', 'customer', 'queued'],
      [5, 'email', 'operator', 'queued'],
    ]);
    expect(rows[2]!.subscription).toBe(h.subscription);
    // Their jobs run vulnerable customers first.
    const jobs = await many<{ priority: number }>(
      pool,
      `select j.priority from graphile_worker.jobs j join public.notifications n on j.key = 'notify:' || n.id
        where n.esco = $1 and n.template = 'off_supply' order by j.priority`,
      [h.esco],
    );
    expect(jobs.map((j) => j.priority)).toEqual([0, 0, 5]);
  });

  it('enqueues nothing when the change rolls back', async () => {
    const h = await household(pool);
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`update flows.meter_shadows set balance = -20, emergency_credit = 0 where id = $1`, [h.meter]);
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(await outbox(h.esco, 'off_supply')).toEqual([]);
  });
});

describe('meters offline and recovered', () => {
  // What a sync writes: a healthy meter (last_healthy_at follows), or a failed sync (the shadow is written too).
  const healthy = (meter: string, ago: string) =>
    pool.query(
      `update flows.meter_shadows set health = 'healthy', csq = 10, updated_at = now() - $2::interval,
              last_healthy_at = now() - $2::interval where id = $1`,
      [meter, ago],
    );
  const failed = (meter: string) =>
    pool.query(
      `update flows.meter_shadows set health = 'unhealthy', health_details = 'ECONNREFUSED', csq = null where id = $1`,
      [meter],
    );

  it('alerts operators once after offline_after_hours, and once when the meter is healthy again', async () => {
    const h = await household(pool);
    await pool.query(`update flows.escos set offline_after_hours = 3 where id = $1`, [h.esco]);
    await healthy(h.meter, '2 hours');
    await failed(h.meter); // the hourly sync that finds it gone still writes the shadow
    await pool.query(`select internal.notify_meters_offline()`);
    expect(await outbox(h.esco, 'meter_offline')).toEqual([]);
    await healthy(h.meter, '4 hours');
    await failed(h.meter);
    await pool.query(`select internal.notify_meters_offline()`);
    await failed(h.meter); // failing syncs go on: no second alert, and no "recovered"
    await pool.query(`select internal.notify_meters_offline()`);
    const offline = await outbox(h.esco, 'meter_offline');
    expect(offline).toHaveLength(1);
    expect(offline[0]).toMatchObject({ subscription: h.subscription, customer: null, payload: { hours: 3 } });
    expect(await outbox(h.esco, 'meter_recovered')).toEqual([]);
    await healthy(h.meter, '0 seconds');
    await healthy(h.meter, '0 seconds');
    const recovered = await outbox(h.esco, 'meter_recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]!.payload).toHaveProperty('meter_serial', h.serial);
  });
});

describe('tariff change notices', () => {
  it('notifies each affected customer once, at least 30 days ahead, and flags a late notice', async () => {
    const h = await household(pool, { phone: null });
    const tariff = (days: number) =>
      one<{ id: string }>(
        pool,
        `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
                                                standing_charge_gbp_day)
         values ($1, (now() at time zone 'Europe/London')::date + $2::int, 0.21450, 0.1, 0.41230) returning id`,
        [h.esco, days],
      );
    await tariff(45);
    await tariff(90); // beyond the horizon: not yet
    await pool.query(`select internal.notify_tariff_changes(60)`);
    await pool.query(`select internal.notify_tariff_changes(60)`);
    let rows = await outbox(h.esco, 'tariff_change');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.payload).toMatchObject({ unit_rate_gbp_kwh: '0.21450', late: false });
    await tariff(10);
    await pool.query(`select internal.notify_tariff_changes(60)`);
    rows = await outbox(h.esco, 'tariff_change');
    expect(rows.map((r) => r.payload.late).sort()).toEqual([false, true]);
  });
});
