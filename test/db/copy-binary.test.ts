// The binary COPY encoder against a real PostgreSQL: every value it writes must arrive as exactly the
// value PostgreSQL reads from the same text (numeric digits and display scale, timestamptz to the
// microsecond), and what it refuses PostgreSQL refuses too (or the ingest path never sent).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinaryCopyWriter, uuidBytes } from '../../src/db/copy-binary.ts';
import { useTestDatabase } from '../support/database.ts';

// The forms the ingest path accepted before it sent binary (src/db/ingest.ts): what matches is sent.
const decimalForm = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const isoWithZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A small random generator with a fixed seed, so that a failure can be repeated. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const numerics = [
  '0',
  '-0',
  '+0',
  '0.000',
  '-0.000',
  '00.0000000',
  '0e-1000',
  '0e1000',
  '1',
  '-1',
  '+1',
  '1.',
  '.5',
  '-.5',
  '0.1',
  '0.123',
  '-0.123',
  '0.0005',
  '-0.0005',
  '0.0001',
  '0.00010',
  '1e-3',
  '1E-3',
  '-2e11',
  '2E+11',
  '1e-7',
  '9999',
  '10000',
  '10001',
  '99999999',
  '100000000',
  '000123.4500',
  '123.456e-2',
  '123.456e2',
  '1234.5678e4',
  '1234.5678e-4',
  '0.00000000012345',
  '4294967.296',
  '-4294966.996',
  '99999999999.999',
  '-99999999999.9995',
  '123456789012345678901234567890.123456789012345678901234567890',
  '1e1000',
  '1e-1000',
  '5e-1000',
  '-9.99999e999',
  '1e1001',
  '1e-1001',
  '0e1001',
  '0e1073741822',
  '1e131071',
  '9.' + '9'.repeat(200) + 'e131071',
  '1e-16383',
  '0e-16383',
  '1' + '0'.repeat(5000) + '.5',
  '0.' + '0'.repeat(16000) + '1',
  String(0.1),
  String(-0),
  String(1 / 3),
  String(123.456),
  String(1e21),
  String(1.5e-7),
  String(Number.MAX_SAFE_INTEGER),
  String(Number.MIN_VALUE),
  String(Number.MAX_VALUE),
  String(-1234567.0000001),
];

describe('binary COPY encoding', () => {
  const db = useTestDatabase();
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
  });

  /** COPYs `rows` (built with `fill`) into a fresh temporary table of `columns`. */
  async function copy(table: string, columns: string, fill: (out: BinaryCopyWriter) => void): Promise<void> {
    await client.query(`drop table if exists pg_temp.${table}`);
    await client.query(`create temporary table ${table} (${columns})`);
    const out = new BinaryCopyWriter(16); // small, so that the buffer has to grow
    fill(out);
    await pipeline(
      Readable.from([out.finish()]),
      client.query(copyFrom(`copy pg_temp.${table} from stdin with (format binary)`)),
    );
  }

  it('writes every decimal as the numeric PostgreSQL reads from its text, display scale included', async () => {
    const next = random(3);
    const fuzz: string[] = [];
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(next() * 10)).join('');
    for (let k = 0; k < 3000; k++) {
      const sign = ['', '-', '+'][Math.floor(next() * 3)]!;
      const whole = digits(Math.floor(next() * 14));
      const fraction = next() < 0.7 ? '.' + digits(Math.floor(next() * 12)) : '';
      const exponent = next() < 0.3 ? `e${Math.floor(next() * 61) - 30}` : '';
      const text = sign + whole + fraction + exponent;
      if (decimalForm.test(text)) fuzz.push(text);
    }
    const values = [...numerics, ...fuzz];
    await copy('numerics', 'i bigint, v numeric', (out) => {
      values.forEach((v, i) => {
        out.row(2);
        out.int8(i + 1);
        expect(out.numeric(v), v).toBe('ok');
      });
    });
    const { rows } = await client.query<{ i: string; v: string; expected: string; same: boolean }>(
      `select n.i, n.v::text as v, e.v::numeric::text as expected, n.v = e.v::numeric as same
         from pg_temp.numerics n join unnest($1::text[]) with ordinality as e(v, i) on e.i = n.i
        order by n.i`,
      [values],
    );
    expect(rows).toHaveLength(values.length);
    const wrong = rows.filter((r) => !r.same || r.v !== r.expected);
    expect(wrong).toEqual([]);
  });

  it('refuses what PostgreSQL cannot hold and what is not a decimal, as the ingest path did', async () => {
    const out = new BinaryCopyWriter();
    const huge = [
      '1e131072',
      '-1e131072',
      '1' + '0'.repeat(131072),
      '1e-16384',
      '0e-16384',
      '0.' + '0'.repeat(16383) + '1',
    ];
    for (const v of [...huge, '1e1073741823', '0e-1073741823', '0e1073741823', '1e99999999999999999999']) {
      expect(out.numeric(v), v).toBe('range');
      await expect(client.query('select $1::numeric', [v]), v).rejects.toMatchObject({ code: '22003' });
    }
    const syntax = [
      '',
      '.',
      '-',
      '+',
      '-.',
      'e5',
      '1e',
      '1e+',
      '1e-',
      '1.2.3',
      ' 1',
      '1 ',
      'NaN',
      'Infinity',
      '-Infinity',
    ];
    for (const v of [...syntax, '0x10', '1_000', '1,5', '١', '1e5.5', '--1', '1-', 'abc']) {
      expect(out.numeric(v), v).toBe('syntax');
      expect(decimalForm.test(v), v).toBe(false);
    }
    for (const v of numerics) expect(decimalForm.test(v), v).toBe(true);
  });

  it('writes every ISO 8601 timestamp as the instant PostgreSQL reads from it, to the microsecond', async () => {
    const next = random(7);
    const two = (n: number) => String(n).padStart(2, '0');
    const fuzz: string[] = [];
    for (let k = 0; k < 3000; k++) {
      const year = String(1 + Math.floor(next() * 9999)).padStart(4, '0');
      const month = 1 + Math.floor(next() * 12);
      const day = 1 + Math.floor(next() * 28);
      const time = `${two(Math.floor(next() * 24))}:${two(Math.floor(next() * 60))}`;
      const places = Math.floor(next() * 7);
      const seconds =
        next() < 0.2
          ? ''
          : `:${two(Math.floor(next() * 60))}${
              places
                ? '.' +
                  String(next())
                    .slice(2, 2 + places)
                    .padEnd(places, '7')
                : ''
            }`;
      const zone =
        next() < 0.4
          ? 'Z'
          : `${next() < 0.5 ? '+' : '-'}${two(Math.floor(next() * 16))}:${two(Math.floor(next() * 60))}`;
      fuzz.push(`${year}-${two(month)}-${two(day)}T${time}${seconds}${zone}`);
    }
    for (let k = 0; k < 500; k++) fuzz.push(new Date(Math.floor((next() - 0.5) * 1e14)).toISOString());
    const values = [
      '2021-01-01T00:00Z',
      '2021-06-01T00:30+05:30',
      '2021-06-01T00:30:00.000Z',
      '2021-01-01T24:00Z',
      '2021-01-01T24:00:00.000000+01:00',
      '2021-01-01T00:00:60Z',
      '2021-01-01T00:00:60.5Z',
      '2021-12-31T23:59:60-15:59',
      '2021-12-31T23:58:60.999999-15:59',
      '2021-03-28T01:00:00+00:00',
      '2020-02-29T12:34:56.7Z',
      '2400-02-29T00:00Z',
      '2000-01-01T00:00Z',
      '1999-12-31T23:59:59.999999Z',
      '1970-01-01T00:00Z',
      '1600-03-01T00:00-03:00',
      '0001-01-01T00:00Z',
      '0001-01-01T00:00+15:59',
      '9999-12-31T23:59:59.999999+00:00',
      '9999-12-31T23:58:60.000001-15:59',
      ...fuzz,
    ];
    await copy('instants', 'i bigint, t timestamptz', (out) => {
      values.forEach((v, i) => {
        out.row(2);
        out.int8(i + 1);
        expect(out.timestamptz(v), v).toBe('ok');
      });
    });
    const { rows } = await client.query<{ i: string; v: string; same: boolean }>(
      `select n.i, e.v, n.t = e.v::timestamptz as same
         from pg_temp.instants n join unnest($1::text[]) with ordinality as e(v, i) on e.i = n.i
        order by n.i`,
      [values],
    );
    expect(rows).toHaveLength(values.length);
    expect(rows.filter((r) => !r.same)).toEqual([]);
  });

  it('refuses a timestamp that PostgreSQL refuses, and leaves other forms to the caller', async () => {
    const out = new BinaryCopyWriter();
    const outOfRange = [
      '2021-02-29T00:00Z',
      '2100-02-29T00:00Z',
      '2021-04-31T00:00Z',
      '0000-01-01T00:00Z',
      '2021-00-01T00:00Z',
      '2021-13-01T00:00Z',
      '2021-01-00T00:00Z',
      '2021-01-01T25:00Z',
      '2021-01-01T24:00:01Z',
      '2021-01-01T24:00:00.000001Z',
      '2021-01-01T24:01Z',
      '2021-01-01T00:60Z',
      '2021-01-01T00:00:61Z',
      '2021-01-01T23:59:60.000001Z',
      '2021-01-01T23:59:60.5+01:00',
      '2021-01-01T00:00+16:00',
      '2021-01-01T00:00-16:00',
      '2021-01-01T00:00+14:60',
    ];
    for (const v of outOfRange) {
      expect(out.timestamptz(v), v).toBe('range');
      await expect(client.query('select $1::timestamptz', [v]), v).rejects.toMatchObject({
        code: expect.stringMatching(/^2200[89]$/),
      });
    }
    const otherForms = [
      '',
      '2021-01-01',
      '2021-01-01T00:00',
      '2021-01-01 00:00Z',
      '2021-01-01t00:00Z',
      '2021-01-01T00:00z',
      '2021-01-01T00:00:00.1234567Z',
      '2021-01-01T00:00:00.Z',
      '2021-01-01T00:00:0Z',
      '2021-1-01T00:00Z',
      '2021-01-01T00:00+0100',
      '2021-01-01T00:00+01',
      '2021-01-01T00:00+01:00 ',
      '+2021-01-01T00:00Z',
      '20210-01-01T00:00Z',
      '2021-01-01T00:00ZZ',
      '2021/01/01T00:00Z',
      'Fri, 01 Jan 2021 00:00:00 GMT',
    ];
    for (const v of otherForms) {
      expect(out.timestamptz(v), v).toBe('syntax');
      expect(isoWithZone.test(v), v).toBe(false);
    }
    for (const v of outOfRange) expect(isoWithZone.test(v), v).toBe(true);
  });

  it('writes Date instants, bigints, uuids and UTF-8 text exactly', async () => {
    const dates = [0, -1, 1, 946_684_800_000, 946_684_799_999, -62_135_596_800_000, 8.64e15, 1e13, -1e13, -2e14];
    const texts = ['actual', '', 'emöp ✓ 𝄞', 'tab\tnew\nline\\back\rslash', '\ud800 lone', 'x'.repeat(70_000)];
    const ids = ['00000000-0000-4000-8000-000000000000', 'FFFFFFFF-ffff-4fff-bfff-0123456789AB'];
    const bigints = [1, 0, -5, 2 ** 32, 2 ** 32 - 1, -(2 ** 32), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const count = Math.max(dates.length, texts.length, ids.length, bigints.length);
    await copy('mixed', 'i bigint, t timestamptz, s text, u uuid, n bigint', (out) => {
      for (let i = 0; i < count; i++) {
        out.row(5);
        out.int8(i + 1);
        if (i < dates.length) expect(out.timestamptzFromMillis(dates[i]!)).toBe(true);
        else out.null();
        if (i < texts.length) out.text(texts[i]!);
        else out.null();
        if (i < ids.length) out.uuid(uuidBytes(ids[i]!));
        else out.null();
        if (i < bigints.length) out.int8(bigints[i]!);
        else out.null();
      }
    });
    const { rows } = await client.query<{ ms: string | null; s: string | null; u: string | null; n: string | null }>(
      `select (extract(epoch from t) * 1000)::numeric::text as ms, s, u::text, n::text from pg_temp.mixed order by i`,
    );
    expect(rows.map((r) => (r.ms === null ? null : Number(r.ms)))).toEqual([
      ...dates,
      ...Array(count - dates.length).fill(null),
    ]);
    const sent = await client.query<{ s: string }>('select unnest($1::text[]) as s', [texts]);
    expect(rows.slice(0, texts.length).map((r) => r.s)).toEqual(sent.rows.map((r) => r.s));
    expect(rows.slice(0, ids.length).map((r) => r.u)).toEqual(ids.map((id) => id.toLowerCase()));
    expect(rows.slice(0, bigints.length).map((r) => r.n)).toEqual(bigints.map(String));
    // before 4714 BC, PostgreSQL's first day, a Date has no timestamptz
    expect(new BinaryCopyWriter().timestamptzFromMillis(-8.64e15)).toBe(false);
    expect(new BinaryCopyWriter().timestamptzFromMillis(Number.NaN)).toBe(false);
  });
});
