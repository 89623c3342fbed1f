// The statement parsers on their own: the sample files parse to the expected lines, and every kind of bad file
// is refused whole with problems that name the XML path or the line.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCamt053 } from '../../src/bank/camt053.ts';
import { csvProfileSchema, loadCsvProfile, parseBankCsv } from '../../src/bank/csv.ts';
import { StatementFileError } from '../../src/bank/document.ts';
import { parseStatementFile } from '../../src/bank/import.ts';
import { fromPence, toPence } from '../../src/bank/money.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const v02 = fixture('camt053-v02-two-statements.xml');
const v11 = fixture('camt053-v11-clearbank.xml');

function problemsOf(xml: string) {
  return parseCamt053(xml).problems.map((p) => `${p.where}: ${p.message}`);
}

describe('money', () => {
  it('is exact in pence and refuses fractions of a penny', () => {
    expect(toPence('12.3')).toBe(1230n);
    expect(toPence('-0.01')).toBe(-1n);
    expect(toPence('10.50000')).toBe(1050n);
    expect(toPence('10.505')).toBeUndefined();
    expect(toPence('1e3')).toBeUndefined();
    expect(fromPence(-1230n)).toBe('-12.30');
    expect(fromPence(toPence('0.1')! + toPence('0.2')!)).toBe('0.30');
  });
});

describe('camt.053', () => {
  it('reads a .02 file with two statements, a batch entry, a fee, a reversal and a pending entry', () => {
    const { version, statements, problems } = parseCamt053(v02);
    expect(problems).toEqual([]);
    expect(version).toBe('camt.053.001.02');
    expect(statements.map((s) => [s.statement_ref, s.opening_balance, s.closing_balance, s.entries.length])).toEqual([
      ['STMT-20261005-A', '1000.00', '1113.35', 4],
      ['STMT-20261006-A', '1113.35', '1113.35', 3],
    ]);
    const [first, second] = statements;
    // the batch entry of 80.25 becomes its two transaction details
    expect(first!.entries.map((e) => e.amount)).toEqual(['45.60', '50.00', '30.25', '-12.50']);
    expect(first!.entries[1]).toMatchObject({
      entry_reference: 'BGC26100500002/1',
      end_to_end_id: 'E2E-7781',
      counterparty_name: 'A N OTHER',
      path: '/Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[1]',
    });
    expect(first!.entries[0]).toMatchObject({ end_to_end_id: null, counterparty_account: '40051512345678' });
    expect(second!.entries[0]).toMatchObject({ amount: '-45.60', reversal: true, booked: true });
    expect(second!.entries[2]).toMatchObject({ amount: '20.00', booked: false, booking_date: null });
  });

  it('reads a .11 statement (ClearBank style): sort-code account, Sts/Cd, Pty/Nm, a debit balance', () => {
    const { version, statements, problems } = parseCamt053(v11);
    expect(problems).toEqual([]);
    expect(version).toBe('camt.053.001.11');
    expect(statements[0]).toMatchObject({
      sort_code: '040605',
      account_number: '12345678',
      opening_balance: '-250.00',
      closing_balance: '-95.01',
      period_from: '2026-10-01',
      period_to: '2026-10-31',
    });
    expect(statements[0]!.entries.map((e) => [e.amount, e.booked, e.counterparty_name, e.booking_date])).toEqual([
      ['154.99', true, 'Mr Tomasz Nowak', '2026-10-14'],
      // value-dated after the statement: recorded, left out of the balance
      ['60.00', false, 'Ms K Patel', '2026-10-31'],
    ]);
  });

  it.each(['02', '04', '08', '10', '13'])('accepts camt.053.001.%s', (v) => {
    const parsed = parseCamt053(v11.replace('xsd:camt.053.001.11', `xsd:camt.053.001.${v}`));
    expect(parsed.problems).toEqual([]);
    expect(parsed.version).toBe(`camt.053.001.${v}`);
  });

  it('refuses broken XML, naming the line', () => {
    const broken = v02.replace('<Amt Ccy="GBP">45.60</Amt>', '<Amt Ccy="GBP">45.60</Amnt>');
    expect(problemsOf(broken)).toEqual([expect.stringMatching(/^line 38, column \d+: not well-formed XML/)]);
  });

  it('refuses a truncated file', () => {
    expect(problemsOf(v02.slice(0, Math.floor(v02.length * 0.6)))).toEqual([
      expect.stringMatching(/^line \d+, column \d+: not well-formed XML/),
    ]);
  });

  it('refuses unbalanced totals, naming the statement', () => {
    const unbalanced = v02.replace('<Amt Ccy="GBP">80.25</Amt>', '<Amt Ccy="GBP">80.52</Amt>');
    expect(problemsOf(unbalanced)).toEqual([
      '/Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/NtryDtls: the transaction details add up to 80.25, the entry is 80.52',
      '/Document/BkToCstmrStmt/Stmt[1]/Bal: balances do not reconcile: opening 1000.00 + booked entries 113.62 = 1113.62, but the closing balance is 1113.35',
    ]);
  });

  it('refuses a second currency in an account', () => {
    const wrong = v02.replace('<Amt Ccy="GBP">12.50</Amt>', '<Amt Ccy="EUR">12.50</Amt>');
    expect(problemsOf(wrong)).toContain(
      '/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt/@Ccy: currency EUR differs from the account currency GBP',
    );
  });

  it('refuses a duplicate statement reference', () => {
    const dup = v02.replace('<Id>STMT-20261006-A</Id>', '<Id>STMT-20261005-A</Id>');
    expect(problemsOf(dup)).toEqual([
      '/Document/BkToCstmrStmt/Stmt[2]/Id: duplicate statement identification STMT-20261005-A (also /Document/BkToCstmrStmt/Stmt[1])',
    ]);
  });

  it('refuses bad dates', () => {
    const bad = v02.replace('<BookgDt><Dt>2026-10-06</Dt></BookgDt>', '<BookgDt><Dt>2026-02-30</Dt></BookgDt>');
    expect(problemsOf(bad)).toEqual(['/Document/BkToCstmrStmt/Stmt[2]/Ntry[1]/BookgDt: invalid date 2026-02-30']);
  });

  it('refuses amounts that are not exact pence, and other documents', () => {
    expect(
      problemsOf(
        v11.replace(
          '<Amt Ccy="GBP">154.99</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>',
          '<Amt Ccy="GBP">154.999</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>',
        ),
      ),
    ).toContain('/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt: amount 154.999 is not an exact positive amount in pence');
    expect(problemsOf(v11.replace('xsd:camt.053.001.11', 'xsd:camt.052.001.11'))).toEqual([
      '/Document: not a camt.053.001 document (namespace missing)',
    ]);
  });

  it('parseStatementFile throws every problem and hashes the exact bytes', () => {
    const doc = parseStatementFile(Buffer.from(v02), { fileName: 'a.xml' });
    expect(doc).toMatchObject({ format: 'camt.053', format_version: 'camt.053.001.02', file_name: 'a.xml' });
    expect(doc.file_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(parseStatementFile(Buffer.from(`${v02}\n`)).file_sha256).not.toBe(doc.file_sha256);
    expect(() => parseStatementFile(Buffer.from(v02.replace('1113.35', '1113.36')))).toThrow(StatementFileError);
  });
});

describe('bank CSV', () => {
  const signed = loadCsvProfile('signed-amount');
  const inOut = loadCsvProfile('paid-in-out');

  it('reads the signed-amount profile, quotes and all', () => {
    const { statements, problems } = parseBankCsv(fixture('signed-amount.csv'), signed);
    expect(problems).toEqual([]);
    expect(statements[0]).toMatchObject({
      opening_balance: '500.00',
      closing_balance: '602.94',
      period_to: '2026-10-03',
    });
    expect(statements[0]!.entries.map((e) => [e.path, e.amount, e.remittance_information])).toEqual([
      ['line 2', '45.60', 'FASTER PAYMENT BSE-000101 SMITH'],
      ['line 3', '-5.00', 'BANK CHARGES'],
      ['line 4', '50.00', 'BGC bse 000102, thanks'],
      ['line 5', '12.34', 'FP UNKNOWN "REF"'],
    ]);
  });

  it('reads the paid-in / paid-out profile', () => {
    const { statements, problems } = parseBankCsv(fixture('paid-in-out.csv'), inOut);
    expect(problems).toEqual([]);
    expect(statements[0]!.entries.map((e) => [e.amount, e.bank_transaction_code])).toEqual([
      ['154.99', 'FPI'],
      ['-1000.00', 'DD'],
      ['60.00', 'FPI'],
    ]);
    expect(statements[0]).toMatchObject({ opening_balance: '1000.00', closing_balance: '214.99' });
  });

  it('names the line of a running balance that does not reconcile, a bad date and a bad amount', () => {
    const text = fixture('signed-amount.csv')
      .replace('-5.00,540.60', '-5.00,540.00')
      .replace('03/10/2026,"BGC', '31/09/2026,"BGC');
    expect(parseBankCsv(text, signed).problems).toEqual([
      { where: 'line 4', message: 'date "31/09/2026" is not a valid DD/MM/YYYY date' },
    ]);
    expect(parseBankCsv(fixture('signed-amount.csv').replace('-5.00,540.60', '-5.00,540.00'), signed).problems).toEqual(
      [
        { where: 'line 3', message: 'running balance does not reconcile: expected 540.60, the file says 540.00' },
        { where: 'line 4', message: 'running balance does not reconcile: expected 590.00, the file says 590.60' },
      ],
    );
    expect(parseBankCsv(fixture('signed-amount.csv').replace('45.60', '45.605'), signed).problems).toEqual([
      { where: 'line 2', message: 'amount "45.605" is not an exact non-zero amount' },
    ]);
    expect(parseBankCsv(fixture('paid-in-out.csv').replace(',,60.00', ',1.00,60.00'), inOut).problems).toEqual([
      {
        where: 'line 4',
        message: 'exactly one of paid in "60.00" and paid out "1.00" must be an exact non-zero amount',
      },
    ]);
  });

  it('refuses a truncated file and a missing column', () => {
    const text = fixture('signed-amount.csv');
    expect(parseBankCsv(text.slice(0, text.indexOf('UNKNOWN')), signed).problems).toEqual([
      { where: 'line 5', message: 'unterminated quoted field (truncated file?)' },
    ]);
    expect(parseBankCsv(text.slice(0, text.indexOf('BANK CHARGES') + 15), signed).problems).toEqual([
      { where: 'line 3', message: 'expected 4 fields, got 3' },
    ]);
    expect(parseBankCsv(fixture('paid-in-out.csv'), signed).problems).toEqual([
      { where: 'line 1', message: 'missing column "Amount" (profile signed-amount)' },
    ]);
  });

  it('takes profiles as data and validates them', () => {
    const custom = csvProfileSchema.parse({
      name: 'my-bank',
      date_format: 'YYYY-MM-DD',
      order: 'newest_first',
      currency: 'GBP',
      columns: { date: 'When', description: 'Memo', amount: 'Value' },
    });
    const { statements, problems } = parseBankCsv('When;Memo;Value\n2026-10-02;b;-1.00\n2026-10-01;a;2.50\n', {
      ...custom,
      delimiter: ';',
    });
    expect(problems).toEqual([]);
    expect(statements[0]!.entries.map((e) => e.amount)).toEqual(['2.50', '-1.00']);
    expect(statements[0]!.opening_balance).toBeNull();
    expect(() => csvProfileSchema.parse({ ...custom, columns: { date: 'd', description: 'm' } })).toThrow();
  });
});
