// Collections: overdue invoices produce reminder records at the ESCO's steps (default 7, 14, 28 days past due),
// one per invoice and step, through the daily collections__remind job; paused for disputed invoices and accounts
// with a vulnerable customer, and after a pause only the latest step reached is written. Customers read their own
// reminders, operators their ESCO's.
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import remindTask from '../../jobs/collections__remind.ts';
import { asRole, useTestDatabase, usePool } from '../support/database.ts';
import { runJobsOnce } from '../support/worker.ts';
import { makeBankEsco, type BankEsco } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let esco: BankEsco;
let other: BankEsco;
let n = 0;
const REFS = Array.from({ length: 8 }, (_, i) => `COL-00000${i + 1}`);

beforeAll(async () => {
  esco = await makeBankEsco(ctx.pool, 'COLL', { iban: 'GB15HBUK40127612345678', references: REFS });
  other = await makeBankEsco(ctx.pool, 'COLX', { iban: 'GB71BARC20031844444444', references: ['COLX-000001'] });
});

/** A customer on the account (holder unless said), who reads their reminders with `sub`. */
async function customer(account: string, options: { vulnerable?: boolean; role?: string } = {}) {
  n++;
  const { id } = await one<{ id: string }>(
    ctx.pool,
    `insert into public.customers (esco, auth_subject, name, vulnerable)
     select a.esco, $2, 'Customer ' || $2, $3 from public.accounts a where a.id = $1 returning id`,
    [account, `col-customer-${n}`, options.vulnerable ?? false],
  );
  await ctx.pool.query(
    `insert into public.customer_accounts (customer, account, esco, role) select $1, a.id, a.esco, $3
       from public.accounts a where a.id = $2`,
    [id, account, options.role ?? 'holder'],
  );
  return { id, sub: `col-customer-${n}` };
}

/** An issued invoice of `total` whose due date was `daysAgo` days ago (Europe/London). */
async function overdue(account: string, total: string, daysAgo: number, escoId = esco.id): Promise<string> {
  n++;
  const { id } = await one<{ id: string }>(
    ctx.pool,
    `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
                                  supply_subtotal, vat, total, issued_at, due_date)
     values ($1, $2, 'invoice', 'issued', $3, '2026-09-01', '2026-10-01', 0, $4, 0, $4, now() - interval '60 days',
             (now() at time zone 'Europe/London')::date - $5::int)
     returning id`,
    [escoId, account, `COLL-${n}`, total, daysAgo],
  );
  return id;
}

/** Moves an invoice's due date back: `days` days pass for it. */
const age = (invoice: string, days: number) =>
  ctx.pool.query(`update public.invoices set due_date = due_date - $2::int where id = $1`, [invoice, days]);

/** Runs the daily job (the real task, as the worker role). */
async function remind(): Promise<void> {
  await ctx.pool.query(`select graphile_worker.add_job('collections__remind', '{}'::json)`);
  await runJobsOnce(db, { collections__remind: remindTask });
}

const reminders = (invoice: string) =>
  many<{ step: number; days_overdue: number; outstanding_gbp: string; due_date: string }>(
    ctx.pool,
    `select step, days_overdue, outstanding_gbp::text, to_char(due_date, 'YYYY-MM-DD') as due_date
       from public.payment_reminders where invoice = $1 order by step`,
    [invoice],
  );

describe('payment reminders', () => {
  it('writes each step on its day, once, with what is still outstanding', async () => {
    const acct = esco.accounts[REFS[0]!]!;
    await customer(acct);
    const inv = await overdue(acct, '84.37', 6);
    await remind();
    expect(await reminders(inv)).toEqual([]); // 6 days past due: no step reached yet
    await age(inv, 1);
    await remind();
    await remind(); // the same day again: nothing new
    expect(await reminders(inv)).toMatchObject([{ step: 7, days_overdue: 7, outstanding_gbp: '84.37' }]);

    // a part payment lowers what the next reminder says is outstanding
    const payment = await one<{ id: string }>(
      ctx.pool,
      `insert into public.payments (esco, account, amount, method, source) values ($1, $2, 30.00, 'cash', 'manual:coll-1')
       returning id`,
      [esco.id, acct],
    );
    await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct]);
    expect(payment.id).toBeTruthy();
    await age(inv, 7);
    await remind();
    expect((await reminders(inv)).map((r) => [r.step, r.outstanding_gbp])).toEqual([
      [7, '84.37'],
      [14, '54.37'],
    ]);
    await age(inv, 14);
    await remind();
    expect((await reminders(inv)).map((r) => r.step)).toEqual([7, 14, 28]);
    await age(inv, 30); // past the last step: nothing more
    await remind();
    expect((await reminders(inv)).map((r) => r.step)).toEqual([7, 14, 28]);
  });

  it('writes nothing for invoices not yet due, paid, void, or other kinds of document', async () => {
    const acct = esco.accounts[REFS[1]!]!;
    const notDue = await overdue(acct, '10.00', -3);
    const paid = await overdue(acct, '11.00', 10);
    await ctx.pool.query(
      `insert into public.payments (esco, account, amount, method, source) values ($1, $2, 11.00, 'cash', 'manual:coll-2')`,
      [esco.id, acct],
    );
    await one(ctx.pool, `select internal.payments_post(array[$1::uuid])`, [acct]);
    const statement = await overdue(acct, '12.00', 10);
    await ctx.pool.query(`update public.invoices set kind = 'statement', number = number || '-S' where id = $1`, [
      statement,
    ]);
    await remind();
    for (const inv of [notDue, paid, statement]) expect(await reminders(inv)).toEqual([]);
    expect(
      (await one<{ status: string }>(ctx.pool, `select status from public.invoices where id = $1`, [paid])).status,
    ).toBe('paid');
  });

  it('pauses a disputed invoice; once resolved it gets only the latest step reached', async () => {
    const acct = esco.accounts[REFS[2]!]!;
    const inv = await overdue(acct, '50.00', 10);
    await remind();
    expect((await reminders(inv)).map((r) => r.step)).toEqual([7]);
    await ctx.pool.query(
      `update public.invoices set disputed = true, dispute_reason = 'meter misread', disputed_at = now() where id = $1`,
      [inv],
    );
    await age(inv, 25); // 35 days past due, disputed all along
    const result = await one<{ r: { created: number; paused: number } }>(
      ctx.pool,
      `select internal.collections_remind($1) as r`,
      [esco.id],
    );
    expect(result.r).toMatchObject({ created: 0 });
    expect(result.r.paused).toBeGreaterThanOrEqual(1);
    expect((await reminders(inv)).map((r) => r.step)).toEqual([7]);
    await ctx.pool.query(
      `update public.invoices set disputed = false, disputed_at = null, dispute_resolution = 'reading confirmed' where id = $1`,
      [inv],
    );
    await remind();
    // step 14 was skipped while paused: no flood of old reminders, only the latest step reached
    expect((await reminders(inv)).map((r) => [r.step, r.days_overdue])).toEqual([
      [7, 10],
      [28, 35],
    ]);
  });

  it('pauses an account with a vulnerable customer (any role) until the flag is lifted', async () => {
    const acct = esco.accounts[REFS[3]!]!;
    await customer(acct);
    const occupant = await customer(acct, { vulnerable: true, role: 'occupant' });
    const inv = await overdue(acct, '20.00', 20);
    await remind();
    expect(await reminders(inv)).toEqual([]);
    await ctx.pool.query(`update public.customers set vulnerable = false where id = $1`, [occupant.id]);
    await remind();
    expect((await reminders(inv)).map((r) => r.step)).toEqual([14]);
  });

  it('uses the ESCO’s own steps from its billing settings, and refuses nonsense steps', async () => {
    const acct = other.accounts['COLX-000001']!;
    await ctx.pool.query(
      `insert into public.billing_settings (esco, legal_name, reminder_steps_days) values ($1, 'COLX Ltd', '{10,3}')`,
      [other.id],
    );
    const inv = await overdue(acct, '15.00', 4, other.id);
    const mine = await overdue(esco.accounts[REFS[4]!]!, '15.00', 4);
    await remind();
    expect((await reminders(inv)).map((r) => r.step)).toEqual([3]);
    expect(await reminders(mine)).toEqual([]); // the default steps: 7 is not reached
    for (const steps of ['{0}', '{400}', '{7,null}']) {
      await expect(
        ctx.pool.query(`update public.billing_settings set reminder_steps_days = $2 where esco = $1`, [
          other.id,
          steps,
        ]),
      ).rejects.toMatchObject({ code: '23514' });
    }
    // an operator of the ESCO may change them (column grant), through their ESCO's row only
    await asRole(ctx.pool, 'operator', { sub: other.operatorSub }, async (c) => {
      const { rowCount } = await c.query(`update public.billing_settings set reminder_steps_days = '{5}'`);
      expect(rowCount).toBe(1);
    });
  });

  it('lets customers read their own reminders and operators their ESCO’s, nobody write them', async () => {
    const acct = esco.accounts[REFS[5]!]!;
    const holder = await customer(acct);
    const stranger = await customer(esco.accounts[REFS[6]!]!);
    const inv = await overdue(acct, '33.00', 8);
    await remind();
    const visible = (role: string, claims: Record<string, unknown>) =>
      asRole(ctx.pool, role, claims, (c) =>
        many<{ invoice: string }>(c, `select invoice from public.payment_reminders where invoice = $1`, [inv]),
      );
    expect(await visible('customer', { sub: holder.sub })).toHaveLength(1);
    expect(await visible('customer', { sub: stranger.sub })).toHaveLength(0);
    expect(await visible('operator', { sub: esco.operatorSub })).toHaveLength(1);
    expect(await visible('operator', { sub: other.operatorSub })).toHaveLength(0);
    await asRole(ctx.pool, 'operator', { sub: esco.operatorSub }, async (c) => {
      await expect(
        c.query(
          `insert into public.payment_reminders (esco, invoice, account, step, due_date, days_overdue, outstanding_gbp)
           values ($1, $2, $3, 1, current_date, 1, 1)`,
          [esco.id, inv, acct],
        ),
      ).rejects.toMatchObject({ code: '42501' });
    });
  });
});
