// Importing statements into the database and matching them: all or nothing, idempotent, tenant-safe; the
// reference rule, the review queue, operator decisions, and two reconciles racing over the same lines.
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { importStatement, importStatementStaged, parseStatementFile } from '../../src/bank/import.ts';
import type { StatementDocument } from '../../src/bank/document.ts';
import { many, one } from '../../src/db/client.ts';
import { asRole, committedAs, useTestDatabase, usePool } from '../support/database.ts';
import { runJobs } from '../jobs/support.ts';
import { fixtureBytes, makeBankEsco, runBankCli, type BankEsco } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
const IBAN = 'GB33BUKB20201555555555';
const REFS = ['BSE-000101', 'BSE-000102', 'BSE-000103', 'BSE-000104', 'BSE-000105'];
let bse: BankEsco;
let other: BankEsco;

beforeAll(async () => {
  bse = await makeBankEsco(ctx.pool, 'BSE', {
    iban: IBAN,
    sortCode: '040605',
    accountNumber: '12345678',
    references: REFS,
  });
  other = await makeBankEsco(ctx.pool, 'OTH', { iban: 'GB94BARC10201530093459', references: ['OTH-000001'] });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

const parse = (name: string, mutate: (s: string) => string = (s) => s) =>
  parseStatementFile(Buffer.from(mutate(fixtureBytes(name).toString('utf8'))), { fileName: name });

async function lines(statementIds: string[]) {
  return many<{ amount: string; status: string; identity: string; booked: boolean; reversal: boolean }>(
    ctx.pool,
    `select amount::text, status, identity, booked, reversal from public.bank_transactions
      where statement = any ($1::uuid[]) order by array_position($1::uuid[], statement), position`,
    [statementIds],
  );
}

const count = async (table: string, esco: string) =>
  Number((await one<{ n: string }>(ctx.pool, `select count(*) as n from ${table} where esco = $1`, [esco])).n);

describe('import', () => {
  it('stores a camt.053 file with two statements, then a repeat is a no-op', async () => {
    const doc = parse('camt053-v02-two-statements.xml');
    const first = await importStatement(ctx.pool, 'BSE', doc);
    expect(first).toMatchObject({ status: 'imported', lines: 7 });
    expect(first.statements.map((s) => s.lines)).toEqual([4, 3]);
    const rows = await lines(first.statements.map((s) => s.id));
    expect(rows.map((r) => [r.amount, r.status, r.booked])).toEqual([
      ['45.60', 'unmatched', true],
      ['50.00', 'unmatched', true],
      ['30.25', 'unmatched', true],
      ['-12.50', 'debit', true],
      ['-45.60', 'debit', true],
      ['45.60', 'unmatched', true],
      ['20.00', 'pending', false],
    ]);
    expect(rows[0]!.identity).toBe('ref:FP26100500001');
    expect(rows[6]!.identity).toMatch(/^fp:[0-9a-f]{64}$/);
    expect(rows[4]!.reversal).toBe(true);
    const stmt = await one<{ opening_balance: string; closing_balance: string; period_from: string }>(
      ctx.pool,
      `select opening_balance::text, closing_balance::text, period_from::text from public.bank_statements where id = $1`,
      [first.statements[0]!.id],
    );
    expect(stmt).toEqual({ opening_balance: '1000.00', closing_balance: '1113.35', period_from: '2026-10-05' });

    const before = await count('public.bank_transactions', bse.id);
    const again = await importStatement(ctx.pool, 'BSE', doc);
    expect(again.status).toBe('duplicate');
    expect(again.statements.map((s) => s.id)).toEqual(first.statements.map((s) => s.id));
    expect(await count('public.bank_transactions', bse.id)).toBe(before);
    // the import queued the reconcile job (one per ESCO: the key dedupes)
    const jobs = await many<{ key: string }>(
      ctx.pool,
      `select key from graphile_worker._private_jobs where task_id = (select id from graphile_worker._private_tasks where identifier = 'bank__reconcile')`,
    );
    expect(jobs).toEqual([{ key: `bank__reconcile:${bse.id}` }]);
  });

  it('stores a .11 statement for a sort-code account and bank CSVs of both profiles', async () => {
    const v11 = await importStatement(ctx.pool, 'BSE', parse('camt053-v11-clearbank.xml'));
    expect(v11).toMatchObject({ status: 'imported', lines: 2 });
    const csvAccount = { sort_code: '040605', account_number: '12345678' };
    const signed = parseStatementFile(fixtureBytes('signed-amount.csv'), { account: csvAccount });
    expect(await importStatement(ctx.pool, 'BSE', signed)).toMatchObject({ status: 'imported', lines: 4 });
    const inOut = parseStatementFile(fixtureBytes('paid-in-out.csv'), {
      profile: 'paid-in-out',
      account: { iban: IBAN },
    });
    expect(await importStatement(ctx.pool, 'BSE', inOut)).toMatchObject({ status: 'imported', lines: 3 });
    // OTH has a single bank account: a CSV that names none goes there
    const csvOther = parseStatementFile(
      Buffer.from('Date,Description,Amount,Balance\n01/10/2026,OTH-000001,9.99,9.99\n'),
    );
    expect(await importStatement(ctx.pool, 'OTH', csvOther)).toMatchObject({ status: 'imported', lines: 1 });
  });

  it('refuses a statement for an account the ESCO does not own, and stores nothing', async () => {
    const doc = parse('camt053-v02-two-statements.xml', (s) =>
      s.replaceAll(IBAN, 'GB94BARC10201530093459').replace('STMT-2026', 'X'),
    );
    const before = await count('public.bank_statements', other.id);
    await expect(importStatement(ctx.pool, 'BSE', doc)).rejects.toMatchObject({
      code: 'PT403',
      message: "/Document/BkToCstmrStmt/Stmt[1]: the statement's account is not a bank account of this ESCO",
    });
    expect(await count('public.bank_statements', other.id)).toBe(before);
  });

  it('validates again in SQL: a tampered document is refused whole, naming the path', async () => {
    const good = parse('camt053-v02-two-statements.xml', (s) => s.replace('STMT-20261005-A', 'TAMPER-1'));
    const tamper = (fn: (d: StatementDocument) => void) => {
      const d = structuredClone(good);
      fn(d);
      return d;
    };
    const before = await count('public.bank_transactions', bse.id);
    const cases: [StatementDocument, string, string][] = [
      [
        tamper((d) => (d.statements[1]!.entries[1]!.amount = '45.61')),
        '22023',
        '/Document/BkToCstmrStmt/Stmt[2]: balances do not reconcile: opening 1113.35 + booked entries 0.01 = 1113.36, but the closing balance is 1113.35',
      ],
      [
        tamper((d) => (d.statements[0]!.entries[2]!.currency = 'EUR')),
        '22023',
        '/Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[2]: currency EUR differs from the account currency GBP',
      ],
      [
        tamper((d) => (d.statements[0]!.entries[0]!.booking_date = '2026-13-01')),
        '22023',
        '/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]: booking date 2026-13-01 is not a valid date',
      ],
      [
        tamper((d) => (d.statements[0]!.entries[0]!.amount = '45.6000001')),
        '22023',
        '/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]: amount 45.6000001 is not an exact amount with at most 2 decimals',
      ],
    ];
    for (const [doc, code, message] of cases) {
      await expect(importStatement(ctx.pool, 'BSE', doc)).rejects.toMatchObject({ code, message });
    }
    expect(await count('public.bank_transactions', bse.id)).toBe(before);
  });

  it('lets a service import only for the ESCOs of its token, and an operator only for theirs', async () => {
    const doc = parse('camt053-v02-two-statements.xml', (s) => s.replace('STMT-20261005-A', 'SVC-1'));
    await asRole(ctx.pool, 'service', { escos: [other.id] }, async (c) => {
      await expect(importStatement(c, 'BSE', doc)).rejects.toMatchObject({ code: 'PT404' });
    });
    await asRole(ctx.pool, 'service', { escos: [bse.id] }, async (c) => {
      // another file with the same entries (an overlapping statement): lines known by the bank's reference are
      // skipped; only the pending line without a reference is new
      const result = await importStatement(c, 'BSE', doc);
      expect(result).toMatchObject({ status: 'imported', lines: 1 });
      expect(result.statements.map((s) => s.skipped)).toEqual([4, 2]);
    });
    await asRole(ctx.pool, 'operator', { sub: other.operatorSub }, async (c) => {
      await expect(importStatement(c, 'BSE', doc)).rejects.toMatchObject({ code: 'PT404' });
    });
    await asRole(ctx.pool, 'customer', { sub: 'nobody' }, async (c) => {
      await expect(importStatement(c, 'BSE', doc)).rejects.toMatchObject({ code: '42501' });
    });
  });

  it("never tells one ESCO that another imported a file, and a hash another ESCO holds does not block the owner's import", async () => {
    const oth = { escos: [other.id] };
    // BSE's own file, imported by BSE
    const bseDoc = parse('camt053-v02-two-statements.xml', (s) => s.replace('STMT-20261005-A', 'HASH-BSE'));
    expect(await importStatement(ctx.pool, 'BSE', bseDoc)).toMatchObject({ status: 'imported' });
    // OTH's service posts that document (BSE's account, BSE's hash): refused exactly as the same document with a hash
    // nobody holds (PT403: not OTH's account), not "already imported for another ESCO"
    const refusal = (doc: StatementDocument) =>
      asRole(ctx.pool, 'service', oth, (c) => importStatement(c, 'OTH', doc)).then(
        () => undefined,
        (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
      );
    expect(await refusal(bseDoc)).toEqual({
      code: 'PT403',
      message: "/Document/BkToCstmrStmt/Stmt[1]: the statement's account is not a bank account of this ESCO",
    });
    expect(await refusal({ ...bseDoc, file_sha256: 'e'.repeat(64) })).toEqual(await refusal(bseDoc));

    // OTH's service claims the hash of a file BSE has yet to import, with a document for OTH's own account: BSE's
    // file still imports (the hash is unique per ESCO), and each ESCO's repeat is a no-op of its own statements
    const claimed = parse('camt053-v02-two-statements.xml', (s) => s.replace('STMT-20261005-A', 'HASH-CLAIMED'));
    const squat = {
      ...parseStatementFile(Buffer.from('Date,Description,Amount,Balance\n03/10/2026,OTH-SQUAT,1.50,1.50\n')),
      file_sha256: claimed.file_sha256,
    };
    const squatted = await committedAs(ctx.pool, 'service', oth, (c) => importStatement(c, 'OTH', squat));
    expect(squatted).toMatchObject({ status: 'imported', lines: 1 });
    const mine = await importStatement(ctx.pool, 'BSE', claimed);
    expect(mine).toMatchObject({ status: 'imported' });
    const again = await importStatement(ctx.pool, 'BSE', claimed);
    expect(again.status).toBe('duplicate');
    expect(again.statements.map((st) => st.id)).toEqual(mine.statements.map((st) => st.id));
    const theirs = await asRole(ctx.pool, 'service', oth, (c) => importStatement(c, 'OTH', squat));
    expect(theirs.status).toBe('duplicate');
    expect(theirs.statements.map((st) => st.id)).toEqual(squatted.statements.map((st) => st.id));
  });

  it('sends the lines of a large file in chunks, reporting how many have gone', async () => {
    const rows = Array.from({ length: 4_500 }, (_, i) => `02/10/2026,LARGE FILE LINE ${i + 1},1.00,${i + 1}.00`);
    const document = parseStatementFile(Buffer.from(`Date,Description,Amount,Balance\n${rows.join('\n')}\n`), {
      fileName: 'large.csv',
    });
    const reports: [number, number][] = [];
    const client = await ctx.pool.connect();
    try {
      const result = await importStatementStaged(client, 'OTH', document, {
        onProgress: (sent, total) => reports.push([sent, total]),
      });
      expect(result).toMatchObject({ status: 'imported', lines: 4_500 });
    } finally {
      client.release();
    }
    expect(reports).toEqual([
      [2_000, 4_500],
      [4_000, 4_500],
      [4_500, 4_500],
    ]);
  });

  it('flows bank import: imports, repeats as a no-op, and refuses a bad file listing its problems', async () => {
    vi.stubEnv('DATABASE_URL', db.url);
    const file = new URL('./fixtures/camt053-v11-clearbank.xml', import.meta.url).pathname;
    const run = (...args: string[]) => runBankCli(['import', ...args]);
    // imported by the earlier test through the same path: the CLI sees a duplicate
    expect(JSON.parse((await run(file, '--esco', 'BSE')).out)).toMatchObject({ status: 'duplicate', parsed_lines: 2 });
    const bad = new URL('./fixtures/paid-in-out.csv', import.meta.url).pathname;
    const { err } = await run(bad, '--esco', 'BSE');
    expect(err).toContain('line 1: missing column "Amount" (profile signed-amount)');
    expect(process.exitCode).toBe(1);
    process.exitCode = 0;
  });
});

describe('matching', () => {
  it('matches by reference after normalising, leaves the rest for review, and never twice when two reconciles race', async () => {
    const reconcile = async () => {
      const client = new pg.Client({ connectionString: db.loginUrl('worker') });
      await client.connect();
      try {
        return (
          await one<{ r: { matched: number; waiting: number } }>(client, `select internal.bank_reconcile($1) as r`, [
            bse.id,
          ])
        ).r;
      } finally {
        await client.end();
      }
    };
    const results = await Promise.all([reconcile(), reconcile(), reconcile()]);
    const matched = results.reduce((n, r) => n + r.matched, 0);
    const rows = await many<{
      status: string;
      match_rule: string | null;
      ref: string | null;
      remittance: string;
      n: string;
    }>(
      ctx.pool,
      `select t.status, t.match_rule, a.payment_reference as ref, t.remittance_information as remittance,
              (select count(*) from public.payments p where p.source = 'bank:' || t.id) as n
         from public.bank_transactions t left join public.accounts a on a.id = t.matched_account
        where t.esco = $1 and t.amount > 0 and t.booked order by t.created_at, t.position`,
      [bse.id],
    );
    expect(rows.every((r) => Number(r.n) === (r.status === 'matched' ? 1 : 0))).toBe(true);
    expect(matched).toBe(rows.filter((r) => r.status === 'matched').length);
    const byText = Object.fromEntries(rows.map((r) => [r.remittance, r.ref]));
    expect(byText).toMatchObject({
      'BSE-000101 OCT BILL': 'BSE-000101',
      'bse 000102': 'BSE-000102',
      BSE000101: 'BSE-000101',
      'Ref bse/000104': 'BSE-000104',
      'FASTER PAYMENT BSE-000101 SMITH': 'BSE-000101',
      'BGC bse 000102, thanks': 'BSE-000102',
      'PATEL BSE000105': 'BSE-000105',
      'THANK YOU': null,
      'FP UNKNOWN "REF"': null,
    });
    expect(rows.filter((r) => r.status === 'matched').every((r) => r.match_rule === 'reference')).toBe(true);
    const payment = await one<{ amount: string; method: string; received_at: Date }>(
      ctx.pool,
      `select p.amount::text, p.method, p.received_at from public.payments p
         join public.bank_transactions t on t.payment = p.id where t.remittance_information = 'Ref bse/000104'`,
    );
    expect(payment).toMatchObject({ amount: '154.99', method: 'bank_transfer' });
    expect(payment.received_at.toISOString()).toBe('2026-10-13T23:00:00.000Z');
    // a second run finds nothing new
    expect((await reconcile()).matched).toBe(0);
  });

  it('a text naming two accounts matches neither', async () => {
    const csv = 'Date,Description,Amount,Balance\n01/11/2026,BSE-000101 and BSE-000102,10.00,10.00\n';
    const res = await importStatement(
      ctx.pool,
      'BSE',
      parseStatementFile(Buffer.from(csv), { account: { iban: IBAN } }),
    );
    await runJobs(db, 1);
    const row = await one<{ status: string }>(
      ctx.pool,
      `select status from public.bank_transactions where statement = $1`,
      [res.statements[0]!.id],
    );
    expect(row.status).toBe('unmatched');
  });

  it('operators work the review queue of their ESCO only: match to an account or ignore with a reason', async () => {
    const queue = await asRole(ctx.pool, 'operator', { sub: bse.operatorSub }, (c) =>
      many<{ id: string; remittance_information: string; esco: string }>(
        c,
        `select * from public.bank_review_queue order by amount`,
      ),
    );
    expect(queue.length).toBeGreaterThanOrEqual(3);
    expect(queue.every((q) => q.esco === bse.id)).toBe(true);
    const thanks = queue.find((q) => q.remittance_information === 'THANK YOU')!;
    const unknown = queue.find((q) => q.remittance_information === 'FP UNKNOWN "REF"')!;
    await asRole(ctx.pool, 'operator', { sub: other.operatorSub }, async (c) => {
      expect(await many(c, `select * from public.bank_review_queue where esco = $1`, [bse.id])).toEqual([]);
      await expect(
        c.query(`select public.bank_transaction_match($1, $2)`, [thanks.id, other.accounts['OTH-000001']]),
      ).rejects.toMatchObject({
        code: 'PT404',
      });
    });
    // commit the decisions (as the operator, outside asRole's rollback)
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      await client.query(`select set_config('role', 'operator', true), set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ role: 'operator', sub: bse.operatorSub }),
      ]);
      await expect(
        client.query(`select public.bank_transaction_match($1, $2)`, [thanks.id, other.accounts['OTH-000001']]),
      ).rejects.toMatchObject({ code: 'PT404' });
      await client.query('rollback');
      await client.query('begin');
      await client.query(`select set_config('role', 'operator', true), set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ role: 'operator', sub: bse.operatorSub }),
      ]);
      await client.query(`select public.bank_transaction_match($1, $2)`, [thanks.id, bse.accounts['BSE-000103']]);
      await expect(client.query(`select public.bank_transaction_ignore($1, '  ')`, [unknown.id])).rejects.toMatchObject(
        { code: '22023' },
      );
      await client.query('rollback');
      await client.query('begin');
      await client.query(`select set_config('role', 'operator', true), set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ role: 'operator', sub: bse.operatorSub }),
      ]);
      await client.query(`select public.bank_transaction_match($1, $2)`, [thanks.id, bse.accounts['BSE-000103']]);
      await client.query(`select public.bank_transaction_ignore($1, 'test transfer from our own account')`, [
        unknown.id,
      ]);
      await expect(
        client.query(`select public.bank_transaction_ignore($1, 'again')`, [thanks.id]),
      ).rejects.toMatchObject({
        code: 'PT409',
      });
      await client.query('rollback');
    } finally {
      client.release();
    }
  });
});
