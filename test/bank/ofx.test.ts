// OFX statements: 1.x SGML and 2.x XML parse to the same document as camt.053 and CSV; every kind of bad file is
// refused whole with problems that name the element or the line; a good file imports through the CLI's COPY path
// and the RPC alike, a repeat is a no-op and an overlapping download skips the transactions it already has.
import { describe, expect, it } from 'vitest';
import { StatementFileError } from '../../src/bank/document.ts';
import { importStatement, importStatementStaged, parseStatementFile } from '../../src/bank/import.ts';
import { decodeOfx, parseOfx } from '../../src/bank/ofx.ts';
import { many, one } from '../../src/db/client.ts';
import { useTestDatabase, usePool } from '../support/database.ts';
import { fixtureBytes, fixtureText, makeBankEsco } from './support.ts';

const sgml = decodeOfx(fixtureBytes('ofx-v102-sgml.ofx'));
const xml = fixtureText('ofx-v211-xml.ofx');
const problemsOf = (text: string) => parseOfx(text).problems.map((p) => `${p.where}: ${p.message}`);
const TRN = '/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STMTRS/BANKTRANLIST/STMTTRN';

describe('OFX parser', () => {
  it('reads a 1.02 SGML file (windows-1252, no end tags on data elements, a decimal comma)', () => {
    const { version, statements, problems } = parseOfx(sgml);
    expect(problems).toEqual([]);
    expect(version).toBe('ofx.102');
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({
      path: '/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STMTRS',
      sort_code: '040605',
      account_number: '12345678',
      iban: null,
      currency: 'GBP',
      period_from: '2026-10-01',
      period_to: '2026-10-31',
      opening_balance: null,
      closing_balance: '725.84',
    });
    expect(
      statements[0]!.entries.map((e) => [
        e.path,
        e.entry_reference,
        e.booking_date,
        e.amount,
        e.bank_transaction_code,
        e.counterparty_name,
        e.remittance_information,
      ]),
    ).toEqual([
      [`${TRN}[1]`, '202610030001', '2026-10-03', '45.60', 'CREDIT', 'J SMITH', 'BSE-000101 OCT BILL'],
      [`${TRN}[2]`, '202610050002', '2026-10-05', '-5.00', 'SRVCHG', 'MONTHLY ACCOUNT FEE', null],
      [`${TRN}[3]`, '202610140003', '2026-10-14', '154.99', 'DIRECTDEP', 'Zoë Müller & Co', 'bse/000104'],
      [`${TRN}[4]`, '202610200004', '2026-10-20', '30.25', 'CREDIT', 'A N OTHER', 'THANK YOU'],
    ]);
    expect(statements[0]!.entries.every((e) => e.booked && e.value_date === null && !e.reversal)).toBe(true);
  });

  it('reads a 2.11 XML file: an IBAN account, PAYEE, a payee account, an empty memo, entities', () => {
    const { version, statements, problems } = parseOfx(xml);
    expect(problems).toEqual([]);
    expect(version).toBe('ofx.211');
    expect(statements[0]).toMatchObject({
      iban: 'GB33BUKB20201555555555',
      sort_code: null,
      period_from: '2026-11-01',
      period_to: '2026-11-30',
      closing_balance: '1042.34',
    });
    expect(
      statements[0]!.entries.map((e) => [
        e.amount,
        e.counterparty_name,
        e.counterparty_account,
        e.remittance_information,
      ]),
    ).toEqual([
      ['50.00', 'MRS P PATEL', null, 'PATEL BSE000105'],
      ['-20.00', 'REFUND', '20000055779911', null],
      ['12.34', 'UNKNOWN & CO', null, null],
    ]);
  });

  it('reads several statements (one per account) from one file', () => {
    const second = sgml
      .replace('<BANKID>04-06-05\r\n<ACCTID>12345678', '<BANKID>\r\n<ACCTID>GB94BARC10201530093459')
      .replaceAll('<FITID>2026', '<FITID>B-2026');
    const body = (s: string) => s.slice(s.indexOf('<STMTTRNRS>'), s.indexOf('</BANKMSGSRSV1>'));
    const both = sgml.replace('</BANKMSGSRSV1>', `${body(second)}</BANKMSGSRSV1>`);
    const { statements, problems } = parseOfx(both);
    expect(problems).toEqual([]);
    expect(statements.map((s) => [s.path, s.iban, s.sort_code, s.entries.length])).toEqual([
      ['/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STMTRS', null, '040605', 4],
      ['/OFX/BANKMSGSRSV1/STMTTRNRS[2]/STMTRS', 'GB94BARC10201530093459', null, 4],
    ]);
  });

  it('refuses broken and truncated files, naming the line', () => {
    expect(problemsOf(sgml.replace('</BANKACCTFROM>', '</BANKACCTFRM>'))).toEqual([
      'line 35: </BANKACCTFRM> without a matching <BANKACCTFRM>',
    ]);
    expect(problemsOf(xml.replace('</PAYEE>', '</STMTTRN>'))).toEqual([
      'line 40: </STMTTRN> closes <STMTTRN> but <PAYEE> (line 33) is still open',
    ]);
    expect(problemsOf(sgml.slice(0, sgml.indexOf('<STMTTRN>') + 40))).toEqual([
      'line 41: <STMTTRN> (line 39) is not closed (truncated file?)',
    ]);
    expect(problemsOf(sgml.slice(0, 150))).toEqual(['line 11: <OFX> (line 11) is not closed (truncated file?)']);
    expect(problemsOf(sgml.slice(0, 100))).toEqual(['line 7: no <OFX> element (truncated file?)']);
    expect(problemsOf('Date,Description,Amount\n')).toEqual([
      'line 1: no OFX header (OFXHEADER:100 or <?OFX OFXHEADER="200" …?>)',
    ]);
    expect(problemsOf(sgml.replace('VERSION:102', 'VERSION:211'))).toEqual([
      'header: VERSION 211 is not an OFX 1.x version',
    ]);
  });

  it('refuses bad amounts, dates, currencies, a duplicate FITID and missing fields, naming each element', () => {
    const bad = sgml
      .replace('<TRNAMT>45.60', '<TRNAMT>45.605')
      .replace('<DTPOSTED>20261005', '<DTPOSTED>20260230')
      .replace('<FITID>202610200004', '<FITID>202610140003')
      .replace('<NAME>J SMITH', '<NAME>J SMITH\r\n<CURRENCY>\r\n<CURRATE>1.17\r\n<CURSYM>EUR\r\n</CURRENCY>')
      .replace('<TRNTYPE>SRVCHG\r\n', '')
      .replace('<BALAMT>725.84', '<BALAMT>')
      .replace('<DTEND>20261031235959', '<DTEND>20261331');
    expect(problemsOf(bad)).toEqual([
      '/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STMTRS/BANKTRANLIST/DTEND: invalid date 20261331',
      '/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STMTRS/LEDGERBAL: missing the ledger balance (LEDGERBAL/BALAMT)',
      `${TRN}[1]/TRNAMT: amount 45.605 is not an exact non-zero amount in pence`,
      `${TRN}[1]/CURRENCY/CURSYM: currency EUR differs from the account currency GBP`,
      `${TRN}[2]/TRNTYPE: missing TRNTYPE`,
      `${TRN}[2]/DTPOSTED: invalid date 20260230`,
      `${TRN}[4]/FITID: duplicate FITID 202610140003 (also ${TRN}[3])`,
    ]);
    expect(problemsOf(xml.replace('<CURDEF>GBP</CURDEF>', '<CURDEF>pounds</CURDEF>'))).toContain(
      '/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STMTRS/CURDEF: currency pounds is not an ISO 4217 code',
    );
    expect(problemsOf(xml.replace('<ACCTID>GB33 BUKB 2020 1555 5555 55</ACCTID>', '<ACCTID>123</ACCTID>'))).toEqual([
      '/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STMTRS/BANKACCTFROM: expected an IBAN, or a sort code (BANKID) and an 8-digit account number (ACCTID)',
    ]);
  });

  it('refuses a statement the bank reports an error for, and files without a bank statement', () => {
    const failed = xml.replace(
      '<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>\n      <STMTRS>',
      '<STATUS><CODE>2000</CODE><SEVERITY>ERROR</SEVERITY><MESSAGE>General error</MESSAGE></STATUS>\n      <STMTRS>',
    );
    expect(problemsOf(failed)).toEqual([
      '/OFX/BANKMSGSRSV1/STMTTRNRS[1]/STATUS: the bank reports status 2000 (ERROR): General error',
    ]);
    const card = xml.replaceAll('BANKMSGSRSV1', 'CREDITCARDMSGSRSV1');
    expect(problemsOf(card)).toEqual([
      '/OFX/BANKMSGSRSV1: no bank statement (BANKMSGSRSV1/STMTTRNRS); credit card and investment statements are not bank statements',
    ]);
  });

  it('is detected by parseStatementFile (or forced with format), which throws every problem', () => {
    const doc = parseStatementFile(fixtureBytes('ofx-v211-xml.ofx'), { fileName: 'nov.ofx' });
    expect(doc).toMatchObject({ format: 'ofx', format_version: 'ofx.211', file_name: 'nov.ofx' });
    expect(parseStatementFile(fixtureBytes('ofx-v102-sgml.ofx')).statements[0]!.entries[2]!.counterparty_name).toBe(
      'Zoë Müller & Co',
    );
    expect(() => parseStatementFile(Buffer.from(xml.replace('50.00', '50.001')))).toThrow(StatementFileError);
    expect(() => parseStatementFile(fixtureBytes('signed-amount.csv'), { format: 'ofx' })).toThrow(/no OFX header/);
  });
});

describe('OFX import', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);

  it('stores through the COPY path and the RPC alike; a repeat is a no-op; an overlapping download skips known FITIDs', async () => {
    const esco = await makeBankEsco(ctx.pool, 'OFX', {
      iban: 'GB33BUKB20201555555555',
      sortCode: '040605',
      accountNumber: '12345678',
      references: ['BSE-000101', 'BSE-000104', 'BSE-000105'],
    });
    const lines = (statement: string) =>
      many<{ identity: string; amount: string; status: string; booked: boolean; counterparty_name: string }>(
        ctx.pool,
        `select identity, amount::text, status, booked, counterparty_name from public.bank_transactions
          where statement = $1 order by position`,
        [statement],
      );
    const sgmlDoc = parseStatementFile(fixtureBytes('ofx-v102-sgml.ofx'));
    const client = await ctx.pool.connect();
    try {
      const first = await importStatementStaged(client, 'OFX', sgmlDoc);
      expect(first).toMatchObject({
        status: 'imported',
        lines: 4,
        statements: [{ position: 1, lines: 4, skipped: 0 }],
      });
      expect(await lines(first.statements[0]!.id)).toEqual([
        {
          identity: 'ref:202610030001',
          amount: '45.60',
          status: 'unmatched',
          booked: true,
          counterparty_name: 'J SMITH',
        },
        {
          identity: 'ref:202610050002',
          amount: '-5.00',
          status: 'debit',
          booked: true,
          counterparty_name: 'MONTHLY ACCOUNT FEE',
        },
        {
          identity: 'ref:202610140003',
          amount: '154.99',
          status: 'unmatched',
          booked: true,
          counterparty_name: 'Zoë Müller & Co',
        },
        {
          identity: 'ref:202610200004',
          amount: '30.25',
          status: 'unmatched',
          booked: true,
          counterparty_name: 'A N OTHER',
        },
      ]);
      const statement = await one<Record<string, unknown>>(
        ctx.pool,
        `select format, format_version, opening_balance, closing_balance::text, period_from::text, period_to::text
           from public.bank_statements where id = $1`,
        [first.statements[0]!.id],
      );
      expect(statement).toEqual({
        format: 'ofx',
        format_version: 'ofx.102',
        opening_balance: null,
        closing_balance: '725.84',
        period_from: '2026-10-01',
        period_to: '2026-10-31',
      });
      expect((await importStatementStaged(client, 'OFX', sgmlDoc)).status).toBe('duplicate');
    } finally {
      client.release();
    }

    // The next download overlaps: its first two transactions are known by their FITIDs.
    const overlap = sgml
      .replace('<DTSTART>20261001', '<DTSTART>20261004')
      .replace('<TRNAMT>30,25\r\n<FITID>202610200004', '<TRNAMT>30,25\r\n<FITID>202610200005');
    const overlapDoc = parseStatementFile(Buffer.from(overlap));
    const second = await importStatement(ctx.pool, 'OFX', overlapDoc);
    expect(second).toMatchObject({ status: 'imported', lines: 1, statements: [{ lines: 1, skipped: 3 }] });
    expect((await lines(second.statements[0]!.id)).map((l) => l.identity)).toEqual(['ref:202610200005']);

    // The XML file for the IBAN account, through the RPC; then the reconcile matches by reference.
    const third = await importStatement(ctx.pool, 'OFX', parseStatementFile(fixtureBytes('ofx-v211-xml.ofx')));
    expect(third).toMatchObject({ status: 'imported', lines: 3 });
    await one(ctx.pool, `select internal.bank_reconcile($1)`, [esco.id]);
    const matched = await many<{ ref: string; rule: string }>(
      ctx.pool,
      `select a.payment_reference as ref, t.match_rule as rule from public.bank_transactions t
         join public.accounts a on a.id = t.matched_account where t.esco = $1 order by a.payment_reference`,
      [esco.id],
    );
    expect(matched).toEqual([
      { ref: 'BSE-000101', rule: 'reference' },
      { ref: 'BSE-000104', rule: 'reference' },
      { ref: 'BSE-000105', rule: 'reference' },
    ]);
  });
});
