// ISO 20022 camt.053 (BankToCustomerStatement), every published version from camt.053.001.02 to .001.13:
// several statements per file, batch entries (one line per transaction detail), reversals, pending entries.
// Parsed strictly: the whole file is checked and every problem is reported with its XML path; the caller
// stores nothing unless the list is empty. Amounts stay decimal strings (parseTagValue: false).
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Statement, StatementEntry, StatementProblem } from './document.ts';
import { fromPence, isIsoDate, toPence } from './money.ts';

type Node = Record<string, unknown>;

const NAMESPACE = /^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d{2})$/;
const REPEATED = new Set(['Stmt', 'Bal', 'Ntry', 'NtryDtls', 'TxDtls', 'Ustrd', 'Strd', 'Othr']);

export interface CamtResult {
  version: string;
  statements: Statement[];
  problems: StatementProblem[];
}

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

function child(node: unknown, ...names: string[]): unknown {
  let current: unknown = node;
  for (const name of names) {
    if (Array.isArray(current)) current = current[0];
    if (!isNode(current)) return undefined;
    current = current[name];
  }
  return Array.isArray(current) ? current[0] : current;
}

function list(node: unknown, name: string): unknown[] {
  if (!isNode(node)) return [];
  const v = node[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function text(node: unknown, ...names: string[]): string | null {
  const v = child(node, ...names);
  if (typeof v === 'string') return v.trim() === '' ? null : v.trim();
  if (isNode(v) && typeof v['#text'] === 'string') return v['#text'].trim() || null;
  return null;
}

function attribute(node: unknown, name: string): string | null {
  return isNode(node) && typeof node[`@_${name}`] === 'string' ? (node[`@_${name}`] as string) : null;
}

/** A date of a DateAndDateTimeChoice (Dt or DtTm), as YYYY-MM-DD, or the problem. */
function dateOf(node: unknown): { date: string | null; bad?: string } {
  const dt = text(node, 'Dt');
  if (dt !== null) return isIsoDate(dt) ? { date: dt } : { date: null, bad: dt };
  const dtTm = text(node, 'DtTm');
  if (dtTm !== null) {
    const day = dtTm.slice(0, 10);
    return isIsoDate(day) && !Number.isNaN(Date.parse(dtTm)) ? { date: day } : { date: null, bad: dtTm };
  }
  return { date: null };
}

function partyName(parties: unknown, role: 'Dbtr' | 'Cdtr'): string | null {
  // .02–.07: RltdPties/Dbtr/Nm; .08+: RltdPties/Dbtr/Pty/Nm (or Agt).
  return text(parties, role, 'Nm') ?? text(parties, role, 'Pty', 'Nm');
}

function accountOf(node: unknown): string | null {
  return text(node, 'Id', 'IBAN') ?? text(node, 'Id', 'Othr', 'Id');
}

export function parseCamt053(xml: string): CamtResult {
  const problems: StatementProblem[] = [];
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    return {
      version: '',
      statements: [],
      problems: [
        { where: `line ${valid.err.line}, column ${valid.err.col}`, message: `not well-formed XML: ${valid.err.msg}` },
      ],
    };
  }
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    processEntities: true,
    isArray: (name: string) => REPEATED.has(name),
  });
  const root = parser.parse(xml) as Node;
  const doc = root['Document'];
  // removeNSPrefix drops the xmlns attributes: read the namespace from the Document start tag itself.
  const startTag = /<(?:[A-Za-z_][\w.-]*:)?Document\b[^>]*>/.exec(xml)?.[0] ?? '';
  const ns = /\bxmlns(?::[\w.-]+)?="(urn:iso:std:iso:20022:tech:xsd:camt\.053\.[^"]*)"/.exec(startTag)?.[1] ?? null;
  const m = ns ? NAMESPACE.exec(ns) : null;
  if (!isNode(doc) || !m) {
    return {
      version: '',
      statements: [],
      problems: [{ where: '/Document', message: `not a camt.053.001 document (namespace ${ns ?? 'missing'})` }],
    };
  }
  const versionNumber = Number(m[1]);
  const version = `camt.053.001.${m[1]}`;
  if (versionNumber < 2 || versionNumber > 13) {
    problems.push({ where: '/Document/@xmlns', message: `${version} is not a supported version (.02 to .13)` });
  }
  const body = child(doc, 'BkToCstmrStmt');
  const stmts = list(body, 'Stmt');
  if (!isNode(body) || stmts.length === 0) {
    problems.push({ where: '/Document/BkToCstmrStmt', message: 'no Stmt element' });
    return { version, statements: [], problems };
  }
  const statements: Statement[] = [];
  const seenIds = new Map<string, string>();
  stmts.forEach((stmt, si) => {
    const path = `/Document/BkToCstmrStmt/Stmt[${si + 1}]`;
    const problem = (where: string, message: string) => problems.push({ where: `${path}${where}`, message });
    const statementRef = text(stmt, 'Id');
    if (statementRef === null) problem('/Id', 'missing statement identification');
    else if (seenIds.has(statementRef))
      problem('/Id', `duplicate statement identification ${statementRef} (also ${seenIds.get(statementRef)})`);
    else seenIds.set(statementRef, path);

    const acct = child(stmt, 'Acct');
    const iban = text(acct, 'Id', 'IBAN');
    const other = text(acct, 'Id', 'Othr', 'Id');
    let sortCode: string | null = null;
    let accountNumber: string | null = null;
    if (!iban && other) {
      const digits = other.replace(/[\s-]/g, '');
      if (/^\d{14}$/.test(digits)) {
        sortCode = digits.slice(0, 6);
        accountNumber = digits.slice(6);
      } else problem('/Acct/Id/Othr/Id', 'expected a sort code and account number (14 digits)');
    } else if (!iban) problem('/Acct/Id', 'missing account identification (IBAN or Othr/Id)');

    const from = dateOf(
      child(stmt, 'FrToDt', 'FrDtTm') === undefined ? undefined : { DtTm: text(stmt, 'FrToDt', 'FrDtTm') },
    );
    const to = dateOf(
      child(stmt, 'FrToDt', 'ToDtTm') === undefined ? undefined : { DtTm: text(stmt, 'FrToDt', 'ToDtTm') },
    );
    if (from.bad) problem('/FrToDt/FrDtTm', `invalid date-time ${from.bad}`);
    if (to.bad) problem('/FrToDt/ToDtTm', `invalid date-time ${to.bad}`);
    if (from.date && to.date && to.date < from.date) problem('/FrToDt', 'the period ends before it starts');

    // Balances: opening booked (OPBD, else PRCD) and closing booked (CLBD).
    let currency = text(acct, 'Ccy');
    let opening: bigint | null = null;
    let closing: bigint | null = null;
    list(stmt, 'Bal').forEach((bal, bi) => {
      const where = `/Bal[${bi + 1}]`;
      const code = text(bal, 'Tp', 'CdOrPrtry', 'Cd') ?? text(bal, 'Tp', 'CdOrPrtry', 'Prtry');
      const amt = child(bal, 'Amt');
      const value = text(bal, 'Amt');
      const ccy = attribute(amt, 'Ccy');
      const pence = value === null ? undefined : toPence(value);
      if (pence === undefined || pence < 0n) {
        problem(`${where}/Amt`, `balance amount ${value ?? 'missing'} is not an exact amount in pence`);
        return;
      }
      if (!ccy) problem(`${where}/Amt/@Ccy`, 'missing currency');
      else if (currency && ccy !== currency)
        problem(`${where}/Amt/@Ccy`, `currency ${ccy} differs from the account currency ${currency}`);
      else currency ??= ccy;
      const ind = text(bal, 'CdtDbtInd');
      if (ind !== 'CRDT' && ind !== 'DBIT')
        problem(`${where}/CdtDbtInd`, `expected CRDT or DBIT, got ${ind ?? 'nothing'}`);
      const signed = ind === 'DBIT' ? -pence : pence;
      if (code === 'OPBD' || (code === 'PRCD' && opening === null)) opening = signed;
      if (code === 'CLBD') closing = signed;
    });
    if (opening === null) problem('/Bal', 'no opening booked balance (OPBD or PRCD)');
    if (closing === null) problem('/Bal', 'no closing booked balance (CLBD)');

    const entries: StatementEntry[] = [];
    let bookedSum = 0n;
    list(stmt, 'Ntry').forEach((ntry, ni) => {
      const where = `/Ntry[${ni + 1}]`;
      const amtNode = child(ntry, 'Amt');
      const value = text(ntry, 'Amt');
      const pence = value === null ? undefined : toPence(value);
      if (pence === undefined || pence <= 0n) {
        problem(`${where}/Amt`, `amount ${value ?? 'missing'} is not an exact positive amount in pence`);
        return;
      }
      const ccy = attribute(amtNode, 'Ccy');
      if (!ccy) problem(`${where}/Amt/@Ccy`, 'missing currency');
      else if (currency && ccy !== currency)
        problem(`${where}/Amt/@Ccy`, `currency ${ccy} differs from the account currency ${currency}`);
      else currency ??= ccy;
      const ind = text(ntry, 'CdtDbtInd');
      if (ind !== 'CRDT' && ind !== 'DBIT') {
        problem(`${where}/CdtDbtInd`, `expected CRDT or DBIT, got ${ind ?? 'nothing'}`);
        return;
      }
      const reversal = text(ntry, 'RvslInd') === 'true';
      // Sts is a code up to .06 and Sts/Cd from .07 on.
      const status = text(ntry, 'Sts') ?? text(ntry, 'Sts', 'Cd') ?? text(ntry, 'Sts', 'Prtry');
      if (status === null) problem(`${where}/Sts`, 'missing entry status');
      const booking = dateOf(child(ntry, 'BookgDt'));
      const valueDate = dateOf(child(ntry, 'ValDt'));
      if (booking.bad) problem(`${where}/BookgDt`, `invalid date ${booking.bad}`);
      if (valueDate.bad) problem(`${where}/ValDt`, `invalid date ${valueDate.bad}`);
      if (status === 'BOOK' && !booking.date && !booking.bad)
        problem(`${where}/BookgDt`, 'a booked entry needs a booking date');
      const booked = status === 'BOOK' && !(valueDate.date && to.date && valueDate.date > to.date);
      const entryRef = text(ntry, 'AcctSvcrRef');
      const code =
        [
          text(ntry, 'BkTxCd', 'Domn', 'Cd'),
          text(ntry, 'BkTxCd', 'Domn', 'Fmly', 'Cd'),
          text(ntry, 'BkTxCd', 'Domn', 'Fmly', 'SubFmlyCd'),
        ]
          .filter((x) => x !== null)
          .join('/') || text(ntry, 'BkTxCd', 'Prtry', 'Cd');
      const sign = ind === 'DBIT' ? -1n : 1n;

      // One line per transaction detail; the details of a batch must add up to the entry.
      const details = list(ntry, 'NtryDtls').flatMap((d, di) =>
        list(d, 'TxDtls').map((tx, ti) => ({ tx, path: `${path}${where}/NtryDtls[${di + 1}]/TxDtls[${ti + 1}]` })),
      );
      const amounts = details.map(({ tx }) => text(tx, 'Amt') ?? text(tx, 'AmtDtls', 'TxAmt', 'Amt'));
      const split = details.length > 1 && amounts.every((a) => a !== null);
      const lines = split ? details : [details.length === 1 ? details[0]! : { tx: undefined, path: `${path}${where}` }];
      let detailSum = 0n;
      lines.forEach(({ tx, path: linePath }, li) => {
        let linePence = pence * sign;
        if (split) {
          const p = toPence(amounts[li]!);
          if (p === undefined || p <= 0n) {
            problems.push({
              where: `${linePath}/Amt`,
              message: `amount ${amounts[li]} is not an exact positive amount in pence`,
            });
            return;
          }
          const txInd = text(tx, 'CdtDbtInd') ?? ind;
          linePence = txInd === 'DBIT' ? -p : p;
          detailSum += linePence;
        }
        const parties = child(tx, 'RltdPties');
        const counterpartyRole = ind === 'CRDT' ? 'Dbtr' : 'Cdtr';
        const remittance = [
          ...list(child(tx, 'RmtInf'), 'Ustrd').map((u) => (typeof u === 'string' ? u : text({ u }, 'u'))),
          ...list(child(tx, 'RmtInf'), 'Strd').map((s) => text(s, 'CdtrRefInf', 'Ref')),
          text(ntry, 'AddtlNtryInf'),
        ].filter((x): x is string => typeof x === 'string' && x.trim() !== '');
        const e2e = text(tx, 'Refs', 'EndToEndId');
        entries.push({
          path: linePath,
          entry_reference: split
            ? (text(tx, 'Refs', 'AcctSvcrRef') ?? (entryRef ? `${entryRef}/${li + 1}` : null))
            : (entryRef ?? text(tx, 'Refs', 'AcctSvcrRef')),
          booking_date: booking.date,
          value_date: valueDate.date,
          booked,
          amount: fromPence(linePence),
          currency: ccy ?? currency ?? '',
          reversal,
          bank_transaction_code: code ?? null,
          counterparty_name: partyName(parties, counterpartyRole),
          counterparty_account: accountOf(child(parties, `${counterpartyRole}Acct`)),
          remittance_information: remittance.length > 0 ? remittance.join(' ') : null,
          end_to_end_id: e2e && e2e !== 'NOTPROVIDED' ? e2e : null,
        });
      });
      if (split && detailSum !== pence * sign) {
        problem(
          `${where}/NtryDtls`,
          `the transaction details add up to ${fromPence(detailSum)}, the entry is ${fromPence(pence * sign)}`,
        );
      }
      if (booked) bookedSum += pence * sign;
    });

    if (opening !== null && closing !== null && opening + bookedSum !== closing) {
      problem(
        '/Bal',
        `balances do not reconcile: opening ${fromPence(opening)} + booked entries ${fromPence(bookedSum)} = ${fromPence(opening + bookedSum)}, but the closing balance is ${fromPence(closing)}`,
      );
    }
    statements.push({
      path,
      statement_ref: statementRef,
      iban: iban ? iban.replace(/\s/g, '').toUpperCase() : null,
      sort_code: sortCode,
      account_number: accountNumber,
      currency: currency ?? '',
      period_from: from.date,
      period_to: to.date,
      opening_balance: opening === null ? null : fromPence(opening),
      closing_balance: closing === null ? null : fromPence(closing),
      entries,
    });
    if (!currency) problem('/Acct/Ccy', 'no currency for the account');
  });
  return { version, statements, problems };
}
