// The realtime trigger (sql/640_realtime.sql): keys only, one call per statement, payloads kept under
// PostgreSQL's 8000-byte limit by chunking, composite keys in key order, nothing for a rollback.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase, usePool } from '../support/database.ts';

const db = useTestDatabase();
const ctx = usePool(db);
const received: { payload: string }[] = [];
let listener: pg.Client;

beforeAll(async () => {
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => received.push({ payload: n.payload ?? '' }));
  await listener.query('listen flows_realtime');
  await ctx.pool.query(`
    create table public.realtime_probe (region int, code text, note text, primary key (code, region));
    create trigger t90_realtime_insert after insert on public.realtime_probe referencing new table as changed_rows
      for each statement execute function internal.tg_realtime__notify();
    create trigger t90_realtime_update after update on public.realtime_probe referencing new table as changed_rows
      for each statement execute function internal.tg_realtime__notify();`);
});

afterAll(async () => {
  await listener?.end();
});

/** Notifications about the probe table, parsed, once `count` of them have arrived. */
async function probeChanges(count: number) {
  const probe = () =>
    received
      .map((r) => JSON.parse(r.payload) as { table: string; op: string; columns: string[]; keys: string[][] })
      .filter((c) => c.table === 'realtime_probe');
  await expect.poll(() => probe().length).toBeGreaterThanOrEqual(count);
  return probe();
}

describe('tg_realtime__notify', () => {
  it('is attached to every watched table, for inserts and updates', async () => {
    const { rows } = await ctx.pool.query<{ name: string }>(
      `select format('%s %s', tgrelid::regclass, tgname) as name from pg_trigger
        where tgfoid = 'internal.tg_realtime__notify()'::regprocedure and tgrelid <> 'public.realtime_probe'::regclass
        order by 1`,
    );
    const tables = ['billing_runs', 'invoices', 'meter_shadows', 'notifications', 'payments', 'topups'];
    expect(rows.map((r) => r.name).sort()).toEqual(
      tables
        .map((t) => (t === 'meter_shadows' ? `flows.${t}` : t))
        .flatMap((t) => [`${t} t90_realtime_insert`, `${t} t90_realtime_update`])
        .sort(),
    );
  });

  it('sends the keys of a bulk insert in chunks under 8000 bytes, composite keys in key order', async () => {
    received.length = 0;
    await ctx.pool.query(
      `insert into public.realtime_probe
       select i % 7, 'code-' || lpad(i::text, 60, '0'), 'private note' from generate_series(1, 1000) i`,
    );
    const changes = await probeChanges(8);
    expect(received.every((r) => Buffer.byteLength(r.payload) < 8000)).toBe(true);
    expect(changes.every((c) => c.op === 'INSERT' && c.columns.join() === 'code,region')).toBe(true);
    const keys = changes.flatMap((c) => c.keys);
    expect(keys).toHaveLength(1000);
    expect(new Set(keys.map((k) => k.join())).size).toBe(1000);
    expect(keys[0]).toEqual([`code-${'1'.padStart(60, '0')}`, '1']);
    expect(received.some((r) => r.payload.includes('private note'))).toBe(false);
  });

  it('sends updates, and nothing for a statement that changes no row or a transaction rolled back', async () => {
    received.length = 0;
    await ctx.pool.query(`update public.realtime_probe set note = 'x' where region = 99`);
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      await client.query(`update public.realtime_probe set note = 'y' where region = 1`);
      await client.query('rollback');
    } finally {
      client.release();
    }
    await ctx.pool.query(`update public.realtime_probe set note = 'z' where code = $1`, [
      `code-${'7'.padStart(60, '0')}`,
    ]);
    const changes = await probeChanges(1);
    expect(changes).toEqual([
      {
        schema: 'public',
        table: 'realtime_probe',
        op: 'UPDATE',
        columns: ['code', 'region'],
        keys: [[`code-${'7'.padStart(60, '0')}`, '0']],
      },
    ]);
  });
});
