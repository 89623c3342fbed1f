// bench/billing: a whole billing run (src/billing/run.ts → internal.billing_run_step, the same path as
// the billing__run job and `flows billing run`) over dual-element accounts with one month of
// half-hourly data, against the floor measured in the same run: one SQL aggregate of the same interval
// rows per register and local day. Goal: the run within 3× the floor.
//
//   npm run bench -- billing                      1,000 accounts (2.88 M rows)
//   npm run bench -- billing --accounts 10000     the full size (28.8 M rows)
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { one, withClient } from '../../src/db/client.ts';
import { createMigratedDatabase, dropDatabases, openScratchServer } from '../../src/db/provision.ts';
import { createLogger } from '../../src/log.ts';
import { prepareRun, runBilling } from '../../src/billing/run.ts';

const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '1000' },
    explain: { type: 'boolean', default: false },
  },
});
const accountCount = Number(values.accounts);
const batchSize = Number(values.batch);
// June 2026 (BST): 30 local days, 1,440 half-hours per register, one partition.
const monthStart = '2026-06-01T00:00:00+01:00';
const monthEnd = '2026-07-01T00:00:00+01:00';

const config = loadConfig(['database', 'roles']);
const log = createLogger(config.runtime, 'command');
const server = await openScratchServer(config.database, log);
const prefix = `flows_bench_${randomBytes(3).toString('hex')}`;
const seconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;

try {
  const url = await createMigratedDatabase(server.serverUrl, `${prefix}_billing`, { roles: config.roles, log });
  const rows = await withClient(url, (client) => createData(client, accountCount));
  process.stdout.write(`accounts: ${accountCount} (dual-element), interval rows: ${rows.toLocaleString('en-GB')}\n`);

  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const floorSql = `select register_id, ("timestamp" at time zone 'Europe/London')::date as day,
                             sum(import_kwh), sum(export_kwh), count(*)
                        from flows.register_interval_hh
                       where "timestamp" >= $1 and "timestamp" < $2
                       group by 1, 2`;
    await pool.query(floorSql, [monthStart, monthEnd]); // warm the cache
    let started = process.hrtime.bigint();
    await pool.query(floorSql, [monthStart, monthEnd]);
    const floorSeconds = seconds(started);

    started = process.hrtime.bigint();
    const runId = await prepareRun(pool, 'BENCH', '2026-06-01', 'bench');
    // The first step of a pass aggregates the month's interval data; the others draft batches of accounts.
    let aggregateSeconds: number | undefined;
    const onProgress = () => (aggregateSeconds ??= seconds(started));
    const progress = values.explain
      ? await explained(pool, (c) => runBilling(c, runId, { batchSize, onProgress }))
      : await runBilling(pool, runId, { batchSize, onProgress });
    const runSeconds = seconds(started);
    if (progress.invoices_drafted !== accountCount || progress.errors !== 0) {
      throw new Error(`run ended ${JSON.stringify(progress)}`);
    }
    const check = await one<{ total: string }>(
      pool,
      `select sum(total)::text as total from public.invoices where run = $1`,
      [runId],
    );
    const ratio = runSeconds / floorSeconds;
    process.stdout.write(
      [
        `billing run:          ${runSeconds.toFixed(2)} s (${progress.invoices_drafted} drafts, batch ${batchSize}, total £${check.total})`,
        `  of which aggregate:  ${(aggregateSeconds ?? 0).toFixed(2)} s (the run's interval data per register and local day)`,
        `floor (one aggregate): ${floorSeconds.toFixed(2)} s`,
        `ratio:                ${ratio.toFixed(2)}× the floor (goal ≤ 3) ${ratio <= 3 ? 'MET' : 'NOT MET'}`,
        '',
      ].join('\n'),
    );
  } finally {
    await pool.end();
  }
} finally {
  await dropDatabases(server.serverUrl, prefix);
  await server.stop();
}

/** Runs `fn` on one connection with auto_explain printing the slow plans (--explain). */
async function explained<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    c.on('notice', (n) => process.stdout.write(`${n.message ?? ''}\n`));
    await c.query(`load 'auto_explain'`);
    await c.query(`set auto_explain.log_min_duration = 500`);
    await c.query(`set auto_explain.log_nested_statements = on`);
    await c.query(`set auto_explain.log_analyze = on`);
    await c.query(`set client_min_messages = log`);
    return await fn(c);
  } finally {
    c.release();
  }
}

/** One ESCO with a tariff; per account a property, a service head, a meter with registers A and B, a supply. */
async function createData(client: pg.ClientBase, count: number): Promise<number> {
  const esco = await one<{ id: string }>(
    client,
    `insert into flows.escos (code, name, region) values ('BENCH', 'Bench ESCO', 'J') returning id`,
  );
  const e = esco.id;
  await client.query(
    `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
                                           export_rate_gbp_kwh, standing_charge_gbp_day)
     values ($1, '2026-01-01', 0.20000, 0.10000, 0.05000, 0.40000)`,
    [e],
  );
  const site = await one<{ id: string }>(
    client,
    `insert into flows.sites_new (esco, name, code) values ($1, 'Bench', 'BENCH-S') returning id`,
    [e],
  );
  const feeder = await one<{ id: string }>(
    client,
    `insert into flows.feeder_registry (esco, name) values ($1, 'BENCH-F') returning id`,
    [e],
  );
  await client.query(
    `insert into flows.properties (esco, site, plot) select $1, $2, 'P' || g from generate_series(1, $3) g`,
    [e, site.id, count],
  );
  await client.query(
    `insert into flows.service_head_registry (esco, feeder, name, phase, type)
     select $1, $2, 'SH' || g, 1, 'network_owned' from generate_series(1, $3) g`,
    [e, feeder.id, count],
  );
  await client.query(
    `insert into flows.meter_registry (esco, serial) select $1, 'BM' || lpad(g::text, 6, '0') from generate_series(1, $2) g`,
    [e, count],
  );
  await client.query(
    `insert into flows.properties_service_head (property, service_head, esco)
     select p.id, s.id, $1 from flows.properties p join flows.service_head_registry s on s.name = 'SH' || substr(p.plot, 2)
      where p.esco = $1`,
    [e],
  );
  await client.query(
    `insert into flows.service_head_meter (service_head, meter, esco)
     select s.id, m.id, $1 from flows.service_head_registry s
       join flows.meter_registry m on m.serial = 'BM' || lpad(substr(s.name, 3), 6, '0')
      where s.esco = $1`,
    [e],
  );
  await client.query(
    `insert into flows.meter_registers (meter_id, esco, element, start_time)
     select m.id, $1, x.element, '2026-01-01T00:00:00Z' from flows.meter_registry m cross join (values ('A'), ('B')) x(element)
      where m.esco = $1`,
    [e],
  );
  await client.query(
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference, opened_on)
     select $1, 'B' || g, 'credit', 'BENCH-' || lpad(g::text, 6, '0'), '2026-01-01' from generate_series(1, $2) g`,
    [e, count],
  );
  await client.query(
    `insert into public.account_supplies (account, property, esco, start_date)
     select a.id, p.id, $1, '2026-01-01' from public.accounts a join flows.properties p on p.plot = 'P' || substr(a.account_number, 2)
      where a.esco = $1`,
    [e],
  );
  await client.query(`select internal.ensure_interval_partitions($1, $2)`, [monthStart, monthEnd]);
  const inserted = await client.query(
    `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, export_kwh, source)
     select r.register_id, g, (0.05 + (abs(hashtext(r.register_id::text || g::text)) % 400) / 1000.0)::numeric(14, 3),
            null, 'bench'
       from flows.meter_registers r
      cross join generate_series($1::timestamptz, $2::timestamptz - interval '30 minutes', interval '30 minutes') g
      where r.esco = $3`,
    [monthStart, monthEnd, e],
  );
  await client.query(`vacuum analyze flows.register_interval_hh`);
  return inserted.rowCount ?? 0;
}
