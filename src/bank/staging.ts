// The COPY half of the statement import (sql/410_payments_import.sql): a parsed document's lines go into this
// session's pg_temp.bank_line_staging with one COPY in text format, then internal.bank_import_staged validates
// and stores the statements with them (one INSERT for all the lines). The JSON RPC stages the same table.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { StatementDocument } from './document.ts';

const copySql = `copy pg_temp.bank_line_staging
  (statement_position, position, path, entry_reference, booking_date, value_date, booked, amount, currency, reversal,
   bank_transaction_code, counterparty_name, counterparty_account, remittance_information, end_to_end_id) from stdin`;

const copyEscapes: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value in COPY's text format: null as \N, backslash, tab and line breaks escaped. */
export function copyText(value: string | boolean | number | null): string {
  if (value === null) return '\\N';
  return String(value).replace(/[\\\t\n\r]/g, (c) => copyEscapes[c]!);
}

/** Lines per chunk of the COPY stream (and per progress report). */
const chunkLines = 2_000;

/**
 * Empties this session's staging table and COPYs the document's lines into it, streamed in chunks; `onProgress`
 * hears how many lines have gone out of how many.
 */
export async function stageStatementLines(
  client: pg.ClientBase,
  document: StatementDocument,
  onProgress?: (sent: number, total: number) => void,
): Promise<number> {
  await client.query('select internal.open_bank_staging()');
  const lines = document.statements.flatMap((statement, s) => statement.entries.map((e, i) => ({ s, i, e })));
  function* chunks(): Generator<string> {
    for (let start = 0; start < lines.length; start += chunkLines) {
      let text = '';
      for (const { s, i, e } of lines.slice(start, start + chunkLines)) {
        text +=
          [
            s + 1,
            i + 1,
            e.path,
            e.entry_reference,
            e.booking_date,
            e.value_date,
            e.booked,
            e.amount,
            e.currency,
            e.reversal,
            e.bank_transaction_code,
            e.counterparty_name,
            e.counterparty_account,
            e.remittance_information,
            e.end_to_end_id,
          ]
            .map(copyText)
            .join('\t') + '\n';
      }
      yield text;
      onProgress?.(Math.min(lines.length, start + chunkLines), lines.length);
    }
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(copySql)));
  return lines.length;
}
