// OFX bank statements (Open Financial Exchange): 1.x files (an `OFXHEADER:100` header, then SGML in which data
// elements need no end tag) and 2.x files (XML with an `<?OFX OFXHEADER="200" …?>` instruction). Every bank
// statement response (BANKMSGSRSV1/STMTTRNRS/STMTRS) becomes a statement: the account from BANKACCTFROM, the
// currency CURDEF, the period from BANKTRANLIST DTSTART/DTEND, the closing booked balance from LEDGERBAL, and one
// line per STMTTRN (FITID, DTPOSTED, TRNAMT, TRNTYPE, NAME or PAYEE/NAME, MEMO). Parsed strictly, like camt.053:
// the whole file is checked and every problem is reported with its element path (or line, for syntax); the caller
// stores nothing unless the list is empty.
//
// OFX gives no opening balance (LEDGERBAL is the balance as of DTASOF; AVAILBAL is not a booked balance), so the
// opening + booked entries = closing check cannot be made: opening_balance is left empty, which tells the import
// to skip it (docs/payments.md, "OFX").
import type { Statement, StatementEntry, StatementProblem } from './document.ts';
import { fromPence, isIsoDate, toPence } from './money.ts';

export interface OfxResult {
  /** `ofx.102`, `ofx.211`…: the header's VERSION. */
  version: string;
  statements: Statement[];
  problems: StatementProblem[];
}

/** An OFX element: an aggregate (children) or a data element (text). */
interface Element {
  name: string;
  path: string;
  line: number;
  text?: string;
  children: Element[];
}

/** Aggregates of the bank statement response and its envelope: they always have an end tag. */
const AGGREGATES = new Set([
  'OFX',
  'SIGNONMSGSRSV1',
  'SONRS',
  'STATUS',
  'FI',
  'BANKMSGSRSV1',
  'STMTTRNRS',
  'STMTRS',
  'BANKACCTFROM',
  'BANKACCTTO',
  'CCACCTTO',
  'BANKTRANLIST',
  'STMTTRN',
  'PAYEE',
  'CURRENCY',
  'ORIGCURRENCY',
  'LEDGERBAL',
  'AVAILBAL',
  'BALLIST',
  'BAL',
]);

/** Elements that may repeat: their paths always carry the position (`STMTTRN[3]`), as camt.053 paths do. */
const REPEATING = new Set(['STMTTRNRS', 'STMTTRN', 'BAL']);

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** Whether the text is an OFX file (1.x header or 2.x processing instruction, or a bare <OFX> root). */
export function looksLikeOfx(text: string): boolean {
  const start = text
    .replace(/^\uFEFF/, '')
    .trimStart()
    .slice(0, 2000);
  return /^OFXHEADER\s*:/i.test(start) || /<\?OFX\s/i.test(start) || /^<OFX>/i.test(start);
}

/** The text of an OFX file: 1.x files in CHARSET 1252 / ISO-8859-1 are not UTF-8. */
export function decodeOfx(content: Buffer): string {
  const head = content.subarray(0, 1000).toString('latin1');
  const charset = /^CHARSET\s*:\s*(\S+)/im.exec(head)?.[1]?.toUpperCase();
  const encoding = /^ENCODING\s*:\s*(\S+)/im.exec(head)?.[1]?.toUpperCase();
  if (encoding !== 'UTF-8' && (charset === '1252' || charset === 'ISO-8859-1' || charset === '8859-1')) {
    return new TextDecoder('windows-1252').decode(content);
  }
  return content.toString('utf8');
}

/** The header's version and the body (from the first tag on), or a problem. */
function splitHeader(text: string): { version: string; body: string; bodyLine: number } | StatementProblem {
  const clean = text.replace(/^\uFEFF/, '');
  const first = clean.indexOf('<');
  const lineOf = (offset: number) => clean.slice(0, offset).split('\n').length;
  if (/^\s*OFXHEADER\s*:/i.test(clean)) {
    const header = clean.slice(0, first < 0 ? clean.length : first);
    const fields = new Map(
      [...header.matchAll(/^\s*([A-Z]+)\s*:\s*(.*?)\s*$/gim)].map((m) => [m[1]!.toUpperCase(), m[2]!]),
    );
    if (fields.get('OFXHEADER') !== '100') {
      return { where: 'line 1', message: `OFXHEADER ${fields.get('OFXHEADER') ?? ''} is not 100 (OFX 1.x)` };
    }
    if (fields.get('DATA') !== 'OFXSGML') return { where: 'line 2', message: 'DATA must be OFXSGML' };
    const version = fields.get('VERSION') ?? '';
    if (!/^1\d\d$/.test(version)) return { where: 'header', message: `VERSION ${version} is not an OFX 1.x version` };
    if (first < 0) return { where: `line ${lineOf(clean.length)}`, message: 'no <OFX> element (truncated file?)' };
    return { version: `ofx.${version}`, body: clean.slice(first), bodyLine: lineOf(first) };
  }
  const pi = /<\?OFX\s([^?]*)\?>/i.exec(clean);
  if (pi) {
    const attributes = new Map(
      [...pi[1]!.matchAll(/([A-Z]+)\s*=\s*"([^"]*)"/gi)].map((m) => [m[1]!.toUpperCase(), m[2]!]),
    );
    const version = attributes.get('VERSION') ?? '';
    if (attributes.get('OFXHEADER') !== '200' || !/^2\d\d$/.test(version)) {
      return { where: `line ${lineOf(pi.index)}`, message: `not an OFX 2.x header (OFXHEADER 200, VERSION 2xx)` };
    }
    const root = clean.indexOf('<OFX>', pi.index);
    if (root < 0) return { where: `line ${lineOf(clean.length)}`, message: 'no <OFX> element (truncated file?)' };
    return { version: `ofx.${version}`, body: clean.slice(root), bodyLine: lineOf(root) };
  }
  return { where: 'line 1', message: 'no OFX header (OFXHEADER:100 or <?OFX OFXHEADER="200" …?>)' };
}

/**
 * The element tree of an OFX body, SGML or XML alike: an element with text is a data element (its end tag is
 * optional); an element followed by another start tag is an aggregate, which must be closed — unless the end tag
 * of an enclosing aggregate comes first and it is not one of the known aggregates: then it was an empty data
 * element (`<BANKID>` with nothing after it, in SGML).
 */
function parseBody(body: string, firstLine: number): { root?: Element; problem?: StatementProblem } {
  const tag = /<(\/?)([A-Za-z0-9._]+)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;
  const root: Element = { name: '#document', path: '', line: firstLine, children: [] };
  const stack: Element[] = [root];
  let line = firstLine;
  let offset = 0;
  let pending: Element | undefined; // the last start tag, until we know whether it holds text
  const advance = (to: number) => {
    for (let i = offset; i < to; i++) if (body.charCodeAt(i) === 10) line++;
    offset = to;
  };
  const top = () => stack[stack.length - 1]!;
  /** Closes the open elements above `depth` that turn out to be empty data elements; false if one is an aggregate. */
  const flattenTo = (depth: number): boolean => {
    if (stack.slice(depth + 1).some((e) => AGGREGATES.has(e.name))) return false;
    while (stack.length - 1 > depth) {
      const e = stack.pop()!;
      const siblings = top().children;
      siblings.splice(siblings.indexOf(e) + 1, 0, ...e.children);
      e.children = [];
      e.text = '';
    }
    return true;
  };
  const problem = (message: string) => ({ problem: { where: `line ${line}`, message } });
  let m: RegExpExecArray | null;
  while ((m = tag.exec(body)) !== null) {
    const text = body.slice(offset, m.index).trim();
    advance(m.index);
    if (m[2] === undefined) {
      advance(m.index + m[0].length);
      continue; // a comment or processing instruction
    }
    const closing = m[1] === '/';
    const name = m[2].toUpperCase();
    if (pending) {
      const element: Element = pending;
      pending = undefined;
      top().children.push(element);
      if (text !== '' || (closing && name === element.name && !AGGREGATES.has(name))) {
        element.text = decodeEntities(text); // a data element: its text up to the next tag
        if (closing && name === element.name) {
          advance(m.index + m[0].length);
          continue;
        }
      } else stack.push(element); // an aggregate (or an empty data element, see flattenTo)
    } else if (text !== '') {
      return problem(`text outside an element: ${text.slice(0, 40)}`);
    }
    advance(m.index + m[0].length);
    if (closing) {
      const depth = stack.map((e) => e.name).lastIndexOf(name);
      if (depth < 1) return problem(`</${name}> without a matching <${name}>`);
      if (!flattenTo(depth)) {
        return problem(`</${name}> closes <${name}> but <${top().name}> (line ${top().line}) is still open`);
      }
      stack.pop();
    } else if (m[3] === '/') {
      top().children.push({ name, path: '', line, text: '', children: [] }); // <MEMO/>
    } else {
      pending = { name, path: '', line, children: [] };
    }
  }
  const rest = body.slice(offset).trim();
  if (pending) {
    top().children.push(pending);
    if (rest === '') stack.push(pending);
    else pending.text = decodeEntities(rest);
  } else if (rest !== '') {
    return problem(`text outside an element: ${rest.slice(0, 40)}`);
  }
  if (stack.length > 1 && !flattenTo(0)) {
    const open = stack
      .slice(1)
      .reverse()
      .find((e) => AGGREGATES.has(e.name))!; // the innermost
    return problem(`<${open.name}> (line ${open.line}) is not closed (truncated file?)`);
  }
  const ofx = root.children.find((e) => e.name === 'OFX');
  if (!ofx || root.children.length !== 1) return problem('the body must be one <OFX> element');
  setPaths(ofx, '');
  return { root: ofx };
}

/** `/OFX/BANKMSGSRSV1/STMTTRNRS[1]/…`: repeating elements carry their position among their siblings. */
function setPaths(element: Element, parentPath: string, index = 1): void {
  element.path = `${parentPath}/${element.name}${REPEATING.has(element.name) ? `[${index}]` : ''}`;
  const seen = new Map<string, number>();
  for (const c of element.children) {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    setPaths(c, element.path, n);
  }
}

const child = (e: Element | undefined, name: string) => e?.children.find((c) => c.name === name);
const children = (e: Element | undefined, name: string) => e?.children.filter((c) => c.name === name) ?? [];
const text = (e: Element | undefined, ...names: string[]): string | null => {
  let current = e;
  for (const name of names) current = child(current, name);
  const value = current?.text?.trim();
  return value === undefined || value === '' ? null : value;
};

/** The date of an OFX date-time (YYYYMMDD[HHMMSS[.XXX]][[offset[:TZ]]]), as YYYY-MM-DD, or undefined. */
function ofxDate(value: string): string | undefined {
  const m =
    /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?(?:\.\d{1,3})?)?(?:\s*\[[+-]?\d{1,2}(?:\.\d+)?(?::[A-Za-z]+)?\])?$/.exec(
      value,
    );
  if (!m) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}`;
  if (!isIsoDate(iso)) return undefined;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) return undefined;
  return iso;
}

/** Pence of an OFX amount ('+154.99', '-12.5', '154,99': OFX allows a decimal comma), or undefined. */
function ofxPence(value: string): bigint | undefined {
  const v = value.replace(/^\+/, '');
  return toPence(v.includes('.') ? v : v.replace(',', '.'));
}

export function parseOfx(source: string): OfxResult {
  const header = splitHeader(source);
  if ('where' in header) return { version: '', statements: [], problems: [header] };
  const { root, problem } = parseBody(header.body, header.bodyLine);
  if (!root) return { version: header.version, statements: [], problems: [problem!] };
  const problems: StatementProblem[] = [];
  const add = (where: string, message: string) => problems.push({ where, message });

  const status = (e: Element | undefined) => {
    const s = child(e, 'STATUS');
    const code = text(s, 'CODE');
    if (code !== null && code !== '0') {
      add(
        s!.path,
        `the bank reports status ${code} (${text(s, 'SEVERITY') ?? 'ERROR'}): ${text(s, 'MESSAGE') ?? 'no statement'}`,
      );
    }
  };
  status(child(child(root, 'SIGNONMSGSRSV1'), 'SONRS'));

  const responses = children(child(root, 'BANKMSGSRSV1'), 'STMTTRNRS');
  if (responses.length === 0) {
    add(
      `${root.path}/BANKMSGSRSV1`,
      'no bank statement (BANKMSGSRSV1/STMTTRNRS); credit card and investment statements are not bank statements',
    );
    return { version: header.version, statements: [], problems };
  }
  const statements: Statement[] = [];
  for (const response of responses) {
    status(response);
    const stmt = child(response, 'STMTRS');
    if (!stmt) {
      if (!problems.some((p) => p.where.startsWith(response.path))) add(response.path, 'no STMTRS');
      continue;
    }
    const at = (name: string) => `${stmt.path}/${name}`;
    const currency = text(stmt, 'CURDEF');
    if (currency === null || !/^[A-Z]{3}$/.test(currency))
      add(at('CURDEF'), `currency ${currency ?? 'missing'} is not an ISO 4217 code`);

    // The account: an IBAN in ACCTID, or a UK sort code (BANKID) and account number (ACCTID), or both in ACCTID.
    const acct = child(stmt, 'BANKACCTFROM');
    const acctId = text(acct, 'ACCTID')?.replace(/[\s-]/g, '').toUpperCase() ?? null;
    const bankId = text(acct, 'BANKID')?.replace(/[\s-]/g, '') ?? null;
    let iban: string | null = null;
    let sortCode: string | null = null;
    let accountNumber: string | null = null;
    if (!acct || acctId === null) add(at('BANKACCTFROM/ACCTID'), 'missing account identification');
    else if (/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(acctId)) iban = acctId;
    else if (/^\d{14}$/.test(acctId)) [sortCode, accountNumber] = [acctId.slice(0, 6), acctId.slice(6)];
    else if (/^\d{8}$/.test(acctId) && bankId !== null && /^\d{6}$/.test(bankId))
      [sortCode, accountNumber] = [bankId, acctId];
    else add(at('BANKACCTFROM'), 'expected an IBAN, or a sort code (BANKID) and an 8-digit account number (ACCTID)');

    const list = child(stmt, 'BANKTRANLIST');
    const dateAt = (e: Element | undefined, name: string, where: string, required: boolean): string | null => {
      const value = text(e, name);
      if (value === null) {
        if (required) add(where, `missing ${name}`);
        return null;
      }
      const date = ofxDate(value);
      if (date === undefined) add(where, `invalid date ${value}`);
      return date ?? null;
    };
    if (!list) add(at('BANKTRANLIST'), 'missing the transaction list');
    const from = dateAt(list, 'DTSTART', at('BANKTRANLIST/DTSTART'), list !== undefined);
    const to = dateAt(list, 'DTEND', at('BANKTRANLIST/DTEND'), list !== undefined);
    if (from && to && to < from) add(at('BANKTRANLIST'), 'the period ends before it starts');

    let closing: bigint | null = null;
    const ledger = child(stmt, 'LEDGERBAL');
    const balance = text(ledger, 'BALAMT');
    if (!ledger || balance === null) add(at('LEDGERBAL'), 'missing the ledger balance (LEDGERBAL/BALAMT)');
    else {
      const pence = ofxPence(balance);
      if (pence === undefined) add(at('LEDGERBAL/BALAMT'), `balance ${balance} is not an exact amount in pence`);
      else closing = pence;
      dateAt(ledger, 'DTASOF', at('LEDGERBAL/DTASOF'), true);
    }

    const entries: StatementEntry[] = [];
    const fitids = new Map<string, string>();
    for (const trn of children(list, 'STMTTRN')) {
      const where = (name: string) => `${trn.path}/${name}`;
      const type = text(trn, 'TRNTYPE');
      if (type === null) add(where('TRNTYPE'), 'missing TRNTYPE');
      const fitid = text(trn, 'FITID');
      if (fitid === null) add(where('FITID'), 'missing FITID');
      else if (fitids.has(fitid)) add(where('FITID'), `duplicate FITID ${fitid} (also ${fitids.get(fitid)})`);
      else fitids.set(fitid, trn.path);
      if (child(trn, 'CORRECTACTION')) {
        add(where('CORRECTACTION'), 'corrections of earlier transactions (CORRECTACTION) are not supported');
      }
      const posted = dateAt(trn, 'DTPOSTED', where('DTPOSTED'), true);
      const amountText = text(trn, 'TRNAMT');
      const pence = amountText === null ? undefined : ofxPence(amountText);
      if (pence === undefined || pence === 0n) {
        add(where('TRNAMT'), `amount ${amountText ?? 'missing'} is not an exact non-zero amount in pence`);
      }
      const foreign = text(trn, 'CURRENCY', 'CURSYM');
      if (foreign !== null && foreign !== currency) {
        add(where('CURRENCY/CURSYM'), `currency ${foreign} differs from the account currency ${currency ?? ''}`);
      }
      if (posted === null || pence === undefined || pence === 0n) continue;
      const payeeAccount = child(trn, 'BANKACCTTO');
      entries.push({
        path: trn.path,
        entry_reference: fitid,
        booking_date: posted,
        value_date: null,
        booked: true,
        amount: fromPence(pence),
        currency: currency ?? '',
        reversal: false,
        bank_transaction_code: type,
        counterparty_name: text(trn, 'NAME') ?? text(trn, 'PAYEE', 'NAME'),
        counterparty_account: payeeAccount
          ? [text(payeeAccount, 'BANKID'), text(payeeAccount, 'ACCTID')].filter((x) => x !== null).join('') || null
          : null,
        remittance_information: text(trn, 'MEMO'),
        end_to_end_id: null,
      });
    }
    statements.push({
      path: stmt.path,
      statement_ref: null,
      iban,
      sort_code: sortCode,
      account_number: accountNumber,
      currency: currency ?? '',
      period_from: from,
      period_to: to,
      opening_balance: null,
      closing_balance: closing === null ? null : fromPence(closing),
      entries,
    });
  }
  return { version: header.version, statements, problems };
}
