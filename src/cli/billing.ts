// `flows billing run --esco WLCE --month 2026-10` (drafts a run here, with a progress bar; `--issue`
// issues it after) and `flows invoice pdf <number> [--out file]`. Both run as the administrator
// (DATABASE_URL or the embedded database).
import fs from 'node:fs/promises';
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig } from '../config.ts';
import { maybeOne, one } from '../db/client.ts';
import { openDatabase } from '../db/server.ts';
import { createLogger } from '../log.ts';
import { progressBar } from '../seed/progress.ts';
import { renderAndStore, renderPending } from '../billing/document.ts';
import { prepareRun, runBilling } from '../billing/run.ts';

async function withPool<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const config = loadConfig(['database']);
  const db = await openDatabase(config.database, createLogger(config.runtime, 'command'));
  const pool = new pg.Pool({ connectionString: db.adminUrl, max: 2 });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
    await db.release();
  }
}

export function register(program: Command): void {
  const billing = program.command('billing').description('billing runs');
  billing
    .command('run')
    .description('draft (or redraft) the invoices and statements of an ESCO for a month, with a progress bar')
    .requiredOption('--esco <code>', 'ESCO code, e.g. WLCE')
    .requiredOption('--month <yyyy-mm>', 'the month, e.g. 2026-10')
    .option('--batch <n>', 'accounts per transaction', '1000')
    .option('--issue', 'issue the drafts when done')
    .action(async (options: { esco: string; month: string; batch: string; issue?: boolean }) => {
      if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(options.month)) throw new Error('--month must be YYYY-MM');
      const batchSize = Number.parseInt(options.batch, 10);
      if (!(batchSize > 0)) throw new Error('--batch must be a positive number');
      await withPool(async (pool) => {
        const runId = await prepareRun(pool, options.esco, `${options.month}-01`, 'cli');
        const tty = process.stdout.isTTY;
        const progress = await runBilling(pool, runId, {
          batchSize,
          onProgress: (p) => {
            const bar = `${progressBar(p.accounts_done, p.accounts_total)} ${p.status}`;
            if (tty) process.stdout.write(`\r${bar}`);
            else process.stdout.write(`${bar}\n`);
          },
        });
        if (tty) process.stdout.write('\n');
        process.stdout.write(
          `run ${runId}: ${progress.status}, ${progress.invoices_drafted} draft(s), ${progress.errors} account(s) with errors\n`,
        );
        if (options.issue && progress.status === 'drafted') {
          const issued = await one<{ n: number }>(pool, `select (public.billing_run_issue($1)).invoices_issued as n`, [
            runId,
          ]);
          const rendered = await renderPending(pool);
          process.stdout.write(`issued ${issued.n}, rendered ${rendered} document(s)\n`);
        }
      });
    });

  const invoice = program.command('invoice').description('invoices');
  invoice
    .command('pdf <number>')
    .description('write the PDF of an issued invoice, statement or credit note (renders it if not stored yet)')
    .option('--out <file>', 'output file (default <number>.pdf)')
    .action(async (number: string, options: { out?: string }) => {
      await withPool(async (pool) => {
        const row = await maybeOne<{ id: string }>(pool, `select id from public.invoices where number = $1`, [number]);
        if (!row) throw new Error(`no issued invoice ${number}`);
        let doc = await maybeOne<{ pdf: Buffer }>(
          pool,
          `select pdf from internal.invoice_documents where invoice = $1`,
          [row.id],
        );
        if (!doc) {
          await renderAndStore(pool, row.id);
          doc = await one<{ pdf: Buffer }>(pool, `select pdf from internal.invoice_documents where invoice = $1`, [
            row.id,
          ]);
        }
        const out = options.out ?? `${number}.pdf`;
        await fs.writeFile(out, doc.pdf);
        process.stdout.write(`${out}: ${doc.pdf.length} bytes\n`);
      });
    });
}
