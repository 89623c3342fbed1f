// bench/ingest: one month of half-hourly data for N registers through the one ingest path
// (src/db/ingest.ts → internal.ingest_staged_intervals), against two baselines measured in the same
// run, each a raw COPY of the same rows into an identical table (same columns, defaults, CHECK
// constraints and monthly partitions) without indexes or triggers:
//   - text format, COPY's default, as a client (or psql's \copy) would load the rows: the issue's
//     "raw COPY", which the goal (issue 3: at least half its rate) is measured against;
//   - binary format with the same encoder as the ingest path (src/db/copy-binary.ts), printed beside it:
//     like for like, it shows what staging, validation, the index and idempotency cost on their own
//     (docs/decisions/0007). Client and server work do not overlap on any side.
//
//   npm run bench -- ingest                      1,000 registers (1.44 M rows)
//   npm run bench -- ingest --registers 10000    the full size (14.4 M rows)
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { from as copyFrom } from 'pg-copy-streams';
import { loadConfig } from '../../src/config.ts';
import { withClient, withTransaction } from '../../src/db/client.ts';
import { BinaryCopyWriter, uuidBytes } from '../../src/db/copy-binary.ts';
import { ingestIntervals, type IntervalRow } from '../../src/db/ingest.ts';
import { createMigratedDatabase, dropDatabases, openScratchServer } from '../../src/db/provision.ts';
import { createLogger } from '../../src/log.ts';

const { values } = parseArgs({
  options: {
    registers: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '48000' },
  },
});
const registerCount = Number(values.registers);
const days = 30; // one month: June 2026, one partition, no clock change
const batchSize = Number(values.batch);
const rowsPerRegister = days * 48;
const totalRows = registerCount * rowsPerRegister;
const monthStart = Date.UTC(2026, 5, 1);

const config = loadConfig(['database', 'roles']);
const log = createLogger(config.runtime, 'command');
const server = await openScratchServer(config.database, log);
const prefix = `flows_bench_${randomBytes(3).toString('hex')}`;

try {
  const url = await createMigratedDatabase(server.serverUrl, `${prefix}_ingest`, { roles: config.roles, log });
  const registerIds = await createRegisters(url, registerCount);
  process.stdout.write(`registers: ${registerCount}, rows: ${totalRows.toLocaleString('en-GB')} (${days} days)\n`);

  const value = (r: number, slot: number) => `${(0.1 + ((r * 7 + slot * 13) % 900) / 1000).toFixed(3)}`;
  const rowsOfRegisters = (from: number, to: number): IntervalRow[] => {
    const rows: IntervalRow[] = [];
    for (let r = from; r < to; r++) {
      for (let slot = 0; slot < rowsPerRegister; slot++) {
        rows.push({
          registerId: registerIds[r]!,
          timestamp: new Date(monthStart + slot * 1_800_000).toISOString(),
          importKwh: value(r, slot),
          exportKwh: null,
          quality: 'actual',
          source: 'bench',
        });
      }
    }
    return rows;
  };
  const registersPerBatch = Math.max(1, Math.floor(batchSize / rowsPerRegister));

  // Baselines: raw COPY into identical tables (same columns, defaults, CHECK constraints and monthly
  // partitions) without indexes or triggers, one per format.
  await withClient(url, async (client) => {
    for (const table of ['bench_raw_text', 'bench_raw_binary']) {
      await client.query(`create table public.${table}
                            (like flows.register_interval_hh including defaults including constraints)
                          partition by range ("timestamp")`);
      await client.query(`create table public.${table}_m partition of public.${table}
                          for values from ('2026-06-01') to ('2026-07-01')`);
    }
  });
  const rawColumns = '(register_id, "timestamp", import_kwh, export_kwh, quality, source)';
  const rawTextSql = `copy public.bench_raw_text ${rawColumns} from stdin`;
  const rawBinarySql = `copy public.bench_raw_binary ${rawColumns} from stdin with (format binary)`;
  const registerBytes = new Map(registerIds.map((id) => [id, uuidBytes(id)]));

  // Batch by batch, the baselines and then the ingest path get the same rows, so all see the same
  // load on a shared machine. Each side's clock runs from the rows in memory to the rows stored,
  // serialising included; making up the rows counts for neither.
  let textSeconds = 0;
  let binarySeconds = 0;
  let ingestSeconds = 0;
  await withClient(url, async (copyClient) => {
    await withClient(url, async (ingestClient) => {
      for (let r = 0; r < registerCount; r += registersPerBatch) {
        const rows = rowsOfRegisters(r, Math.min(registerCount, r + registersPerBatch));
        let started = process.hrtime.bigint();
        const text = rows
          .map(
            (row) =>
              `${row.registerId}\t${String(row.timestamp)}\t${row.importKwh}\t\\N\t${row.quality}\t${row.source}\n`,
          )
          .join('');
        await pipeline(Readable.from([text]), copyClient.query(copyFrom(rawTextSql)));
        textSeconds += Number(process.hrtime.bigint() - started) / 1e9;

        started = process.hrtime.bigint();
        const out = new BinaryCopyWriter(rows.length * 100);
        for (const row of rows) {
          out.row(6);
          out.uuid(registerBytes.get(row.registerId)!);
          out.timestamptz(String(row.timestamp));
          out.numeric(String(row.importKwh));
          out.null();
          out.text(row.quality!);
          out.text(row.source);
        }
        await pipeline(Readable.from([out.finish()]), copyClient.query(copyFrom(rawBinarySql)));
        binarySeconds += Number(process.hrtime.bigint() - started) / 1e9;

        // each batch its own transaction, as the sync job does
        started = process.hrtime.bigint();
        await withTransaction(ingestClient, (tx) => ingestIntervals(tx, rows, { batchSize }));
        ingestSeconds += Number(process.hrtime.bigint() - started) / 1e9;
      }
    });
  });

  const fmt = (n: number) => Math.round(n).toLocaleString('en-GB');
  const ingestRate = totalRows / ingestSeconds;
  const rate = (seconds: number) => totalRows / seconds;
  const textRatio = ingestRate / rate(textSeconds);
  process.stdout.write(
    [
      `ingest path:          ${fmt(ingestRate)} rows/s (${ingestSeconds.toFixed(1)} s)`,
      `raw COPY (text):      ${fmt(rate(textSeconds))} rows/s (${textSeconds.toFixed(1)} s)`,
      `ratio:                ${textRatio.toFixed(2)} of raw COPY (goal ≥ 0.50) ${textRatio >= 0.5 ? 'MET' : 'NOT MET'}`,
      `raw COPY (binary):    ${fmt(rate(binarySeconds))} rows/s (${binarySeconds.toFixed(1)} s)`,
      `  like for like:      ${(ingestRate / rate(binarySeconds)).toFixed(2)} of a raw COPY in the ingest path's own format`,
      '',
    ].join('\n'),
  );
} finally {
  await dropDatabases(server.serverUrl, prefix);
  await server.stop();
}

/** One ESCO, one site, meters with two registers each (element A and B) until `count` registers. */
async function createRegisters(url: string, count: number): Promise<string[]> {
  return withClient(url, async (client) => {
    const esco = await client.query<{ id: string }>(
      `insert into flows.escos (code, name, region) values ('BENCH', 'Bench ESCO', 'J') returning id`,
    );
    const escoId = esco.rows[0]!.id;
    await client.query(
      `insert into flows.meter_registry (esco, serial, ip_address, port)
       select $1, 'BENCH' || lpad(g::text, 6, '0'), '127.0.0.1', 20000 + g from generate_series(1, $2) g`,
      [escoId, Math.ceil(count / 2)],
    );
    const { rows } = await client.query<{ register_id: string }>(
      `insert into flows.meter_registers (meter_id, esco, element, start_time)
       select m.id, m.esco, e.element, '2026-01-01T00:00:00Z'
         from flows.meter_registry m cross join (values ('A'), ('B')) e (element)
        order by m.serial, e.element
        limit $1
       returning register_id`,
      [count],
    );
    return rows.map((r) => r.register_id);
  });
}
