// Importing a bank statement file: read it, hash it, parse it (camt.053, OFX, or bank CSV through a profile), and
// hand the parsed document to the database, which validates again and stores it whole (or refuses it whole) and
// enqueues bank__reconcile: the CLI COPYs the lines into the staging table (importStatementStaged), a role that
// may only call the RPC posts the whole document as JSON (importStatement). A file with any problem is refused
// before the database.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type pg from 'pg';
import { z } from 'zod';
import { one, type Queryable } from '../db/client.ts';
import { parseCamt053 } from './camt053.ts';
import { loadCsvProfile, parseBankCsv, type CsvAccount } from './csv.ts';
import { StatementFileError, type StatementDocument, type StatementFormat } from './document.ts';
import { decodeOfx, looksLikeOfx, parseOfx } from './ofx.ts';
import { stageStatementLines } from './staging.ts';

export interface ParseOptions {
  fileName?: string;
  /** The file's format; by default detected: an OFX header is OFX, other XML camt.053, anything else CSV. */
  format?: StatementFormat;
  /** CSV only: the profile (shipped name or JSON file path); default signed-amount. */
  profile?: string;
  /** CSV only: the account the file is for (else the ESCO's only bank account). */
  account?: CsvAccount;
}

export function sha256(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** The format of a statement file by its first bytes: an OFX header, else XML (camt.053), else a bank CSV. */
export function detectFormat(text: string): StatementFormat {
  if (looksLikeOfx(text)) return 'ofx';
  if (/^\s*(<\?xml|<Document|<[A-Za-z0-9_]+:Document)/.test(text.replace(/^\uFEFF/, ''))) return 'camt.053';
  return 'csv';
}

/** Parses a statement file into the import document, or throws StatementFileError listing every problem. */
export function parseStatementFile(content: Buffer, options: ParseOptions = {}): StatementDocument {
  const fileName = options.fileName ?? 'statement';
  const text = content.toString('utf8');
  const file = { file_sha256: sha256(content), file_name: basename(fileName) };
  const format = options.format ?? detectFormat(text);
  if (format === 'camt.053') {
    const { version, statements, problems } = parseCamt053(text);
    if (problems.length > 0) throw new StatementFileError(fileName, problems);
    return { format, format_version: version, ...file, statements };
  }
  if (format === 'ofx') {
    const { version, statements, problems } = parseOfx(decodeOfx(content));
    if (problems.length > 0) throw new StatementFileError(fileName, problems);
    return { format, format_version: version, ...file, statements };
  }
  const profile = loadCsvProfile(options.profile ?? 'signed-amount');
  const { statements, problems } = parseBankCsv(text, profile, options.account);
  if (problems.length > 0) throw new StatementFileError(fileName, problems);
  return { format, format_version: profile.name, ...file, statements };
}

export const importResult = z.object({
  status: z.enum(['imported', 'duplicate']),
  lines: z.number().int(),
  statements: z.array(
    z.object({
      id: z.string(),
      position: z.number().int(),
      lines: z.number().int(),
      skipped: z.number().int().optional(),
    }),
  ),
});
export type ImportResult = z.infer<typeof importResult>;

/** Stores a parsed document for an ESCO through the RPC public.bank_import_statement (as the connection's role). */
export async function importStatement(
  db: Queryable,
  escoCode: string,
  document: StatementDocument,
): Promise<ImportResult> {
  const { result } = await one<{ result: unknown }>(
    db,
    'select public.bank_import_statement($1, $2::jsonb) as result',
    [escoCode, JSON.stringify(document)],
  );
  return importResult.parse(result);
}

/**
 * Stores a parsed document for an ESCO by COPYing its lines into this session's staging table and passing the rest
 * to internal.bank_import_staged: the same checks and rows as the RPC, several times faster for a large file. Needs
 * one connection with the owner's rights (the CLI's). `onProgress` hears how many lines have been sent.
 */
export async function importStatementStaged(
  client: pg.ClientBase,
  escoCode: string,
  document: StatementDocument,
  options: { onProgress?: (sent: number, total: number) => void } = {},
): Promise<ImportResult> {
  await stageStatementLines(client, document, options.onProgress);
  const header = { ...document, statements: document.statements.map((s) => ({ ...s, entries: [] })) };
  const { result } = await one<{ result: unknown }>(
    client,
    'select internal.bank_import_staged(internal.bank_import_esco($1), $2::jsonb, session_user) as result',
    [escoCode, JSON.stringify(header)],
  );
  return importResult.parse(result);
}
