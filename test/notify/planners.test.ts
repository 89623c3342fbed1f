// The planner tasks as the worker runs them (jobs/notify__tariff_notices.ts, jobs/notify__meters_offline.ts),
// and their crontab lines.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import meterOffline from '../../jobs/notify__meters_offline.ts';
import tariffNotices from '../../jobs/notify__tariff_notices.ts';
import { projectRoot } from '../../src/config.ts';
import { one } from '../../src/db/client.ts';
import { useTestDatabase } from '../support/database.ts';
import { household } from './support.ts';
import { runJobsOnce } from '../support/worker.ts';

const db = useTestDatabase();
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool?.end();
});

async function run(task: string, payload: unknown) {
  await pool.query(`select graphile_worker.add_job($1, $2::json)`, [task, JSON.stringify(payload)]);
  await runJobsOnce(db, { notify__tariff_notices: tariffNotices, notify__meters_offline: meterOffline });
  const failed = await one<{ n: number }>(
    pool,
    `select count(*)::int as n from graphile_worker.jobs where task_identifier = $1 and last_error is not null`,
    [task],
  );
  expect(failed.n).toBe(0);
}

describe('notify planners', () => {
  it('notify__tariff_notices queues notices as the worker role', async () => {
    const h = await household(pool);
    await pool.query(
      `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
                                              standing_charge_gbp_day)
       values ($1, current_date + 40, 0.2, 0.1, 0.4)`,
      [h.esco],
    );
    await run('notify__tariff_notices', { horizon_days: 45 });
    const n = await one<{ n: number }>(
      pool,
      `select count(*)::int as n from public.notifications where esco = $1 and template = 'tariff_change'`,
      [h.esco],
    );
    expect(n.n).toBe(2); // email and SMS rows (SMS: opted out by default, recorded as suppressed)
  });

  it('notify__meters_offline alerts operators as the worker role', async () => {
    const h = await household(pool);
    await pool.query(
      `update flows.meter_shadows set health = 'healthy', last_healthy_at = now() - interval '7 hours' where id = $1`,
      [h.meter],
    );
    await run('notify__meters_offline', {});
    const n = await one<{ n: number }>(
      pool,
      `select count(*)::int as n from public.notifications where esco = $1 and template = 'meter_offline'`,
      [h.esco],
    );
    expect(n.n).toBe(1);
  });

  it('are scheduled in jobs/crontab', () => {
    const crontab = readFileSync(path.join(projectRoot, 'jobs', 'crontab'), 'utf8');
    expect(crontab).toMatch(/^15 7 \* \* \* notify__tariff_notices /m);
    expect(crontab).toMatch(/^\*\/15 \* \* \* \* notify__meters_offline /m);
  });
});
