// The demo's money (`npm start`, after `flows seed demo`'s data): bills the last full month of a demo ESCO and
// issues the invoices, gives the ESCO a bank account (and billing settings that print it), then writes the bank
// statement in which every customer pays their invoice — quoting the payment reference or the invoice number the
// way people type them — plus a bank charge, and imports it through the bank CSV path (signed-amount profile). The
// import enqueues bank__reconcile, which matches each credit and pays the invoices (docs/payments.md).
import type pg from 'pg';
import { importStatement, parseStatementFile, type ImportResult } from '../bank/import.ts';
import { fromPence, toPence } from '../bank/money.ts';
import { prepareRun, runBilling } from '../billing/run.ts';
import { many, one } from '../db/client.ts';

export interface DemoPaymentsOptions {
  /** The demo ESCO (default WLCE). */
  esco?: string;
  /** First day of the month billed (default: the last full month, Europe/London). */
  month?: string;
  /** The statement's day (default: today, Europe/London). */
  paidOn?: string;
}

export interface DemoPaymentsSummary {
  esco: string;
  month: string;
  /** Invoices issued (kind invoice: the ones a bank transfer pays; prepay accounts get statements). */
  invoices: number;
  /** The statement file, as imported. */
  statement: { fileName: string; csv: string };
  import: ImportResult;
}

/** The demo ESCO's bank account (a valid UK IBAN for sort code 04-00-04, account 20261101). */
export const demoBankAccount = { iban: 'GB55MONZ04000420261101', sortCode: '040004', accountNumber: '20261101' };
const openingBalance = 1250n * 100n;
const bankCharge = -450n;

interface Payable {
  number: string;
  total: string;
  payment_reference: string;
  payer: string;
}

/** How people quote what they pay (rule 1 of the matching normalises all of these). */
function remittance(p: Payable, i: number): string {
  const surname = p.payer.split(' ').at(-1)!.toUpperCase();
  switch (i % 4) {
    case 0:
      return `FASTER PAYMENT ${p.payment_reference} ${surname}`;
    case 1:
      return `${p.payer.toUpperCase()} ref ${p.payment_reference.toLowerCase()}`;
    case 2:
      return `BGC ${p.number.replace(/-/g, ' ')}, thanks`;
    default:
      return `Electricity ${p.payment_reference.slice(0, 4)} ${p.payment_reference.slice(4)}`;
  }
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const ukDate = (iso: string) => iso.split('-').reverse().join('/');

/** Bills, issues and pays the demo ESCO's month; returns what was imported (reconciled by the worker). */
export async function seedDemoPayments(
  client: pg.ClientBase,
  options: DemoPaymentsOptions = {},
): Promise<DemoPaymentsSummary> {
  const code = options.esco ?? 'WLCE';
  const dates = await one<{ month: string; today: string }>(
    client,
    `select to_char(coalesce($1::date, date_trunc('month', now() at time zone 'Europe/London') - interval '1 month'),
                    'YYYY-MM-DD') as month,
            to_char(coalesce($2::date, (now() at time zone 'Europe/London')::date), 'YYYY-MM-DD') as today`,
    [options.month ?? null, options.paidOn ?? null],
  );
  await ensureDemoBankAccount(client, code);

  const runId = await prepareRun(client, code, dates.month, 'demo');
  const progress = await runBilling(client, runId);
  if (progress.status !== 'drafted' || progress.errors > 0) {
    throw new Error(`the demo billing run of ${code} ended ${progress.status} with ${progress.errors} error(s)`);
  }
  await client.query('select public.billing_run_issue($1)', [runId]);

  const paid = await importDemoStatement(client, code, runId, dates.today);
  return {
    esco: code,
    month: dates.month,
    ...paid,
  };
}

/** The demo ESCO's bank account and billing settings that print it (both kept when present). */
export async function ensureDemoBankAccount(client: pg.ClientBase, code: string): Promise<void> {
  const esco = await one<{ id: string; name: string }>(client, `select id, name from flows.escos where code = $1`, [
    code,
  ]);
  await client.query(
    `insert into public.esco_bank_accounts (esco, name, iban, sort_code, account_number)
     values ($1, 'Client account', $2, $3, $4) on conflict do nothing`,
    [esco.id, demoBankAccount.iban, demoBankAccount.sortCode, demoBankAccount.accountNumber],
  );
  await client.query(
    `insert into public.billing_settings (esco, legal_name, address, bank_details, payment_instructions)
     values ($1, $2, '1 Community Way, Bristol BS1 4DJ', 'Sort code 04-00-04, account 20261101',
             'Pay by bank transfer quoting your payment reference.')
     on conflict (esco) do nothing`,
    [esco.id, `${esco.name} Ltd`],
  );
}

/**
 * Writes the statement in which every customer pays their issued invoice of billing run `runId` (plus a bank
 * charge), dated `paidOn`, and imports it through the bank CSV path; bank__reconcile (enqueued) matches it.
 */
export async function importDemoStatement(
  client: pg.ClientBase,
  code: string,
  runId: string,
  paidOn: string,
): Promise<Pick<DemoPaymentsSummary, 'invoices' | 'statement' | 'import'>> {
  const payable = await many<Payable>(
    client,
    `select i.number, i.total::text as total, a.payment_reference,
            (select c.name from public.customer_accounts ca join public.customers c on c.id = ca.customer
              where ca.account = a.id order by ca.role = 'holder' desc, c.name limit 1) as payer
       from public.invoices i join public.accounts a on a.id = i.account
      where i.run = $1 and i.kind = 'invoice' and i.status = 'issued' and i.total > 0
      order by i.number`,
    [runId],
  );
  let balance = openingBalance;
  const rows = ['Date,Description,Amount,Balance'];
  const line = (description: string, pence: bigint) => {
    balance += pence;
    rows.push([ukDate(paidOn), csvField(description), fromPence(pence), fromPence(balance)].join(','));
  };
  payable.forEach((p, i) => line(remittance(p, i), toPence(p.total)!));
  line('ACCOUNT FEE', bankCharge);
  const csv = `${rows.join('\n')}\n`;
  const fileName = `${code.toLowerCase()}-statement-${paidOn}.csv`;
  const document = parseStatementFile(Buffer.from(csv), {
    fileName,
    profile: 'signed-amount',
    account: { iban: demoBankAccount.iban, sort_code: null, account_number: null },
  });
  return {
    invoices: payable.length,
    statement: { fileName, csv },
    import: await importStatement(client, code, document),
  };
}
