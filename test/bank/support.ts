// Bank test data: an ESCO with a bank account (IBAN and/or sort code) and accounts whose payment references the
// sample statements quote (BSE-000101 …), made as the superuser. Each test file has its own database.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { register } from '../../src/cli/bank.ts';
import { one } from '../../src/db/client.ts';
import { runCli, type CliRun } from '../support/cli-in-process.ts';

export const fixtureText = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
export const fixtureBytes = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

export interface BankEsco {
  id: string;
  code: string;
  bankAccount: string;
  /** account ids by payment reference */
  accounts: Record<string, string>;
  operatorSub: string;
}

export async function makeBankEsco(
  pool: pg.Pool,
  code: string,
  options: {
    iban?: string | null;
    sortCode?: string;
    accountNumber?: string;
    references?: string[];
    billingMode?: 'credit' | 'prepay';
  } = {},
): Promise<BankEsco> {
  const esco = await one<{ id: string }>(
    pool,
    `insert into flows.escos (code, name, region) values ($1, $1, 'A') returning id`,
    [code],
  );
  const bank = await one<{ id: string }>(
    pool,
    `insert into public.esco_bank_accounts (esco, name, iban, sort_code, account_number)
     values ($1, 'Client account', $2, $3, $4) returning id`,
    [
      esco.id,
      options.iban === undefined ? null : options.iban,
      options.sortCode ?? null,
      options.accountNumber ?? null,
    ],
  );
  const accounts: Record<string, string> = {};
  for (const [i, ref] of (options.references ?? []).entries()) {
    accounts[ref] = (
      await one<{ id: string }>(
        pool,
        `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
         values ($1, $2, $3, $4) returning id`,
        [esco.id, `${code}-${i + 1}`, options.billingMode ?? 'credit', ref],
      )
    ).id;
  }
  const operatorSub = `op-${code.toLowerCase()}`;
  const op = await one<{ id: string }>(
    pool,
    `insert into public.operators (auth_subject, name) values ($1, $1) returning id`,
    [operatorSub],
  );
  await pool.query(`insert into public.operator_escos (operator, esco) values ($1, $2)`, [op.id, esco.id]);
  return { id: esco.id, code, bankAccount: bank.id, accounts, operatorSub };
}

/** Runs `flows bank <args>` in this process (DATABASE_URL as the test set it), capturing what it writes. */
export function runBankCli(args: string[], io: Parameters<typeof register>[1] = {}): Promise<CliRun> {
  return runCli([(program) => register(program, io)], ['bank', ...args]);
}
