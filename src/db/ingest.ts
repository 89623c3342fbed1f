// The TypeScript side of the one interval-data ingest path (sql/120_flows_intervals.sql): rows are
// COPYed (binary format, src/db/copy-binary.ts) into this session's pg_temp.interval_hh_staging, one
// COPY per batch, then internal.ingest_staged_intervals() validates, flags and writes them with one
// INSERT (… ON CONFLICT). Used by the sync job, the demo seeder and the ingest benchmark; the REST RPC
// flows.ingest_interval_hh stages its JSON rows into the same table and calls the same function.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { z } from 'zod';
import type pg from 'pg';
import { BinaryCopyWriter, uuidBytes } from './copy-binary.ts';

export interface IntervalRow {
  registerId: string;
  /** Start of the half-hour (on :00 or :30 UTC). */
  timestamp: Date | string;
  /** kWh imported during the half-hour; a decimal string keeps every digit. */
  importKwh: string | number;
  /** kWh exported during the half-hour; null or absent where not measured. */
  exportKwh?: string | number | null;
  quality?: 'actual' | 'estimated';
  /** Where the value came from (emop, demo, api…). */
  source: string;
}

export interface IngestCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  flagged: number;
}

export interface IngestOptions {
  /** Rows per staged batch; each batch is one INSERT statement (default 50,000). */
  batchSize?: number;
}

const countsRow = z.object({
  inserted: z.coerce.number().int(),
  updated: z.coerce.number().int(),
  unchanged: z.coerce.number().int(),
  flagged: z.coerce.number().int(),
});

// The batch goes over as one COPY in binary format (the server parses no text: about 60 % of the time
// of a text COPY); values are checked here first, so a bad one is reported with its row number.
// The columns are in the order the values are checked, so a row with several faults names the same
// one as before.
const copySql = `copy pg_temp.interval_hh_staging
  (row_number, register_id, export_kwh, "timestamp", import_kwh, quality, source) from stdin with (format binary)`;
const copyColumns = 7;

/** A decimal: strings must look like numbers, and are sent digit for digit. */
function decimal(out: BinaryCopyWriter, value: string | number, row: number, column: string): void {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const result = out.numeric(text);
  if (result === 'syntax') throw new IngestInputError(`row ${row}: ${column} is not a number`);
  if (result === 'range') throw new IngestInputError(`row ${row}: ${column} is out of range`);
}

/**
 * An ISO 8601 timestamp with an explicit zone is read exactly as PostgreSQL reads it (to the
 * microsecond); anything else as JavaScript's Date reads it.
 */
function timestamp(out: BinaryCopyWriter, value: Date | string, row: number): void {
  if (typeof value === 'string') {
    const result = out.timestamptz(value);
    if (result === 'ok') return;
    if (result === 'range') throw new IngestInputError(`row ${row}: timestamp is not a valid date`);
  }
  const date = value instanceof Date ? value : new Date(value);
  if (!out.timestamptzFromMillis(date.getTime()))
    throw new IngestInputError(`row ${row}: timestamp is not a valid date`);
}

const uuid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A row that cannot be sent at all (the database rejects the rest with a SQLSTATE). */
export class IngestInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IngestInputError';
  }
}

/**
 * Ingests half-hourly interval rows. Each batch is atomic (one statement); wrap the call in a
 * transaction to make several batches all-or-nothing. Re-ingesting the same rows changes nothing;
 * an estimate never replaces an actual value. A bad row rejects its batch with the row's number
 * (1-based across all rows) in the message: SQLSTATE 22023 (malformed, misaligned, repeated) or
 * PT404 (unknown register, or one the caller may not write). `db` is one connection (COPY and the
 * session's staging table need it), usually inside the caller's transaction.
 */
export async function ingestIntervals(
  db: pg.ClientBase,
  rows: readonly IntervalRow[],
  options: IngestOptions = {},
): Promise<IngestCounts> {
  const batchSize = options.batchSize ?? 50_000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer`);
  const total: IngestCounts = { inserted: 0, updated: 0, unchanged: 0, flagged: 0 };
  const registerIds = new Map<string, Buffer>(); // each distinct id checked and converted once
  for (let start = 0; start < rows.length; start += batchSize) {
    const end = Math.min(rows.length, start + batchSize);
    const out = new BinaryCopyWriter((end - start) * 112);
    for (let i = start; i < end; i++) {
      const r = rows[i]!;
      const row = i + 1;
      let registerId = registerIds.get(r.registerId);
      if (registerId === undefined) {
        if (!uuid.test(r.registerId)) throw new IngestInputError(`row ${row}: registerId is not a uuid`);
        registerId = uuidBytes(r.registerId);
        registerIds.set(r.registerId, registerId);
      }
      out.row(copyColumns);
      out.int8(row);
      out.uuid(registerId);
      if (r.exportKwh === undefined || r.exportKwh === null) out.null();
      else decimal(out, r.exportKwh, row, 'exportKwh');
      timestamp(out, r.timestamp, row);
      decimal(out, r.importKwh, row, 'importKwh');
      out.text(r.quality ?? 'actual');
      // a missing source is staged as null, which the database rejects with the row's number
      if (r.source === undefined || r.source === null) out.null();
      else out.text(r.source);
    }
    await db.query('select internal.open_interval_staging()');
    await pipeline(Readable.from([out.finish()]), db.query(copyFrom(copySql)));
    const { rows: result } = await db.query('select * from internal.ingest_staged_intervals()');
    const counts = countsRow.parse(result[0]);
    total.inserted += counts.inserted;
    total.updated += counts.updated;
    total.unchanged += counts.unchanged;
    total.flagged += counts.flagged;
  }
  return total;
}
