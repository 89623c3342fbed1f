// The TypeScript side of the one interval-data ingest path (sql/120_flows_intervals.sql): rows are
// COPYed into this session's pg_temp.interval_hh_staging, one COPY per batch, then
// internal.ingest_staged_intervals() validates, flags and writes them with one INSERT (… ON CONFLICT).
// Used by the sync job, the demo seeder and the ingest benchmark; the REST RPC
// flows.ingest_interval_hh stages its JSON rows into the same table and calls the same function.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { z } from 'zod';
import type pg from 'pg';

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

// The batch goes over as one COPY in text format (several times faster than array parameters);
// values are checked here first, so a bad one is reported with its row number.
const copySql = `copy pg_temp.interval_hh_staging
  (row_number, register_id, "timestamp", import_kwh, export_kwh, quality, source) from stdin`;

const copyEscapes: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const copySpecial = /[\\\t\n\r]/;

/** A text value in COPY's text format: backslash, tab and line breaks escaped. */
function copyText(value: string): string {
  // the test first: most values need no escape, and replace with a callback costs more than the row
  return copySpecial.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => copyEscapes[c]!) : value;
}

/** A decimal as text: strings must look like numbers. */
function decimal(value: string | number, row: number, column: string): string {
  const text = typeof value === 'number' ? String(value) : value.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new IngestInputError(`row ${row}: ${column} is not a number`);
  }
  return text;
}

/** An ISO 8601 timestamp with an explicit zone, which PostgreSQL reads exactly as JavaScript would. */
const isoWithZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

function timestamp(value: Date | string, row: number): string {
  if (typeof value === 'string' && isoWithZone.test(value)) return value;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new IngestInputError(`row ${row}: timestamp is not a valid date`);
  return date.toISOString();
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
  for (let start = 0; start < rows.length; start += batchSize) {
    const end = Math.min(rows.length, start + batchSize);
    let text = '';
    for (let i = start; i < end; i++) {
      const r = rows[i]!;
      const row = i + 1;
      if (!uuid.test(r.registerId)) throw new IngestInputError(`row ${row}: registerId is not a uuid`);
      const exported =
        r.exportKwh === undefined || r.exportKwh === null ? '\\N' : decimal(r.exportKwh, row, 'exportKwh');
      text += `${row}\t${r.registerId}\t${timestamp(r.timestamp, row)}\t${decimal(r.importKwh, row, 'importKwh')}\t${exported}\t${copyText(r.quality ?? 'actual')}\t${copyText(r.source)}\n`;
    }
    await db.query('select internal.open_interval_staging()');
    await pipeline(Readable.from([text]), db.query(copyFrom(copySql)));
    const { rows: result } = await db.query('select * from internal.ingest_staged_intervals()');
    const counts = countsRow.parse(result[0]);
    total.inserted += counts.inserted;
    total.updated += counts.updated;
    total.unchanged += counts.unchanged;
    total.flagged += counts.flagged;
  }
  return total;
}
