// Importing a bank statement file: read it, hash it, parse it (camt.053 or bank CSV through a profile), and
// hand the parsed document to public.bank_import_statement, which validates again and stores it whole (or
// refuses it whole) and enqueues bank__reconcile. A file with any problem is refused before the database.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { z } from 'zod';
import { one, type Queryable } from '../db/client.ts';
import { parseCamt053 } from './camt053.ts';
import { loadCsvProfile, parseBankCsv, type CsvAccount } from './csv.ts';
import { StatementFileError, type StatementDocument } from './document.ts';

export interface ParseOptions {
  fileName?: string;
  /** CSV only: the profile (shipped name or JSON file path); default signed-amount. */
  profile?: string;
  /** CSV only: the account the file is for (else the ESCO's only bank account). */
  account?: CsvAccount;
}

export function sha256(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Parses a statement file into the import document, or throws StatementFileError listing every problem. */
export function parseStatementFile(content: Buffer, options: ParseOptions = {}): StatementDocument {
  const fileName = options.fileName ?? 'statement';
  const text = content.toString('utf8');
  const hash = sha256(content);
  if (/^\s*(<\?xml|<Document|<[A-Za-z0-9_]+:Document)/.test(text.replace(/^\uFEFF/, ''))) {
    const { version, statements, problems } = parseCamt053(text);
    if (problems.length > 0) throw new StatementFileError(fileName, problems);
    return {
      format: 'camt.053',
      format_version: version,
      file_sha256: hash,
      file_name: basename(fileName),
      statements,
    };
  }
  const profile = loadCsvProfile(options.profile ?? 'signed-amount');
  const { statements, problems } = parseBankCsv(text, profile, options.account);
  if (problems.length > 0) throw new StatementFileError(fileName, problems);
  return { format: 'csv', format_version: profile.name, file_sha256: hash, file_name: basename(fileName), statements };
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

/** Stores a parsed document for an ESCO through public.bank_import_statement (as the connection's role). */
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
