// `flows bank import <file> --esco <code>`: parses a bank statement (camt.053 or bank CSV through a profile),
// refuses it whole if anything is wrong (every problem with its line or XML path), else stores it through
// public.bank_import_statement — a repeat of the same file is a no-op — which enqueues bank__reconcile.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import pg from 'pg';
import { importStatement, parseStatementFile } from '../bank/import.ts';
import { StatementFileError } from '../bank/document.ts';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/server.ts';
import { createLogger } from '../log.ts';
import { progressBar } from '../seed/progress.ts';

interface ImportOptions {
  esco: string;
  profile?: string;
  iban?: string;
  sortCode?: string;
  accountNumber?: string;
}

export function register(program: Command): void {
  const bank = program.command('bank').description('bank statements: import and reconcile');
  bank
    .command('import <file>')
    .description('import a camt.053 (.02–.13) or bank CSV statement for an ESCO; re-importing a file is a no-op')
    .requiredOption('--esco <code>', 'the ESCO whose bank account the statement is for')
    .option('--profile <name-or-file>', 'CSV column-mapping profile: signed-amount, paid-in-out or a JSON file')
    .option('--iban <iban>', 'CSV only: the account the file is for (default: the ESCO’s only bank account)')
    .option('--sort-code <digits>', 'CSV only: sort code of the account')
    .option('--account-number <digits>', 'CSV only: account number of the account')
    .action(async (file: string, options: ImportOptions) => {
      const { runtime, database } = loadConfig(['database']);
      const log = createLogger(runtime, 'command');
      const content = await readFile(file);
      const progress = (done: number, total: number) => {
        if (process.stderr.isTTY) process.stderr.write(`\r${progressBar(done, total)}`);
      };
      progress(0, 3);
      let document;
      try {
        document = parseStatementFile(content, {
          fileName: file,
          profile: options.profile,
          account: {
            iban: options.iban ?? null,
            sort_code: options.sortCode ?? null,
            account_number: options.accountNumber ?? null,
          },
        });
      } catch (error) {
        if (error instanceof StatementFileError) {
          process.stderr.write(`\n${file}: rejected, nothing stored:\n`);
          for (const p of error.problems) process.stderr.write(`  ${p.where}: ${p.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw error;
      }
      const lines = document.statements.reduce((n, s) => n + s.entries.length, 0);
      progress(1, 3);
      const db = await openDatabase(database, log);
      const pool = new pg.Pool({ connectionString: db.adminUrl, max: 1 });
      try {
        progress(2, 3);
        const result = await importStatement(pool, options.esco, document);
        progress(3, 3);
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(
          `${JSON.stringify({ file, format: document.format_version, parsed_lines: lines, ...result }, null, 2)}\n`,
        );
      } finally {
        await pool.end();
        await db.release();
      }
    });
}
