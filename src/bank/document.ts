// The parsed form of a bank statement file: what every parser (camt.053, bank CSV) produces and what
// public.bank_import_statement stores (docs/payments.md). Amounts are exact decimal strings, never floats.

export type StatementFormat = 'camt.053' | 'csv' | 'ofx';

export interface StatementEntry {
  /** Where the line came from: an XML path (`/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/NtryDtls[1]/TxDtls[2]`) or `line N`. */
  path: string;
  entry_reference: string | null;
  booking_date: string | null;
  value_date: string | null;
  /** Booked (false: pending, or value-dated after the statement); only booked lines count towards the balance. */
  booked: boolean;
  /** Signed, 2 decimals: credits positive, debits negative. */
  amount: string;
  currency: string;
  reversal: boolean;
  bank_transaction_code: string | null;
  counterparty_name: string | null;
  counterparty_account: string | null;
  remittance_information: string | null;
  end_to_end_id: string | null;
}

export interface Statement {
  path: string;
  statement_ref: string | null;
  iban: string | null;
  sort_code: string | null;
  account_number: string | null;
  currency: string;
  period_from: string | null;
  period_to: string | null;
  opening_balance: string | null;
  closing_balance: string | null;
  entries: StatementEntry[];
}

export interface StatementDocument {
  format: StatementFormat;
  format_version: string;
  file_sha256: string;
  file_name: string | null;
  statements: Statement[];
}

/** One problem in a statement file, located by XML path or line number. */
export interface StatementProblem {
  where: string;
  message: string;
}

/** A file that cannot be imported: every problem found, each naming its line or XML path. Nothing was stored. */
export class StatementFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: StatementProblem[],
  ) {
    super(
      `${file}: ${problems.length} problem(s): ` +
        problems
          .slice(0, 10)
          .map((p) => `${p.where}: ${p.message}`)
          .join('; ') +
        (problems.length > 10 ? '; …' : ''),
    );
    this.name = 'StatementFileError';
  }
}
