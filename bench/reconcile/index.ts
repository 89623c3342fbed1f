// bench/reconcile: a camt.053.001.11 file with N credit lines against N accounts with N open invoices (and a
// holder each), parsed, imported (COPY into the staging table, one INSERT) and matched by internal.bank_reconcile
// — against the baseline measured in the same run: a plain COPY (median of three) of the same rows into a table of the same shape
// as public.bank_transactions (its defaults, checks and indexes; no foreign keys, triggers, validation or
// matching). Goal (issue 7): import + match within 5× the plain insert. Also measured, in a second database seeded
// the same way: the floor, the same import and match with every trigger off (session_replication_role = replica:
// no audit entries, receipts, foreign-key checks or live updates — not a correct run, the least the writes cost).
// And a bound no design that writes those rows can beat: the rows the issues require the run to write (the lines, payments, ledger credits,
// allocations, receipts and their jobs, audit entries), inserted again with nothing else (INSERT … SELECT into
// copies of their tables with the same indexes; the run's updates not counted).
//
// The lines exercise the whole cascade and every posting case: 90% quote their account's payment reference in
// assorted spellings (rule reference), 5% give no reference but the holder's name and the exact amount
// (amount_name), 5% give neither but the only open invoice of that amount (unique_amount); one in ten pays
// part of its invoice, one in ten pays one invoice and part of a second (split), one in ten has no invoice
// (all credit). The run checks the outcome (every line matched once, allocations, invoice states, ledger).
//
//   npm run bench -- reconcile                  50,000 lines against 50,000 invoices (the issue's size)
//   npm run bench -- reconcile --lines 5000     smaller
//   npm run bench -- reconcile --profile        also print each statement of the import and the match over 100 ms
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { StatementDocument } from '../../src/bank/document.ts';
import { importStatementStaged, parseStatementFile } from '../../src/bank/import.ts';
import { copyText } from '../../src/bank/staging.ts';
import { loadConfig } from '../../src/config.ts';
import { many, one, withClient } from '../../src/db/client.ts';
import { createMigratedDatabase, dropDatabases, openScratchServer } from '../../src/db/provision.ts';
import { createLogger } from '../../src/log.ts';

const { values } = parseArgs({
  options: { lines: { type: 'string', default: '50000' }, profile: { type: 'boolean', default: false } },
});
const lines = Number(values.lines);
if (!Number.isInteger(lines) || lines < 20) throw new RangeError('--lines must be an integer of at least 20');
const config = loadConfig(['database', 'roles']);
const log = createLogger(config.runtime, 'command');
const server = await openScratchServer(config.database, log);
const prefix = `flows_bench_${randomBytes(3).toString('hex')}`;
const IBAN = 'GB33BUKB20201555555555';

type Rule = 'reference' | 'amount_name' | 'unique_amount';
const ruleOf = (i: number): Rule => (i % 20 === 5 ? 'amount_name' : i % 20 === 15 ? 'unique_amount' : 'reference');
const reference = (i: number) => `BR-${String(i).padStart(7, '0')}`;
/** A surname per account, unique: base-26 letters. */
const surname = (i: number) => {
  let s = '';
  for (let n = i + 26 ** 3; n > 0; n = Math.floor(n / 26)) s = String.fromCharCode(97 + (n % 26)) + s;
  return s[0]!.toUpperCase() + s.slice(1);
};
const FIRST = ['Jane', 'Tomasz', 'Priya', 'Owen', 'Aisha', 'Callum', 'Mei', 'Rhys'];
const holder = (i: number) => `${FIRST[i % FIRST.length]} ${surname(i)}`;
/** The invoice total in pence: unique (≥ £5,000) where rule 3 must find it, else shared by a few accounts. */
const invoicePence = (i: number) => (ruleOf(i) === 'unique_amount' ? 500_000 + i : 1000 + ((i * 37) % 20000));
/** What line i pays: part of its invoice (i % 10 = 3), one invoice and 12.34 of a second (7), else the invoice. */
const linePence = (i: number) => invoicePence(i) + (i % 10 === 3 ? -500 : i % 10 === 7 ? 1234 : 0);
const remittance = (i: number) => {
  if (ruleOf(i) !== 'reference') return 'ELECTRICITY';
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
const payer = (i: number) =>
  ruleOf(i) === 'amount_name' ? `MR ${FIRST[i % FIRST.length]![0]} ${surname(i).toUpperCase()}` : `Payer ${i}`;
const amount = (p: number) => `${Math.floor(p / 100)}.${String(p % 100).padStart(2, '0')}`;

function camt(): string {
  const total = Array.from({ length: lines }, (_, i) => linePence(i)).reduce((a, b) => a + b, 0);
  const entries = Array.from({ length: lines }, (_, i) => {
    const day = `2026-10-${String(1 + (i % 28)).padStart(2, '0')}`;
    return `<Ntry><Amt Ccy="GBP">${amount(linePence(i))}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>${day}</Dt></BookgDt><ValDt><Dt>${day}</Dt></ValDt>
<AcctSvcrRef>BR${i}</AcctSvcrRef><NtryDtls><TxDtls><Amt Ccy="GBP">${amount(linePence(i))}</Amt><RltdPties><Dbtr><Pty><Nm>${payer(i)}</Nm></Pty></Dbtr></RltdPties>
<RmtInf><Ustrd>${remittance(i)}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.11"><BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-11-01T00:00:00Z</CreDtTm></GrpHdr>
<Stmt><Id>BENCH-1</Id><FrToDt><FrDtTm>2026-10-01T00:00:00Z</FrDtTm><ToDtTm>2026-10-31T23:59:59Z</ToDtTm></FrToDt>
<Acct><Id><IBAN>${IBAN}</IBAN></Id><Ccy>GBP</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">${amount(total)}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-31</Dt></Dt></Bal>
${entries.join('\n')}
</Stmt></BkToCstmrStmt></Document>`;
}

/** N accounts, each with a holder; N issued invoices with their ledger debits, as billing writes them. */
async function seed(c: pg.ClientBase, escoId: string): Promise<void> {
  const n = Array.from({ length: lines }, (_, i) => i);
  await c.query(
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
     select $1, 'A' || i, 'credit', r from unnest($2::int[], $3::text[]) as x(i, r)`,
    [escoId, n, n.map(reference)],
  );
  await c.query('analyze public.accounts');
  await c.query(
    `with c as (
       insert into public.customers (esco, name, email)
       select $1, h, 'c' || i || '@example.org' from unnest($2::int[], $3::text[]) as x(i, h)
       returning id, (regexp_match(email, '^c([0-9]+)@'))[1]::int as i)
     insert into public.customer_accounts (customer, account, esco, role)
     select c.id, a.id, $1, 'holder' from c join public.accounts a on a.esco = $1 and a.account_number = 'A' || c.i`,
    [escoId, n, n.map(holder)],
  );
  // i % 10 = 7: two invoices (split payment); 8: none (the payment is all credit); else one.
  const invoices = n.flatMap((i) =>
    i % 10 === 8
      ? []
      : i % 10 === 7
        ? [
            { i, pence: invoicePence(i), due: '2026-10-07' },
            { i, pence: 2000, due: '2026-10-21' },
          ]
        : [{ i, pence: invoicePence(i), due: '2026-10-14' }],
  );
  await c.query(
    `with i as (
       insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                    supply_subtotal, vat, total, issued_at, due_date)
       select $1, a.id, 'invoice', 'issued', 'BINV-' || x.n, '2026-09-01', '2026-10-01', 0, x.total, 0, x.total,
              '2026-09-30 12:00+01', x.due
         from unnest($2::int[], $3::numeric[], $4::date[]) with ordinality as x(i, total, due, n)
         join public.accounts a on a.esco = $1 and a.account_number = 'A' || x.i
       returning id, account, total)
     insert into public.ledger_entries (esco, account, kind, amount, invoice, description)
     select $1, i.account, 'invoice', i.total, i.id, 'Invoice' from i`,
    [escoId, invoices.map((x) => x.i), invoices.map((x) => amount(x.pence)), invoices.map((x) => x.due)],
  );
  await c.query('analyze');
}

/** The rows this run wrote to a table (its `where`), and nothing else written by the seed. */
const written: { table: string; where: string }[] = [
  { table: 'public.bank_statements', where: 'true' },
  { table: 'public.bank_transactions', where: 'true' },
  { table: 'public.payments', where: 'true' },
  { table: 'public.ledger_entries', where: `kind = 'payment'` },
  { table: 'public.payment_allocations', where: 'true' },
  { table: 'public.notifications', where: 'true' },
  { table: 'graphile_worker._private_jobs', where: 'true' },
  { table: 'internal.audit_log', where: 'id > $1' },
];

/**
 * Inserts the rows the run wrote again, each table's into a fresh copy of it (defaults, checks and indexes; no
 * triggers or foreign keys), server-side: the least that writing them can cost, whatever the design.
 */
async function requiredRowsInsert(url: string, auditBefore: string) {
  return withClient(url, async (c) => {
    const tables: { table: string; rows: number; seconds: number }[] = [];
    for (const [n, { table, where }] of written.entries()) {
      await c.query(`create table public.bench_required_${n} (like ${table} including all)`);
      const { columns } = await one<{ columns: string }>(
        c,
        `select string_agg(quote_ident(attname), ', ' order by attnum) as columns from pg_attribute
          where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = ''`,
        [table],
      );
      const start = process.hrtime.bigint();
      const r = await c.query(
        `insert into public.bench_required_${n} (${columns}) overriding system value
         select ${columns} from ${table} where ${where}`,
        where.includes('$1') ? [auditBefore] : [],
      );
      tables.push({ table: table.replace(/^.*\./, ''), rows: r.rowCount ?? 0, seconds: seconds(start) });
    }
    return {
      seconds: tables.reduce((sum, t) => sum + t.seconds, 0),
      rows: tables.reduce((sum, t) => sum + t.rows, 0),
      tables,
    };
  });
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en-GB')} lines/s`;

/** Prints each statement (nested ones too) over 100 ms with its timing, through auto_explain. */
async function profiled<T>(c: pg.ClientBase, skip: boolean, fn: () => Promise<T>): Promise<T> {
  if (!values.profile || skip) return fn();
  const notice = (n: { message?: string }) => {
    const text = n.message ?? '';
    const duration = /duration: ([\d.]+) ms/.exec(text)?.[1];
    const query =
      /Query Text: ([\s\S]*?)\n\s*(?:Insert|Update|Delete|Result|Hash|Nested|Merge|Seq|Index|Sort|Aggregate|GroupAggregate|HashAggregate|Unique|Subquery|CTE|Function|Limit|Append|Gather|WindowAgg|Bitmap|LockRows|ProjectSet|Materialize)/.exec(
        text,
      )?.[1];
    process.stdout.write(`  ${duration ?? '?'} ms  ${(query ?? text).replace(/\s+/g, ' ').slice(0, 150)}\n`);
  };
  c.on('notice', notice);
  await c.query(`load 'auto_explain'`);
  await c.query(
    `set auto_explain.log_min_duration = 100; set auto_explain.log_nested_statements = on; set auto_explain.log_level = notice`,
  );
  try {
    return await fn();
  } finally {
    await c.query(`reset auto_explain.log_min_duration`);
    c.off('notice', notice);
  }
}

/** A migrated database with the bench ESCO, its bank account, accounts, holders and open invoices. */
async function seededDatabase(name: string): Promise<string> {
  const url = await createMigratedDatabase(server.serverUrl, `${prefix}_${name}`, { roles: config.roles, log });
  await withClient(url, async (c) => {
    const esco = await one<{ id: string }>(
      c,
      `insert into flows.escos (code, name) values ('BENCH', 'Bench') returning id`,
    );
    await c.query(`insert into public.esco_bank_accounts (esco, name, iban) values ($1, 'Client', $2)`, [
      esco.id,
      IBAN,
    ]);
    await seed(c, esco.id);
  });
  return url;
}

/** Imports the document and matches it in `url`; `floor`: with every trigger off (session_replication_role). */
async function importAndMatch(url: string, document: StatementDocument, floor: boolean) {
  return withClient(url, async (c) => {
    if (floor) await c.query(`set session_replication_role = replica`);
    let t = process.hrtime.bigint();
    if (values.profile && !floor) process.stdout.write('import, statements over 100 ms:\n');
    const result = await profiled(c, floor, () => importStatementStaged(c, 'BENCH', document));
    const importS = seconds(t);
    if (result.lines !== lines) throw new Error(`imported ${result.lines} lines, expected ${lines}`);
    t = process.hrtime.bigint();
    if (values.profile && !floor) process.stdout.write('match, statements over 100 ms:\n');
    const r = await profiled(c, floor, () =>
      one<{ r: { matched: number } }>(c, `select internal.bank_reconcile() as r`),
    );
    return { importS, matchS: seconds(t), matched: r.r.matched };
  });
}

try {
  const url = await seededDatabase('reconcile');
  const floorUrl = await seededDatabase('floor');
  const xml = Buffer.from(camt());
  process.stdout.write(
    `lines: ${lines.toLocaleString('en-GB')}, accounts and invoices: ${lines.toLocaleString('en-GB')}, file: ${(xml.length / 1e6).toFixed(1)} MB\n`,
  );

  const t = process.hrtime.bigint();
  const document = parseStatementFile(xml, { fileName: 'bench.xml' });
  const parseS = seconds(t);

  // Baseline: a plain COPY of the same rows into a table of the same shape as bank_transactions; three times, each
  // into a fresh table, and the median taken (one COPY of 50,000 rows is short enough for the machine's noise to
  // move it by half).
  const entries = document.statements[0]!.entries;
  const zero = '00000000-0000-0000-0000-000000000000';
  const text = entries
    .map(
      (e, i) =>
        `${zero}\t${zero}\t${zero}\tref:${copyText(e.entry_reference!)}\t${i + 1}\t${copyText(e.entry_reference!)}\t${e.booking_date}\t${e.value_date}\tt\t${e.amount}\tGBP\tf\t\\N\t${copyText(e.counterparty_name!)}\t\\N\t${copyText(e.remittance_information!)}\t\\N\tunmatched\n`,
    )
    .join('');
  const copies = await withClient(url, async (c) => {
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      await c.query(`create table public.bench_plain_${run} (like public.bank_transactions including all)`);
      const start = process.hrtime.bigint();
      await pipeline(
        Readable.from([text]),
        c.query(
          copyFrom(`copy public.bench_plain_${run} (esco, statement, bank_account, identity, position, entry_reference,
                    booking_date, value_date, booked, amount, currency, reversal, bank_transaction_code,
                    counterparty_name, counterparty_account, remittance_information, end_to_end_id, status) from stdin`),
        ),
      );
      times.push(seconds(start));
    }
    return times.sort((a, b) => a - b);
  });
  const copyS = copies[1]!;

  const auditBefore = await withClient(
    url,
    async (c) => (await one<{ id: string }>(c, 'select coalesce(max(id), 0)::text as id from internal.audit_log')).id,
  );
  const { importS, matchS, matched } = await importAndMatch(url, document, false);
  const required = await requiredRowsInsert(url, auditBefore);
  const floor = await importAndMatch(floorUrl, document, true);

  // The outcome, so that a faster run is also a correct one.
  const check = await withClient(url, async (c) => {
    const rules = await many<{ rule: string; n: number }>(
      c,
      `select match_rule as rule, count(*)::int as n from public.bank_transactions group by 1 order by 1`,
    );
    const outcome = await one<Record<string, string>>(
      c,
      `select (select count(*) from public.payments) as payments,
              (select count(*) from public.bank_transactions t where t.status = 'matched'
                  and (select count(*) from public.payments p where p.source = 'bank:' || t.id) = 1) as matched_once,
              (select count(*) from public.payment_allocations) as allocations,
              (select count(*) filter (where status = 'paid') || ' paid, ' || count(*) filter (where status = 'partially_paid')
                      || ' partially paid, ' || count(*) filter (where status = 'issued') || ' open' from public.invoices) as invoices,
              (select sum(amount) from public.ledger_entries)::text as ledger,
              ((select sum(total) from public.invoices) - (select sum(amount) from public.payments))::text as expected`,
    );
    return { rules, outcome };
  });
  const expectRules = { reference: 0, amount_name: 0, unique_amount: 0 };
  for (let i = 0; i < lines; i++) expectRules[ruleOf(i)]++;
  const total = importS + matchS;
  process.stdout.write(
    [
      `parse (TypeScript):      ${parseS.toFixed(2)} s  ${rate(lines, parseS)}`,
      `import (COPY, validated): ${importS.toFixed(2)} s  ${rate(lines, importS)}`,
      `match (all rules, posted): ${matchS.toFixed(2)} s  ${rate(lines, matchS)}  matched ${matched.toLocaleString('en-GB')}: ${check.rules.map((r) => `${r.rule ?? 'none'} ${r.n}`).join(', ')}`,
      `  ${check.outcome.payments} payments, ${check.outcome.allocations} allocations; invoices ${check.outcome.invoices}; ledger ${check.outcome.ledger}`,
      `import + match:          ${total.toFixed(2)} s  ${rate(lines, total)}`,
      `baseline plain COPY:     ${copyS.toFixed(2)} s  ${rate(lines, copyS)}  (median of ${copies.map((x) => x.toFixed(2)).join(', ')} s)`,
      `import + match / plain:  ${(total / copyS).toFixed(1)}× (goal ≤ 5×)`,
      `floor, every trigger off: ${(floor.importS + floor.matchS).toFixed(2)} s  ${((floor.importS + floor.matchS) / copyS).toFixed(1)}× the plain COPY (import ${floor.importS.toFixed(2)} s, match ${floor.matchS.toFixed(2)} s)`,
      `  (the same writes without audit, receipts, foreign-key checks or live updates: not a correct run, the least`,
      `   that posting these lines can cost)`,
      `required rows alone:     ${required.seconds.toFixed(2)} s  ${(required.seconds / copyS).toFixed(1)}× the plain COPY (the ${required.rows.toLocaleString('en-GB')} rows the run had to write, inserted`,
      `   again with nothing else: the least that writing them can take; the run's updates not counted)`,
      `  ${required.tables.map((t) => `${t.table} ${t.rows.toLocaleString('en-GB')} rows ${t.seconds.toFixed(2)} s`).join(', ')}`,
      '',
    ].join('\n'),
  );
  const got = Object.fromEntries(check.rules.map((r) => [r.rule, r.n]));
  if (
    matched !== lines ||
    Number(check.outcome.matched_once) !== lines ||
    Object.entries(expectRules).some(([rule, n]) => got[rule] !== n) ||
    check.outcome.ledger !== check.outcome.expected
  ) {
    throw new Error(`wrong outcome: ${JSON.stringify({ matched, expectRules, check })}`);
  }
} finally {
  await dropDatabases(server.serverUrl, prefix);
  await server.stop();
}
