// Interval data: partitions, the one ingest path (SQL function, REST RPC, src/db/ingest.ts),
// idempotency, actual over estimate, suspicious-read flags, rejects, and the daily cron task.
import { runOnce } from 'graphile-worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { ingestIntervals, type IntervalRow } from '../../../src/db/ingest.ts';
import { createLogger } from '../../../src/log.ts';
import { workerLogger } from '../../../src/worker/run.ts';
import { loadTaskList } from '../../../src/worker/tasks.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import { createEsco, createMeter, createRegister, halfHours, ingest } from './fixtures.ts';

const log = createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 });

describe('flows.register_interval_hh ingest', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let worker: pg.Pool;
  let escoA: string;
  let escoB: string;
  let registerA: string;
  let registerB: string;

  beforeAll(async () => {
    worker = new pg.Pool({ connectionString: db.loginUrl('worker'), max: 2 });
    worker.on('error', () => {});
    worker.on('connect', (c) => c.on('error', () => {}));
    escoA = (await createEsco(ctx.pool, undefined, { max_interval_kwh: 5 })).id;
    escoB = (await createEsco(ctx.pool)).id;
    registerA = await createRegister(ctx.pool, escoA, (await createMeter(ctx.pool, escoA)).id);
    registerB = await createRegister(ctx.pool, escoB, (await createMeter(ctx.pool, escoB)).id);
  });
  afterAll(async () => {
    await worker?.end();
  });

  const partitions = () =>
    many<{ name: string; rls: boolean; acl: string | null }>(
      ctx.pool,
      `select c.relname as name, c.relrowsecurity as rls, c.relacl::text as acl from pg_class c
        where c.relnamespace = 'flows_partitions'::regnamespace and c.relkind = 'r' order by 1`,
    );
  const stored = (register: string, from: string, to: string) =>
    many<{ timestamp: string; import_kwh: string; export_kwh: string | null; quality: string; flags: string[] }>(
      ctx.pool,
      `select to_char("timestamp" at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI') as timestamp, import_kwh, export_kwh,
              quality, flags
         from flows.register_interval_hh where register_id = $1 and "timestamp" >= $2 and "timestamp" < $3
        order by "timestamp"`,
      [register, from, to],
    );

  it('creates monthly partitions in flows_partitions, with RLS and no grants, once', async () => {
    const created = await one<{ n: number }>(
      ctx.pool,
      `select internal.ensure_interval_partitions('2019-01-15T00:00Z', '2019-03-01T00:00Z') as n`,
    );
    expect(created.n).toBe(3);
    const again = await one<{ n: number }>(
      ctx.pool,
      `select internal.ensure_interval_partitions('2019-01-01T00:00Z', '2019-03-31T23:59Z') as n`,
    );
    expect(again.n).toBe(0);
    const made = (await partitions()).filter((p) => p.name.startsWith('register_interval_hh_y2019'));
    expect(made).toEqual([
      { name: 'register_interval_hh_y2019m01', rls: true, acl: null },
      { name: 'register_interval_hh_y2019m02', rls: true, acl: null },
      { name: 'register_interval_hh_y2019m03', rls: true, acl: null },
    ]);
    // Bounds are UTC months, whatever the session time zone.
    const bounds = await one<{ bound: string }>(
      ctx.pool,
      `select pg_get_expr(relpartbound, oid) as bound from pg_class where relname = 'register_interval_hh_y2019m02'`,
    );
    expect(bounds.bound).toMatch(/2019-02-01 00:00:00\+00.*2019-03-01 00:00:00\+00/);
  });

  it('creates a partition once when two sessions ask at the same time', async () => {
    const first = await ctx.pool.connect();
    const second = await ctx.pool.connect();
    try {
      await first.query('begin');
      await second.query('begin');
      const pid = await one<{ pid: number }>(second, 'select pg_backend_pid() as pid');
      const a = await one<{ n: number }>(
        first,
        `select internal.ensure_interval_partitions('2018-05-10T00:00Z', '2018-05-11T00:00Z') as n`,
      );
      const b = second.query<{ n: number }>(
        `select internal.ensure_interval_partitions('2018-05-10T00:00Z', '2018-05-11T00:00Z') as n`,
      );
      // wait until the second session is blocked behind the first one's lock
      for (;;) {
        const waiting = await one<{ waiting: boolean }>(
          ctx.pool,
          `select coalesce((select wait_event_type = 'Lock' from pg_stat_activity where pid = $1), false) as waiting`,
          [pid.pid],
        );
        if (waiting.waiting) break;
      }
      await first.query('commit');
      expect(a.n).toBe(1);
      expect((await b).rows[0]!.n).toBe(0);
      await second.query('commit');
    } finally {
      first.release();
      second.release();
    }
    expect((await partitions()).filter((p) => p.name === 'register_interval_hh_y2018m05')).toHaveLength(1);
  });

  it('creates a partition without waiting for readers of the table', async () => {
    const reader = await ctx.pool.connect();
    const creator = await ctx.pool.connect();
    try {
      await reader.query('begin');
      await reader.query('select count(*) from flows.register_interval_hh');
      await creator.query(`set lock_timeout = '2s'`);
      const made = await one<{ n: number }>(
        creator,
        `select internal.ensure_interval_partitions('2017-01-01T00:00Z', '2017-01-02T00:00Z') as n`,
      );
      expect(made.n).toBe(1);
      await reader.query('commit');
    } finally {
      reader.release();
      creator.release();
    }
  });

  it('refuses a backwards or huge partition range', async () => {
    await expect(
      ctx.pool.query(`select internal.ensure_interval_partitions('2020-02-01T00:00Z', '2020-01-01T00:00Z')`),
    ).rejects.toMatchObject({ code: '22023' });
    await expect(
      ctx.pool.query(`select internal.ensure_interval_partitions('2000-01-01T00:00Z', '2030-01-01T00:00Z')`),
    ).rejects.toMatchObject({ code: '22023' });
  });

  it('ingests idempotently through src/db/ingest.ts as the worker, creating the partition it needs', async () => {
    const rows: IntervalRow[] = halfHours('2021-02-10T00:00Z', '2021-02-11T00:00Z').map((t, i) => ({
      registerId: registerA,
      timestamp: t,
      importKwh: (0.1 + i / 1000).toFixed(3),
      exportKwh: i % 2 === 0 ? '0.050' : null,
      source: 'test',
    }));
    const client = await worker.connect();
    try {
      expect(await ingestIntervals(client, rows, { batchSize: 20 })).toEqual({
        inserted: 48,
        updated: 0,
        unchanged: 0,
        flagged: 0,
      });
      const before = await many(
        ctx.pool,
        `select *, xmin::text as version from flows.register_interval_hh where register_id = $1 order by "timestamp"`,
        [registerA],
      );
      expect(await ingestIntervals(client, rows)).toEqual({ inserted: 0, updated: 0, unchanged: 48, flagged: 0 });
      const after = await many(
        ctx.pool,
        `select *, xmin::text as version from flows.register_interval_hh where register_id = $1 order by "timestamp"`,
        [registerA],
      );
      expect(after).toEqual(before);
    } finally {
      client.release();
    }
    expect((await partitions()).map((p) => p.name)).toContain('register_interval_hh_y2021m02');
    const sample = await stored(registerA, '2021-02-10T00:00Z', '2021-02-10T01:00Z');
    expect(sample).toEqual([
      { timestamp: '2021-02-10T00:00', import_kwh: '0.100', export_kwh: '0.050', quality: 'actual', flags: [] },
      { timestamp: '2021-02-10T00:30', import_kwh: '0.101', export_kwh: null, quality: 'actual', flags: [] },
    ]);
  });

  it('upserts a batch whose rows another session writes while it inserts them as new', async () => {
    await ctx.pool.query(`select internal.ensure_interval_partitions('2021-07-01T00:00Z', '2021-07-01T00:00Z')`);
    const rows = (importKwh: string): IntervalRow[] =>
      halfHours('2021-07-01T00:00Z', '2021-07-01T02:00Z').map((t) => ({
        registerId: registerA,
        timestamp: t,
        importKwh,
        source: 'test',
      }));
    const first = await worker.connect();
    const second = await worker.connect();
    try {
      const pid = await one<{ pid: number }>(second, 'select pg_backend_pid() as pid');
      await first.query('begin');
      expect(await ingestIntervals(first, rows('0.500'))).toMatchObject({ inserted: 4 });
      // The second session cannot see those rows yet, so it takes the plain INSERT and waits for the
      // first session; when that commits, its INSERT meets their keys and the batch is upserted.
      const pending = ingestIntervals(second, rows('0.600'));
      pending.catch(() => {}); // awaited below; a rejection must not go unhandled while we wait
      for (;;) {
        const waiting = await one<{ waiting: boolean }>(
          ctx.pool,
          `select coalesce((select wait_event_type = 'Lock' from pg_stat_activity where pid = $1), false) as waiting`,
          [pid.pid],
        );
        if (waiting.waiting) break;
      }
      await first.query('commit');
      expect(await pending).toEqual({ inserted: 0, updated: 4, unchanged: 0, flagged: 0 });
    } finally {
      first.release();
      second.release();
    }
    expect((await stored(registerA, '2021-07-01T00:00Z', '2021-07-02T00:00Z')).map((r) => r.import_kwh)).toEqual([
      '0.600',
      '0.600',
      '0.600',
      '0.600',
    ]);
  });

  it('lets an actual value replace an estimate, never the reverse', async () => {
    const at = '2021-03-01T10:00Z';
    const ingestOne = (importKwh: string, quality: 'actual' | 'estimated') =>
      ingest(ctx.pool, [{ registerId: registerA, timestamp: at, importKwh, quality, source: 'test' }]);
    expect(await ingestOne('1.000', 'estimated')).toMatchObject({ inserted: 1 });
    expect(await ingestOne('1.100', 'estimated')).toMatchObject({ updated: 1 }); // a better estimate
    expect(await ingestOne('1.234', 'actual')).toMatchObject({ updated: 1 });
    expect(await ingestOne('9.000', 'estimated')).toMatchObject({ unchanged: 1 });
    expect(await ingestOne('1.234', 'actual')).toMatchObject({ unchanged: 1 });
    expect(await stored(registerA, at, '2021-03-01T10:30Z')).toEqual([
      { timestamp: '2021-03-01T10:00', import_kwh: '1.234', export_kwh: null, quality: 'actual', flags: [] },
    ]);
  });

  it('flags negative values, jumps over the ESCO limit and counter wraps, keeping every row', async () => {
    const result = await ingest(ctx.pool, [
      { registerId: registerA, timestamp: '2021-04-01T00:00Z', importKwh: '0.4', source: 'test' },
      { registerId: registerA, timestamp: '2021-04-01T00:30Z', importKwh: '-0.2', source: 'test' },
      { registerId: registerA, timestamp: '2021-04-01T01:00Z', importKwh: '7.5', source: 'test' }, // limit 5
      { registerId: registerA, timestamp: '2021-04-01T01:30Z', importKwh: '-4294966.996', source: 'test' }, // 0.3 after a wrap
      { registerId: registerA, timestamp: '2021-04-01T02:00Z', importKwh: '0.2', exportKwh: '-1', source: 'test' },
    ]);
    expect(result).toEqual({ inserted: 5, updated: 0, unchanged: 0, flagged: 4 });
    expect((await stored(registerA, '2021-04-01T00:00Z', '2021-04-02T00:00Z')).map((r) => r.flags)).toEqual([
      [],
      ['negative'],
      ['jump'],
      ['counter_wrap'],
      ['negative'],
    ]);
    // The ESCO's limit is a setting: ESCO B (default 50 kWh) does not flag 7.5 kWh.
    expect(
      await ingest(ctx.pool, [
        { registerId: registerB, timestamp: '2021-04-01T01:00Z', importKwh: '7.5', source: 'test' },
      ]),
    ).toMatchObject({ flagged: 0 });
  });

  it('stores exactly what PostgreSQL reads from the values sent (binary COPY), rounded to the watt-hour', async () => {
    const rows: IntervalRow[] = [
      { registerId: registerA, timestamp: '2021-08-01T05:30+05:30', importKwh: '1e-3', exportKwh: 0.1, source: 't' },
      {
        registerId: registerA.toUpperCase(),
        timestamp: new Date('2021-08-01T00:30:00Z'),
        importKwh: '0.0005',
        exportKwh: '-0.0005',
        source: 't',
      },
      { registerId: registerA, timestamp: '2021-08-01T01:00:00.000000Z', importKwh: ' 2.4995 ', source: 't' },
      { registerId: registerA, timestamp: '2021-08-01T01:30:00+00:00', importKwh: '123456.7894999', source: 't' },
      { registerId: registerA, timestamp: '2021-08-01T01:59:60Z', importKwh: 5, exportKwh: '-0', source: 'tëst ✓' },
    ];
    expect(await ingest(ctx.pool, rows)).toEqual({ inserted: 5, updated: 0, unchanged: 0, flagged: 2 });
    expect(await stored(registerA, '2021-08-01T00:00Z', '2021-08-02T00:00Z')).toEqual([
      { timestamp: '2021-08-01T00:00', import_kwh: '0.001', export_kwh: '0.100', quality: 'actual', flags: [] },
      {
        timestamp: '2021-08-01T00:30',
        import_kwh: '0.001',
        export_kwh: '-0.001',
        quality: 'actual',
        flags: ['negative'],
      },
      { timestamp: '2021-08-01T01:00', import_kwh: '2.500', export_kwh: null, quality: 'actual', flags: [] },
      { timestamp: '2021-08-01T01:30', import_kwh: '123456.789', export_kwh: null, quality: 'actual', flags: ['jump'] },
      { timestamp: '2021-08-01T02:00', import_kwh: '5.000', export_kwh: '0.000', quality: 'actual', flags: [] },
    ]);
    const sources = await many(
      ctx.pool,
      `select source from flows.register_interval_hh
        where register_id = $1 and "timestamp" >= '2021-08-01T00:00Z' and "timestamp" < '2021-08-02T00:00Z'
        order by "timestamp"`,
      [registerA],
    );
    expect(sources.map((s) => s.source)).toEqual(['t', 't', 't', 't', 'tëst ✓']);
    // the same values again change nothing
    expect(await ingest(ctx.pool, rows)).toEqual({ inserted: 0, updated: 0, unchanged: 5, flagged: 2 });
  });

  it('names the row and the field of a value it cannot send, sending nothing', async () => {
    const ok: IntervalRow = { registerId: registerA, timestamp: '2021-09-01T00:00Z', importKwh: '0.1', source: 'test' };
    const second = { ...ok, timestamp: '2021-09-01T00:30Z' };
    const rejects = async (bad: Partial<IntervalRow>, message: string) =>
      expect(ingest(ctx.pool, [ok, { ...second, ...bad }])).rejects.toMatchObject({
        name: 'IngestInputError',
        message,
      });
    await rejects({ registerId: 'nope' }, 'row 2: registerId is not a uuid');
    await rejects({ importKwh: 'abc' }, 'row 2: importKwh is not a number');
    await rejects({ importKwh: Number.NaN }, 'row 2: importKwh is not a number');
    await rejects({ exportKwh: '1,5' }, 'row 2: exportKwh is not a number');
    await rejects({ importKwh: '1e-16384' }, 'row 2: importKwh is out of range');
    await rejects({ timestamp: '2021-02-29T00:00Z' }, 'row 2: timestamp is not a valid date');
    await rejects({ timestamp: '2021-09-01T23:59:60.5Z' }, 'row 2: timestamp is not a valid date');
    await rejects({ timestamp: 'not a date' }, 'row 2: timestamp is not a valid date');
    await rejects({ timestamp: new Date(Number.NaN) }, 'row 2: timestamp is not a valid date');
    // several faults in one row: the same one is named as before (register, export, timestamp, import)
    await rejects({ exportKwh: 'x', timestamp: 'y', importKwh: 'z' }, 'row 2: exportKwh is not a number');
    await rejects({ timestamp: 'y', importKwh: 'z' }, 'row 2: timestamp is not a valid date');
    // a missing source is left to the database, which names the row too
    await expect(ingest(ctx.pool, [ok, { ...second, source: undefined as unknown as string }])).rejects.toMatchObject({
      code: '22023',
      message: 'row 2: register_id, timestamp, import_kwh and source are required, quality is actual or estimated',
    });
    expect(await stored(registerA, '2021-09-01T00:00Z', '2021-09-02T00:00Z')).toEqual([]);
  });

  it('rejects a batch with a misaligned timestamp, an unknown register or a repeated row, naming the row', async () => {
    const ok = { registerId: registerA, timestamp: '2021-05-01T00:00Z', importKwh: '0.1', source: 'test' };
    await expect(ingest(ctx.pool, [ok, { ...ok, timestamp: '2021-05-01T00:10Z' }])).rejects.toMatchObject({
      code: '22023',
      message: expect.stringMatching(/^row 2: timestamp .* is not the start of a half-hour$/),
    });
    const unknown = '00000000-0000-4000-8000-000000000000';
    await expect(ingest(ctx.pool, [ok, ok, { ...ok, registerId: unknown }].slice(1))).rejects.toMatchObject({
      code: 'PT404',
      message: `row 2: register ${unknown} not found`,
    });
    await expect(ingest(ctx.pool, [ok, { ...ok, importKwh: '0.2' }])).rejects.toMatchObject({
      code: '22023',
      message: expect.stringMatching(/^row 2: register .* repeats row 1$/),
    });
    await expect(ingest(ctx.pool, [{ ...ok, timestamp: '2999-01-01T00:00Z' }])).rejects.toMatchObject({
      code: '22023',
    });
    await expect(ingest(ctx.pool, [ok, { ...ok, exportKwh: '-2e11' }])).rejects.toMatchObject({
      code: '22003',
      message: 'row 2: energy value out of range',
    });
    // nothing of the rejected batches was written
    expect(await stored(registerA, '2021-05-01T00:00Z', '2021-05-02T00:00Z')).toEqual([]);
  });

  it('rejects a batch repeating a half-hour that is already stored, whichever copy the upsert would keep', async () => {
    const row = { registerId: registerA, timestamp: '2021-05-02T00:00Z', importKwh: '0.5', source: 'test' };
    expect(await ingest(ctx.pool, [row])).toMatchObject({ inserted: 1 });
    for (const batch of [
      [row, row], // both identical to the stored row
      [
        { ...row, importKwh: '7', quality: 'estimated' as const },
        { ...row, importKwh: '9' },
      ],
      [
        { ...row, quality: 'estimated' as const },
        { ...row, importKwh: '8', quality: 'estimated' as const },
      ], // estimates over an actual value
    ]) {
      await expect(ingest(ctx.pool, batch)).rejects.toMatchObject({
        code: '22023',
        message: expect.stringMatching(/^row 2: register .* repeats row 1$/),
      });
    }
    expect((await stored(registerA, '2021-05-02T00:00Z', '2021-05-02T00:30Z')).map((r) => r.import_kwh)).toEqual([
      '0.500',
    ]);
  });

  it('rejects a REST timestamp without a time zone, naming the row', async () => {
    const rows = JSON.stringify([
      { register_id: registerA, timestamp: '2021-05-03T00:00:00Z', import_kwh: 1 },
      { register_id: registerA, timestamp: '2021-05-03T00:30:00', import_kwh: 1 },
    ]);
    await asRole(ctx.pool, 'service', { sub: 'svc', escos: [escoA] }, (c) =>
      expect(c.query('select * from flows.ingest_interval_hh($1::jsonb)', [rows])).rejects.toMatchObject({
        code: '22023',
        message: 'row 2: timestamp 2021-05-03T00:30:00 has no time zone',
      }),
    );
    expect(await stored(registerA, '2021-05-03T00:00Z', '2021-05-04T00:00Z')).toEqual([]);
  });

  it('serves the REST RPC to a service within the ESCOs of its token', async () => {
    const body = (register: string) =>
      JSON.stringify([
        { register_id: register, timestamp: '2021-06-01T00:00:00Z', import_kwh: 0.5, export_kwh: 0 },
        { register_id: register, timestamp: '2021-06-01T00:30:00+00:00', import_kwh: '0.6', quality: 'estimated' },
      ]);
    await asRole(ctx.pool, 'service', { sub: 'svc', escos: [escoA] }, async (c) => {
      const first = await one(c, 'select * from flows.ingest_interval_hh($1::jsonb)', [body(registerA)]);
      expect(first).toEqual({ inserted: '2', updated: '0', unchanged: '0', flagged: '0' });
      const again = await one(c, 'select * from flows.ingest_interval_hh($1::jsonb)', [body(registerA)]);
      expect(again).toEqual({ inserted: '0', updated: '0', unchanged: '2', flagged: '0' });
      const visible = await many(c, 'select source, quality from flows.register_interval_hh where "timestamp" = $1', [
        '2021-06-01T00:30:00Z',
      ]);
      expect(visible).toEqual([{ source: 'api', quality: 'estimated' }]);
    });
    await asRole(ctx.pool, 'service', { sub: 'svc', escos: [escoA] }, (c) =>
      expect(c.query('select * from flows.ingest_interval_hh($1::jsonb)', [body(registerB)])).rejects.toMatchObject({
        code: 'PT404',
        message: `row 1: register ${registerB} not found`,
      }),
    );
    await asRole(ctx.pool, 'service', { sub: 'svc', escos: [escoA] }, (c) =>
      expect(
        c.query('select * from flows.ingest_interval_hh($1::jsonb)', ['[{"register_id": "nope"}]']),
      ).rejects.toMatchObject({ code: '22023' }),
    );
    for (const role of ['customer', 'operator', 'anon', 'reporting']) {
      await asRole(ctx.pool, role, { sub: 'x' }, (c) =>
        expect(c.query('select * from flows.ingest_interval_hh($1::jsonb)', [body(registerA)])).rejects.toMatchObject({
          code: '42501',
        }),
      );
    }
    // and nobody but the owner writes the table directly
    await asRole(ctx.pool, 'service', { sub: 'svc', escos: [escoA] }, (c) =>
      expect(
        c.query(
          `insert into flows.register_interval_hh (register_id, "timestamp", import_kwh, source) values ($1, '2021-06-02', 1, 'x')`,
          [registerA],
        ),
      ).rejects.toMatchObject({ code: '42501' }),
    );
  });

  it("refuses to narrow a register's validity window past its interval data", async () => {
    const meter = await createMeter(ctx.pool, escoA);
    const register = await createRegister(ctx.pool, escoA, meter.id);
    await ingest(ctx.pool, [{ registerId: register, timestamp: '2021-07-01T12:00Z', importKwh: '1', source: 'test' }]);
    await expect(
      ctx.pool.query(`update flows.meter_registers set start_time = '2021-07-02T00:00Z' where register_id = $1`, [
        register,
      ]),
    ).rejects.toMatchObject({ code: '23514', message: expect.stringMatching(/has interval data at 2021-07-01/) });
    await expect(
      ctx.pool.query(`update flows.meter_registers set end_time = '2021-07-01T12:00Z' where register_id = $1`, [
        register,
      ]),
    ).rejects.toMatchObject({ code: '23514' });
    // ending it after its last half-hour (a meter exchange) is fine
    await ctx.pool.query(`update flows.meter_registers set end_time = '2021-07-01T12:30Z' where register_id = $1`, [
      register,
    ]);
  });

  it('refuses to delete or re-key a register that has interval data', async () => {
    await expect(
      ctx.pool.query('delete from flows.meter_registers where register_id = $1', [registerA]),
    ).rejects.toMatchObject({
      code: '23503',
      message: `register ${registerA} has interval data`,
    });
    await expect(
      ctx.pool.query('update flows.meter_registers set register_id = gen_random_uuid() where register_id = $1', [
        registerA,
      ]),
    ).rejects.toMatchObject({ code: '23503' });
    // a register without data can go
    const spare = await createRegister(ctx.pool, escoA, (await createMeter(ctx.pool, escoA)).id);
    expect((await ctx.pool.query('delete from flows.meter_registers where register_id = $1', [spare])).rowCount).toBe(
      1,
    );
  });

  it('refuses a staging table the caller made themselves', async () => {
    const client = new pg.Client({ connectionString: db.loginUrl('worker') });
    await client.connect();
    try {
      await client.query('begin');
      await client.query(`create temp table interval_hh_staging (like flows.register_interval_hh)`);
      await expect(client.query('select * from internal.ingest_staged_intervals()')).rejects.toMatchObject({
        code: '55000',
      });
      await client.query('rollback');
      await client.query('begin');
      await client.query(`create temp table interval_hh_staging (like flows.register_interval_hh)`);
      await expect(client.query('select internal.open_interval_staging()')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await client.end();
    }
  });

  it('runs the flows__ensure_partitions cron task as the worker', async () => {
    await worker.query(`select internal.enqueue('flows__ensure_partitions', '{"monthsAhead": 2}')`);
    await runOnce({ pgPool: worker, taskList: await loadTaskList(), logger: workerLogger(log) });
    const months = await one<{ missing: number }>(
      ctx.pool,
      `select count(*)::int as missing from generate_series(0, 2) k
        where to_regclass(format('flows_partitions.register_interval_hh_%s',
                to_char(date_trunc('month', now() at time zone 'UTC') + make_interval(months => k), '"y"YYYY"m"MM'))) is null`,
    );
    expect(months.missing).toBe(0);
    expect(await many(ctx.pool, `select 1 from graphile_worker.jobs`)).toEqual([]);
  });
});
