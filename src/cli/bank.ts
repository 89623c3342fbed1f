// `flows bank import <file> --esco <code>`: parses a bank statement (camt.053, OFX, or bank CSV through a profile),
// refuses it whole if anything is wrong (every problem with its line or XML path), else stores it — COPYing its
// lines into the import's staging table — through internal.bank_import_staged (a repeat of the same file is a
// no-op), which enqueues bank__reconcile.
// `flows bank webhook-secret set`: stores the card provider's webhook signing secret, read from standard input
// (never an argument, so it stays out of shell history and process lists; never printed or logged).
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import pg from 'pg';
import { importStatementStaged, parseStatementFile } from '../bank/import.ts';
import { StatementFileError, type StatementFormat } from '../bank/document.ts';
import { loadConfig } from '../config.ts';
import type { Queryable } from '../db/client.ts';
import { openDatabase } from '../db/server.ts';
import { createLogger } from '../log.ts';
import { progressBar } from '../seed/progress.ts';

interface ImportOptions {
  esco: string;
  format?: string;
  profile?: string;
  iban?: string;
  sortCode?: string;
  accountNumber?: string;
}

const formats: StatementFormat[] = ['camt.053', 'ofx', 'csv'];

/** The webhook secret's name in internal.payment_secrets (public.payment_webhook reads it). */
export const WEBHOOK_SECRET_NAME = 'stripe_webhook';

export class WebhookSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookSecretError';
  }
}

/** The secret piped on standard input: one line (a final newline is dropped), 16–512 visible characters. */
export async function readWebhookSecret(input: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<string> {
  if (input.isTTY) {
    throw new WebhookSecretError(
      'pipe the secret on standard input, e.g. printf %s "$STRIPE_WEBHOOK_SECRET" | flows bank webhook-secret set',
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  const secret = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  // The messages never quote the secret.
  if (!/^[\x21-\x7e]+$/.test(secret)) {
    throw new WebhookSecretError('the secret must be one line of visible ASCII characters, without spaces');
  }
  if (secret.length < 16 || secret.length > 512) {
    throw new WebhookSecretError(`the secret must be 16 to 512 characters long (got ${secret.length})`);
  }
  return secret;
}

/** Stores (or replaces) the webhook secret; needs the owner's rights (no web role can read or write it). */
export async function setWebhookSecret(db: Queryable, secret: string): Promise<void> {
  await db.query(
    `insert into internal.payment_secrets (name, value) values ($1, $2)
     on conflict (name) do update set value = excluded.value, created_at = now()`,
    [WEBHOOK_SECRET_NAME, secret],
  );
}

/** `io.stdin`: where `webhook-secret set` reads the secret (tests); standard input by default. */
export function register(program: Command, io: { stdin?: NodeJS.ReadableStream & { isTTY?: boolean } } = {}): void {
  const bank = program.command('bank').description('bank statements: import and reconcile');
  bank
    .command('import <file>')
    .description(
      'import a camt.053 (.02–.13), OFX (1.x, 2.x) or bank CSV statement for an ESCO; re-importing a file is a no-op',
    )
    .requiredOption('--esco <code>', 'the ESCO whose bank account the statement is for')
    .option('--format <format>', 'camt.053, ofx or csv (default: detected from the file)')
    .option('--profile <name-or-file>', 'CSV column-mapping profile: signed-amount, paid-in-out or a JSON file')
    .option('--iban <iban>', 'CSV only: the account the file is for (default: the ESCO’s only bank account)')
    .option('--sort-code <digits>', 'CSV only: sort code of the account')
    .option('--account-number <digits>', 'CSV only: account number of the account')
    .action(async (file: string, options: ImportOptions) => {
      const { runtime, database } = loadConfig(['database']);
      const log = createLogger(runtime, 'command');
      if (options.format !== undefined && !formats.includes(options.format as StatementFormat)) {
        process.stderr.write(`--format must be one of ${formats.join(', ')}\n`);
        process.exitCode = 1;
        return;
      }
      const content = await readFile(file);
      // on a terminal: what it is doing, and a bar while the lines go to the database
      const say = (text: string) => {
        if (process.stderr.isTTY) process.stderr.write(text);
      };
      say(`parsing ${file} (${(content.length / 1e6).toFixed(1)} MB)…\n`);
      let document;
      try {
        document = parseStatementFile(content, {
          fileName: file,
          format: options.format as StatementFormat | undefined,
          profile: options.profile,
          account: {
            iban: options.iban ?? null,
            sort_code: options.sortCode ?? null,
            account_number: options.accountNumber ?? null,
          },
        });
      } catch (error) {
        if (error instanceof StatementFileError) {
          process.stderr.write(`${file}: rejected, nothing stored:\n`);
          for (const p of error.problems) process.stderr.write(`  ${p.where}: ${p.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw error;
      }
      const lines = document.statements.reduce((n, s) => n + s.entries.length, 0);
      const db = await openDatabase(database, log);
      const pool = new pg.Pool({ connectionString: db.adminUrl, max: 1 });
      try {
        const client = await pool.connect();
        const result = await importStatementStaged(client, options.esco, document, {
          onProgress: (sent, total) => {
            say(`\rsending lines ${progressBar(sent, total)}`);
            if (sent === total) say(`\nchecking and storing ${total} lines…\n`);
          },
        }).finally(() => client.release());
        process.stdout.write(
          `${JSON.stringify({ file, format: document.format_version, parsed_lines: lines, ...result }, null, 2)}\n`,
        );
      } finally {
        await pool.end();
        await db.release();
      }
    });

  bank
    .command('webhook-secret')
    .description('the card payment provider’s webhook signing secret')
    .command('set')
    .description('store the webhook signing secret read from standard input (replaces the previous one)')
    .action(async () => {
      const secret = await readWebhookSecret(io.stdin ?? process.stdin);
      const { runtime, database } = loadConfig(['database']);
      const log = createLogger(runtime, 'command');
      const db = await openDatabase(database, log);
      const pool = new pg.Pool({ connectionString: db.adminUrl, max: 1 });
      try {
        await setWebhookSecret(pool, secret);
        log.info({ name: WEBHOOK_SECRET_NAME }, 'webhook secret set');
        process.stdout.write(`webhook secret ${WEBHOOK_SECRET_NAME} set\n`);
      } finally {
        await pool.end();
        await db.release();
      }
    });
}
