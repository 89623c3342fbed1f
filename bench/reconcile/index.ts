// bench/reconcile: a camt.053.001.11 file with N credit lines, each quoting one of N accounts' payment references
// (in assorted spellings), parsed, imported through public.bank_import_statement and matched by
// internal.bank_reconcile — against the baseline measured in the same run: a plain COPY of the same rows into
// a table like public.bank_transactions (defaults, checks, indexes; no foreign keys). Goal: within 5× the plain insert.
//
//   npm run bench -- reconcile                  50,000 lines against 50,000 accounts (the size)
//   npm run bench -- reconcile --lines 5000     smaller
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { importStatement, parseStatementFile } from '../../src/bank/import.ts';
import { loadConfig } from '../../src/config.ts';
import { one, withClient } from '../../src/db/client.ts';
import { createMigratedDatabase, dropDatabases, openScratchServer } from '../../src/db/provision.ts';
import { createLogger } from '../../src/log.ts';

const { values } = parseArgs({
  options: { lines: { type: 'string', default: '50000' }, explain: { type: 'boolean', default: false } },
});
const lines = Number(values.lines);
const config = loadConfig(['database', 'roles']);
const log = createLogger(config.runtime, 'command');
const server = await openScratchServer(config.database, log);
const prefix = `flows_bench_${randomBytes(3).toString('hex')}`;
const IBAN = 'GB33BUKB20201555555555';

const reference = (i: number) => `BR-${String(i).padStart(7, '0')}`;
const spelling = (i: number) => {
  const r = reference(i);
  switch (i % 4) {
    case 0:
      return `${r} ENERGY BILL`;
    case 1:
      return `ref ${r.toLowerCase().replace('-', ' ')}`;
    case 2:
      return `PAYMENT ${r.replace('-', '')}`;
    default:
      return `Bill/${r}/Oct`;
  }
};
const pence = (i: number) => 1000 + ((i * 37) % 20000);
const amount = (p: number) => `${Math.floor(p / 100)}.${String(p % 100).padStart(2, '0')}`;

function camt(): string {
  const total = Array.from({ length: lines }, (_, i) => pence(i)).reduce((a, b) => a + b, 0);
  const entries = Array.from(
    { length: lines },
    (_, i) => `<Ntry><Amt Ccy="GBP">${amount(pence(i))}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2026-10-${String(1 + (i % 28)).padStart(2, '0')}</Dt></BookgDt><ValDt><Dt>2026-10-${String(1 + (i % 28)).padStart(2, '0')}</Dt></ValDt>
<AcctSvcrRef>BR${i}</AcctSvcrRef><NtryDtls><TxDtls><Amt Ccy="GBP">${amount(pence(i))}</Amt><RltdPties><Dbtr><Pty><Nm>Payer ${i}</Nm></Pty></Dbtr></RltdPties>
<RmtInf><Ustrd>${spelling(i)}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.11"><BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-11-01T00:00:00Z</CreDtTm></GrpHdr>
<Stmt><Id>BENCH-1</Id><FrToDt><FrDtTm>2026-10-01T00:00:00Z</FrDtTm><ToDtTm>2026-10-31T23:59:59Z</ToDtTm></FrToDt>
<Acct><Id><IBAN>${IBAN}</IBAN></Id><Ccy>GBP</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">${amount(total)}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-31</Dt></Dt></Bal>
${entries.join('\n')}
</Stmt></BkToCstmrStmt></Document>`;
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en-GB')} lines/s`;

try {
  const url = await createMigratedDatabase(server.serverUrl, `${prefix}_reconcile`, { roles: config.roles, log });
  await withClient(url, async (c) => {
    const esco = await one<{ id: string }>(
      c,
      `insert into flows.escos (code, name) values ('BENCH', 'Bench') returning id`,
    );
    await c.query(`insert into public.esco_bank_accounts (esco, name, iban) values ($1, 'Client', $2)`, [
      esco.id,
      IBAN,
    ]);
    await c.query(
      `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
       select $1, 'A' || i, 'credit', 'BR-' || lpad(i::text, 7, '0') from generate_series(0, $2 - 1) i`,
      [esco.id, lines],
    );
    await c.query('analyze public.accounts');
  });
  const xml = Buffer.from(camt());
  process.stdout.write(
    `lines: ${lines.toLocaleString('en-GB')}, accounts: ${lines.toLocaleString('en-GB')}, file: ${(xml.length / 1e6).toFixed(1)} MB\n`,
  );

  let t = process.hrtime.bigint();
  const document = parseStatementFile(xml, { fileName: 'bench.xml' });
  const parseS = seconds(t);

  // Baseline: a plain COPY of the same rows into a table like bank_transactions (its defaults, checks and indexes;
  // no foreign keys, triggers, validation or matching).
  const entries = document.statements[0]!.entries;
  const copyS = await withClient(url, async (c) => {
    await c.query(`create table public.bench_plain (like public.bank_transactions including all)`);
    const statementId = '00000000-0000-0000-0000-000000000000';
    const text = entries
      .map(
        (e, i) =>
          `${statementId}\t${statementId}\t${statementId}\tref:${e.entry_reference}\t${i + 1}\t${e.entry_reference}\t${e.booking_date}\t${e.value_date}\tt\t${e.amount}\tGBP\tf\t\\N\t${e.counterparty_name}\t\\N\t${e.remittance_information}\t\\N\tunmatched\n`,
      )
      .join('');
    const start = process.hrtime.bigint();
    await pipeline(
      Readable.from([text]),
      c.query(
        copyFrom(`copy public.bench_plain (esco, statement, bank_account, identity, position, entry_reference, booking_date,
                  value_date, booked, amount, currency, reversal, bank_transaction_code, counterparty_name,
                  counterparty_account, remittance_information, end_to_end_id, status) from stdin`),
      ),
    );
    return seconds(start);
  });

  const pool = new pg.Pool({ connectionString: url, max: 2 });
  let importS: number;
  let matchS: number;
  let matched: number;
  try {
    t = process.hrtime.bigint();
    const result = await importStatement(pool, 'BENCH', document);
    importS = seconds(t);
    if (result.lines !== lines) throw new Error(`imported ${result.lines} lines, expected ${lines}`);
    t = process.hrtime.bigint();
    if (values.explain) {
      // the plans of the matching statement (auto_explain), in a transaction rolled back
      const c = await pool.connect();
      try {
        c.on('notice', (n) => process.stdout.write(`${n.message}\n`));
        await c.query(`load 'auto_explain'`);
        await c.query(`set auto_explain.log_min_duration = 0`);
        await c.query(`set auto_explain.log_analyze = off`);
        await c.query(`set auto_explain.log_min_duration = 200`);
        await c.query(`set auto_explain.log_nested_statements = on`);
        await c.query(`set auto_explain.log_level = notice`);
        await c.query(`begin`);
        await c.query(`select internal.bank_reconcile()`);
        await c.query(`rollback`);
      } finally {
        c.release();
      }
    }
    const r = await one<{ r: { matched: number } }>(pool, `select internal.bank_reconcile() as r`);
    matchS = seconds(t);
    matched = r.r.matched;
  } finally {
    await pool.end();
  }
  const total = importS + matchS;
  process.stdout.write(
    [
      `parse (TypeScript):      ${parseS.toFixed(2)} s  ${rate(lines, parseS)}`,
      `import (RPC, validated): ${importS.toFixed(2)} s  ${rate(lines, importS)}`,
      `match (reference rule):  ${matchS.toFixed(2)} s  ${rate(lines, matchS)}  matched ${matched.toLocaleString('en-GB')}`,
      `import + match:          ${total.toFixed(2)} s  ${rate(lines, total)}`,
      `baseline plain COPY:     ${copyS.toFixed(2)} s  ${rate(lines, copyS)}`,
      `import + match / plain:  ${(total / copyS).toFixed(1)}× (goal ≤ 5×)`,
      '',
    ].join('\n'),
  );
  if (matched !== lines) throw new Error(`matched ${matched} of ${lines}`);
} finally {
  await dropDatabases(server.serverUrl, prefix);
  await server.stop();
}
