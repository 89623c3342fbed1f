// Bank CSV statements read through a column-mapping profile (data, not code: src/bank/profiles/*.json ship the
// two common shapes; operators add their bank's as a JSON file). Every row is checked — dates, exact amounts,
// and the running balance (previous balance + amount = balance) — and every problem names its line.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Statement, StatementEntry, StatementProblem } from './document.ts';
import { fromPence, isIsoDate, toPence } from './money.ts';

export const csvProfileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/),
    description: z.string().optional(),
    delimiter: z.string().length(1).default(','),
    date_format: z.enum(['DD/MM/YYYY', 'YYYY-MM-DD', 'DD MMM YYYY', 'DD-MMM-YYYY']),
    order: z.enum(['oldest_first', 'newest_first']).default('oldest_first'),
    currency: z.string().regex(/^[A-Z]{3}$/),
    columns: z.object({
      date: z.string(),
      description: z.string(),
      amount: z.string().optional(),
      paid_in: z.string().optional(),
      paid_out: z.string().optional(),
      balance: z.string().optional(),
      type: z.string().optional(),
      reference: z.string().optional(),
      counterparty: z.string().optional(),
    }),
  })
  .refine(
    (p) => (p.columns.amount === undefined) !== (p.columns.paid_in === undefined || p.columns.paid_out === undefined),
    {
      message: 'a profile has either an amount column or both paid_in and paid_out columns',
    },
  );
export type CsvProfile = z.infer<typeof csvProfileSchema>;

const shipped = ['signed-amount', 'paid-in-out'] as const;

/** A shipped profile by name, or a profile file (JSON) by path. */
export function loadCsvProfile(nameOrPath: string): CsvProfile {
  const file = (shipped as readonly string[]).includes(nameOrPath)
    ? new URL(`./profiles/${nameOrPath}.json`, import.meta.url)
    : nameOrPath;
  return csvProfileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

interface Record_ {
  line: number;
  fields: string[];
}

/** RFC 4180 records with the line each starts on; an unterminated quote is a problem (a truncated file). */
export function splitCsv(text: string, delimiter: string): { records: Record_[]; problem?: StatementProblem } {
  const records: Record_[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let quoteLine = 0;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      quoteLine = line;
      any = true;
    } else if (c === delimiter) {
      fields.push(field);
      field = '';
      any = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      if (any || field !== '') records.push({ line: start, fields });
      fields = [];
      field = '';
      any = false;
      line++;
      start = line;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted)
    return { records, problem: { where: `line ${quoteLine}`, message: 'unterminated quoted field (truncated file?)' } };
  if (any || field !== '') {
    fields.push(field);
    records.push({ line: start, fields });
  }
  return { records };
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

function isoDate(value: string, format: CsvProfile['date_format']): string | null {
  let m: RegExpExecArray | null;
  let iso: string | null = null;
  if (format === 'DD/MM/YYYY' && (m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value))) iso = `${m[3]}-${m[2]}-${m[1]}`;
  if (format === 'YYYY-MM-DD' && /^\d{4}-\d{2}-\d{2}$/.test(value)) iso = value;
  if (
    (format === 'DD MMM YYYY' || format === 'DD-MMM-YYYY') &&
    (m = /^(\d{1,2})[ -]([A-Za-z]{3})[ -](\d{4})$/.exec(value))
  ) {
    const month = MONTHS.indexOf(m[2]!.toUpperCase());
    if (month >= 0) iso = `${m[3]}-${String(month + 1).padStart(2, '0')}-${m[1]!.padStart(2, '0')}`;
  }
  return iso !== null && isIsoDate(iso) ? iso : null;
}

/** '£1,234.50', '-12', '(12.00)' → pence; '' → null; undefined when not an exact amount. */
function amountOf(value: string): bigint | null | undefined {
  let v = value.trim().replace(/[£,\s]/g, '');
  if (v === '') return null;
  let negative = false;
  if (/^\(.*\)$/.test(v)) {
    negative = true;
    v = v.slice(1, -1);
  }
  const p = toPence(v);
  if (p === undefined) return undefined;
  return negative ? -p : p;
}

export interface CsvResult {
  statements: Statement[];
  problems: StatementProblem[];
}

export interface CsvAccount {
  iban?: string | null;
  sort_code?: string | null;
  account_number?: string | null;
}

export function parseBankCsv(text: string, profile: CsvProfile, account: CsvAccount = {}): CsvResult {
  const problems: StatementProblem[] = [];
  const { records, problem } = splitCsv(text.replace(/^\uFEFF/, ''), profile.delimiter);
  if (problem) return { statements: [], problems: [problem] };
  const header = records.shift();
  if (!header) return { statements: [], problems: [{ where: 'line 1', message: 'empty file' }] };
  const names = header.fields.map((f) => f.trim());
  const index = (column: string | undefined): number | undefined => {
    if (column === undefined) return undefined;
    const i = names.findIndex((n) => n.toLowerCase() === column.toLowerCase());
    if (i < 0)
      problems.push({ where: `line ${header.line}`, message: `missing column "${column}" (profile ${profile.name})` });
    return i < 0 ? undefined : i;
  };
  const c = profile.columns;
  const col = {
    date: index(c.date),
    description: index(c.description),
    amount: index(c.amount),
    paidIn: index(c.paid_in),
    paidOut: index(c.paid_out),
    balance: index(c.balance),
    type: index(c.type),
    reference: index(c.reference),
    counterparty: index(c.counterparty),
  };
  if (problems.length > 0) return { statements: [], problems };

  interface Row {
    line: number;
    date: string;
    pence: bigint;
    balance: bigint | null;
    fields: string[];
  }
  const rows: Row[] = [];
  for (const r of records) {
    const where = `line ${r.line}`;
    if (r.fields.length !== names.length) {
      problems.push({ where, message: `expected ${names.length} fields, got ${r.fields.length}` });
      continue;
    }
    const get = (i: number | undefined) => (i === undefined ? '' : r.fields[i]!.trim());
    const date = isoDate(get(col.date), profile.date_format);
    if (date === null)
      problems.push({ where, message: `date "${get(col.date)}" is not a valid ${profile.date_format} date` });
    let pence: bigint | null | undefined;
    if (col.amount !== undefined) {
      pence = amountOf(get(col.amount));
      if (pence === undefined || pence === null || pence === 0n) {
        problems.push({ where, message: `amount "${get(col.amount)}" is not an exact non-zero amount` });
        pence = undefined;
      }
    } else {
      const paidIn = amountOf(get(col.paidIn));
      const paidOut = amountOf(get(col.paidOut));
      if (
        paidIn === undefined ||
        paidOut === undefined ||
        (paidIn === null) === (paidOut === null) ||
        paidIn === 0n ||
        paidOut === 0n
      ) {
        problems.push({
          where,
          message: `exactly one of paid in "${get(col.paidIn)}" and paid out "${get(col.paidOut)}" must be an exact non-zero amount`,
        });
        pence = undefined;
      } else pence = paidIn !== null ? (paidIn < 0n ? -paidIn : paidIn) : -(paidOut! < 0n ? -paidOut! : paidOut!);
    }
    let balance: bigint | null = null;
    if (col.balance !== undefined) {
      const b = amountOf(get(col.balance));
      if (b === undefined || b === null)
        problems.push({ where, message: `balance "${get(col.balance)}" is not an exact amount` });
      else balance = b;
    }
    if (date !== null && pence !== undefined && pence !== null)
      rows.push({ line: r.line, date, pence, balance, fields: r.fields });
  }
  if (rows.length === 0 && problems.length === 0) problems.push({ where: 'line 2', message: 'no transactions' });
  if (problems.length > 0) return { statements: [], problems };

  const ordered = profile.order === 'newest_first' ? [...rows].reverse() : rows;
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]!.date < ordered[i - 1]!.date) {
      problems.push({
        where: `line ${ordered[i]!.line}`,
        message: `date ${ordered[i]!.date} is out of order (profile order ${profile.order})`,
      });
    }
  }
  let opening: bigint | null = null;
  let closing: bigint | null = null;
  if (col.balance !== undefined) {
    opening = ordered[0]!.balance! - ordered[0]!.pence;
    let running = opening;
    for (const row of ordered) {
      running += row.pence;
      if (running !== row.balance) {
        problems.push({
          where: `line ${row.line}`,
          message: `running balance does not reconcile: expected ${fromPence(running)}, the file says ${fromPence(row.balance!)}`,
        });
        running = row.balance!;
      }
    }
    closing = ordered[ordered.length - 1]!.balance;
  }
  const get = (row: Row, i: number | undefined) => (i === undefined ? null : row.fields[i]!.trim() || null);
  const entries: StatementEntry[] = ordered.map((row) => ({
    path: `line ${row.line}`,
    entry_reference: null,
    booking_date: row.date,
    value_date: null,
    booked: true,
    amount: fromPence(row.pence),
    currency: profile.currency,
    reversal: false,
    bank_transaction_code: get(row, col.type),
    counterparty_name: get(row, col.counterparty),
    counterparty_account: null,
    remittance_information:
      [get(row, col.description), get(row, col.reference)].filter((x) => x !== null).join(' ') || null,
    end_to_end_id: null,
  }));
  return {
    problems,
    statements: [
      {
        path: 'line 1',
        statement_ref: null,
        iban: account.iban ?? null,
        sort_code: account.sort_code ?? null,
        account_number: account.account_number ?? null,
        currency: profile.currency,
        period_from: ordered[0]!.date,
        period_to: ordered[ordered.length - 1]!.date,
        opening_balance: opening === null ? null : fromPence(opening),
        closing_balance: closing === null ? null : fromPence(closing),
        entries,
      },
    ],
  };
}
