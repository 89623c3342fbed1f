// customer_data_export and customer_erase: who may call them, what the export holds, what erasure refuses,
// pseudonymises, keeps and redacts (also inside the audit trail), and that it is idempotent.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { asRole, committedAs, usePool, useTestDatabase } from '../support/database.ts';
import { asRoleAfter, buildWorld, claims, sqlstate, type World } from './public/fixtures.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let world: World;
let bob: { invoice: string; payment: string; bankLine: string; meterSerial: string };

const phone = '+447700900456';
const payer = { name: 'B JONES THE PAYER', account: 'GB33BUKB20201555555555' };
/** Every personal value of bob's that erasure must remove, wherever it is (rows and audit entries). */
const bobMarkers = ['Customer bob', 'bob@example.org', phone, payer.name, payer.account, 'bob-private-payload'];

/** Runs a statement as a web role and commits. */
const commitAs = (role: string, sub: string, sql: string, values: unknown[] = []) =>
  committedAs(ctx.pool, role, { sub }, (c) => c.query(sql, values));

beforeAll(async () => {
  world = await buildWorld(ctx.pool);
  const q = <T extends pg.QueryResultRow>(sql: string, values: unknown[] = []) => one<T>(ctx.pool, sql, values);
  const account = world.accounts.bob;
  const esco = world.escoA;
  // Bob edits his own phone (an audit entry with his personal data, written as the customer).
  await commitAs('customer', 'bob', `update public.customers set phone = $1`, [phone]);
  // A paid invoice: issued, debited, paid by bank transfer (a matched bank line naming the payer), credited.
  const { id: invoice } = await q<{ id: string }>(
    `insert into public.invoices (esco, account, kind, status, number, period_start, period_end, vat_rate_pct,
       supply_subtotal, vat, total, issued_at, due_date)
     values ($1, $2, 'invoice', 'paid', 'DP-0001', '2026-09-01', '2026-10-01', 5, 10.00, 0.50, 10.50, now(),
             current_date) returning id`,
    [esco, account],
  );
  await ctx.pool.query(
    `insert into public.ledger_entries (esco, account, kind, amount, invoice, description)
     values ($1, $2, 'invoice', 10.50, $3, 'Invoice DP-0001')`,
    [esco, account, invoice],
  );
  const { id: payment } = await q<{ id: string }>(
    `insert into public.payments (esco, account, amount, method, source, reference, status)
     values ($1, $2, 10.50, 'bank_transfer', 'bank:dp-1', 'REF-BOB', 'allocated') returning id`,
    [esco, account],
  );
  await ctx.pool.query(
    `insert into public.ledger_entries (esco, account, kind, amount, description) values ($1, $2, 'payment', -10.50, 'Payment')`,
    [esco, account],
  );
  const { id: bankAccount } = await q<{ id: string }>(
    `insert into public.esco_bank_accounts (esco, name, sort_code, account_number) values ($1, 'Main', '200000', '12345678')
     returning id`,
    [esco],
  );
  const { id: statement } = await q<{ id: string }>(
    `insert into public.bank_statements (esco, bank_account, format, file_sha256, currency)
     values ($1, $2, 'csv', repeat('a', 64), 'GBP') returning id`,
    [esco, bankAccount],
  );
  const { id: bankLine } = await q<{ id: string }>(
    `insert into public.bank_transactions (esco, statement, bank_account, identity, position, amount, currency,
       counterparty_name, counterparty_account, remittance_information)
     values ($1, $2, $3, 'dp-line-1', 1, 10.50, 'GBP', $4, $5, 'REF-BOB') returning id`,
    [esco, statement, bankAccount, payer.name, payer.account],
  );
  await ctx.pool.query(
    `update public.bank_transactions set status = 'matched', matched_account = $2, payment = $3, match_rule = 'reference'
      where id = $1`,
    [bankLine, account, payment],
  );
  await ctx.pool.query(
    `insert into public.notifications (esco, customer, channel, address, template, payload, dedupe_key)
     values ($1, $2, 'email', 'bob@example.org', 'invoice_issued', '{"note": "bob-private-payload"}', 'dp-note-1')`,
    [esco, world.customers.bob],
  );
  const { serial } = await q<{ serial: string }>(`select serial from flows.meter_registry where id = $1`, [
    world.meters.m2,
  ]);
  bob = { invoice, payment, bankLine, meterSerial: serial };
});

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const exportAs = (role: string, sub: string, customer: string) =>
  asRole(
    ctx.pool,
    role,
    { sub },
    async (c) => (await one<{ doc: Doc }>(c, `select public.customer_data_export($1) as doc`, [customer])).doc,
  );

describe('customer_data_export', () => {
  it('gives the customer every personal datum about them, as one JSON document', async () => {
    const doc = await exportAs('customer', 'bob', world.customers.bob);
    expect(doc.customer).toMatchObject({
      id: world.customers.bob,
      name: 'Customer bob',
      email: 'bob@example.org',
      phone,
    });
    expect(doc.customer.contact_preferences).toEqual({});
    expect(doc.esco).toEqual({ code: 'WLCE', name: 'WLCE energy' });
    expect(doc.notification_preferences).toMatchObject({ customer: world.customers.bob });
    expect(doc.accounts).toHaveLength(1);
    const account = doc.accounts[0];
    expect(account).toMatchObject({ account_number: 'ACC-BOB', role: 'holder' });
    expect(account.supplies).toEqual([
      expect.objectContaining({
        start_date: '2025-06-01',
        property: expect.objectContaining({ plot: 'P2' }),
        meters: [bob.meterSerial],
      }),
    ]);
    expect(account.invoices.map((i: Doc) => i.number)).toEqual(['DP-0001']);
    expect(account.ledger_entries.map((l: Doc) => l.amount)).toEqual([10.5, -10.5]);
    expect(account.payments.map((p: Doc) => p.id)).toEqual([bob.payment]);
    expect(account.bank_transactions).toEqual([
      expect.objectContaining({ counterparty_name: payer.name, counterparty_account: payer.account }),
    ]);
    expect(doc.notifications.map((n: Doc) => [n.address, n.payload])).toContainEqual([
      'bob@example.org',
      { note: 'bob-private-payload' },
    ]);
    // The audit entries about him: his phone change, by role, without who (that is someone else's data).
    const phoneChange = doc.audit_log.find(
      (e: Doc) => e.table === 'public.customers' && e.operation === 'UPDATE' && e.new_values?.phone === phone,
    );
    expect(phoneChange).toMatchObject({ by_role: 'customer', old_values: { phone: null } });
    expect(Object.keys(phoneChange)).not.toContain('subject');
    expect(doc.audit_log.some((e: Doc) => e.table === 'public.invoices')).toBe(true);
    // Nothing of other customers.
    expect(JSON.stringify(doc)).not.toMatch(/alice|carol|ACC-ALICE/);
  });

  it('serves an operator of their ESCO, and answers everyone else as if the customer did not exist', async () => {
    expect((await exportAs('operator', 'op-a', world.customers.bob)).customer.id).toBe(world.customers.bob);
    const notFound = async (role: string, sub: string, customer: string) =>
      asRole(ctx.pool, role, { sub }, (c) => c.query(`select public.customer_data_export($1)`, [customer])).then(
        () => 'none',
        (e: { code: string; message: string }) => `${e.code} ${e.message}`,
      );
    expect(await notFound('customer', 'alice', world.customers.bob)).toBe('PT404 customer not found');
    expect(await notFound('operator', 'op-b', world.customers.bob)).toBe('PT404 customer not found');
    expect(await notFound('operator', 'op-a', '00000000-0000-4000-8000-000000000000')).toBe('PT404 customer not found');
    for (const role of ['anon', 'service', 'reporting']) {
      expect(await sqlstate(exportAs(role, 'x', world.customers.bob))).toBe('42501');
    }
  });
});

describe('customer_erase', () => {
  const erase = (c: pg.PoolClient) => c.query(`select public.customer_erase($1) as r`, [world.customers.bob]);
  const refusal = async (setup: (c: pg.PoolClient) => Promise<unknown>) =>
    asRoleAfter(ctx.pool, setup, 'operator', claims.opA, erase).then(
      () => null,
      (e: { code: string; message: string; hint: string }) => ({ code: e.code, message: e.message, hint: e.hint }),
    );
  const endSupply = (c: pg.PoolClient) =>
    c.query(`update public.account_supplies set end_date = '2026-10-01' where id = $1`, [world.supplies.bob]);

  it('refuses while a supply has not ended, an account has a balance, or an invoice is open or disputed', async () => {
    expect(await refusal(async () => undefined)).toEqual({
      code: 'PT409',
      message: 'account ACC-BOB still supplies a property',
      hint: 'End the supply and issue the final bill before erasing the customer.',
    });
    expect(
      await refusal(async (c) => {
        await endSupply(c);
        await c.query(
          `insert into public.ledger_entries (esco, account, kind, amount, description) values ($1, $2, 'adjustment', 5, 'x')`,
          [world.escoA, world.accounts.bob],
        );
      }),
    ).toEqual({
      code: 'PT409',
      message: 'account ACC-BOB has a balance of 5.00',
      hint: 'Settle the balance (payment, refund or adjustment) before erasing the customer.',
    });
    for (const change of [
      `insert into public.invoices (esco, account, kind, period_start, period_end, vat_rate_pct)
       values ($1, $2, 'invoice', '2026-10-01', '2026-11-01', 5)`,
      `update public.invoices set disputed = true, disputed_at = now(), dispute_reason = 'too high'
        where esco = $1 and account = $2`,
    ]) {
      expect(
        await refusal(async (c) => {
          await endSupply(c);
          await c.query(change, [world.escoA, world.accounts.bob]);
        }),
      ).toEqual({
        code: 'PT409',
        message: 'account ACC-BOB has 1 open invoice(s)',
        hint: 'Issue, settle or void open invoices and resolve disputes before erasing the customer.',
      });
    }
  });

  it('is for operators of the customer’s ESCO only', async () => {
    const attempt = (role: string, sub: string) =>
      asRoleAfter(ctx.pool, endSupply, role, { sub }, erase).then(
        () => 'none',
        (e: { code: string; message: string }) => `${e.code} ${e.message}`,
      );
    expect(await attempt('operator', 'op-b')).toBe('PT404 customer not found');
    for (const role of ['customer', 'service', 'anon', 'reporting']) {
      expect(await attempt(role, role === 'customer' ? 'bob' : 'x')).toMatch(/^42501 /);
    }
  });

  it('pseudonymises personal data, keeps the financial records, redacts the audit trail and records itself', async () => {
    await ctx.pool.query(`update public.account_supplies set end_date = '2026-10-01' where id = $1`, [
      world.supplies.bob,
    ]);
    const money = `select (select jsonb_agg(l order by l.id) from public.ledger_entries l where l.account = $1) as ledger,
                          (select jsonb_agg(p order by p.id) from public.payments p where p.account = $1) as payments,
                          (select jsonb_agg(i order by i.id) from public.invoices i where i.account = $1) as invoices`;
    const before = await one(ctx.pool, money, [world.accounts.bob]);
    const { n: notes } = await one<{ n: number }>(
      ctx.pool,
      `select count(*)::integer as n from public.notifications where customer = $1`,
      [world.customers.bob],
    );
    expect(notes).toBeGreaterThan(0);
    const { rows } = await commitAs('operator', 'op-a', `select public.customer_erase($1) as r`, [world.customers.bob]);
    expect(rows[0].r).toMatchObject({
      customer: world.customers.bob,
      accounts: [world.accounts.bob],
      customer_record: 1,
      notifications: notes,
      bank_transactions: 1,
      already_erased: false,
    });
    expect(rows[0].r.audit_entries_redacted).toBeGreaterThan(3);

    expect(await one(ctx.pool, money, [world.accounts.bob])).toEqual(before);
    expect(
      await one(
        ctx.pool,
        `select name, email, phone, auth_subject, contact_preferences from public.customers where id = $1`,
        [world.customers.bob],
      ),
    ).toEqual({
      name: `Erased customer ${world.customers.bob.slice(0, 8)}`,
      email: null,
      phone: null,
      auth_subject: null,
      contact_preferences: {},
    });
    expect(
      await many(ctx.pool, `select address, payload, status from public.notifications where customer = $1`, [
        world.customers.bob,
      ]),
    ).toEqual(expect.arrayContaining([expect.objectContaining({ address: 'erased', payload: {} })]));
    expect(
      await one(
        ctx.pool,
        `select counterparty_name, counterparty_account, amount from public.bank_transactions where id = $1`,
        [bob.bankLine],
      ),
    ).toEqual({ counterparty_name: 'erased', counterparty_account: null, amount: '10.50' });

    // No personal value of his is left anywhere in the audit trail; other customers' are untouched.
    const dump = (
      await one<{ t: string }>(ctx.pool, `select string_agg(l::text, E'\\n') as t from internal.audit_log l`)
    ).t;
    for (const marker of bobMarkers) expect(dump, marker).not.toContain(marker);
    expect(dump).toContain('alice@example.org');
    const [entry, ...more] = await many<{ db_role: string; subject: string; new_values: Doc }>(
      ctx.pool,
      `select db_role, subject, new_values from internal.audit_log where operation = 'ERASE' and customer = $1`,
      [world.customers.bob],
    );
    expect(more).toEqual([]);
    expect(entry).toMatchObject({ db_role: 'operator', subject: 'op-a', new_values: { bank_transactions: 1 } });
    // His login no longer reaches anything; the operator's export shows the pseudonym.
    expect((await exportAs('operator', 'op-a', world.customers.bob)).customer.name).toMatch(/^Erased customer /);
    expect(await sqlstate(exportAs('customer', 'bob', world.customers.bob))).toBe('PT404');
  });

  it('is idempotent: a second erasure changes nothing and records nothing', async () => {
    const count = () =>
      one<{ n: number }>(ctx.pool, `select count(*)::integer as n from internal.audit_log`).then((r) => r.n);
    const entries = await count();
    const { rows } = await commitAs('operator', 'op-a', `select public.customer_erase($1) as r`, [world.customers.bob]);
    expect(rows[0].r).toMatchObject({
      customer_record: 0,
      notifications: 0,
      bank_transactions: 0,
      audit_entries_redacted: 0,
      already_erased: true,
    });
    expect(await count()).toBe(entries);
  });
});

// The reviewer's case: alice is taken off her account ACC-ALICE, a new holder takes it over, she is put back on as
// payer for a while and taken off again. What she exports, and what erasing her changes, must stay within the
// periods she was linked, and never reach the other holder's data.
describe('a former holder', () => {
  const newHolder = { name: 'Bob Newholder', email: 'bob.newholder@example.org', account: '12-34-56 87654321' };
  const alicePayer = { name: 'ALICE SMITH THE PAYER', account: '11-11-11 11111111' };
  let holder: string; // the new holder's customer id
  let bankAccount: string;
  let statement: string;
  let position = 0;
  const paid: { alice: { payment: string; line: string }[]; holder: { payment: string; line: string }[] } = {
    alice: [],
    holder: [],
  };

  /** A bank transfer to ACC-ALICE, matched there, with its charge and ledger credit (each statement commits). */
  const transfer = async (amount: string, payer: { name: string; account: string }) => {
    const [esco, account] = [world.escoA, world.accounts.alice];
    position += 1;
    await ctx.pool.query(
      `insert into public.ledger_entries (esco, account, kind, amount, description) values ($1, $2, 'adjustment', $3, 'Charge')`,
      [esco, account, amount],
    );
    const { id: payment } = await one<{ id: string }>(
      ctx.pool,
      `insert into public.payments (esco, account, amount, method, source, reference, status)
       values ($1, $2, $3, 'bank_transfer', $4, 'REF-ALICE', 'allocated') returning id`,
      [esco, account, amount, `bank:former-${position}`],
    );
    await ctx.pool.query(
      `insert into public.ledger_entries (esco, account, kind, amount, description) values ($1, $2, 'payment', -$3::numeric, 'Payment')`,
      [esco, account, amount],
    );
    const { id: line } = await one<{ id: string }>(
      ctx.pool,
      `insert into public.bank_transactions (esco, statement, bank_account, identity, position, amount, currency,
         counterparty_name, counterparty_account, remittance_information)
       values ($1, $2, $3, $4, $5, $6, 'GBP', $7, $8, 'REF-ALICE') returning id`,
      [esco, statement, bankAccount, `former-${position}`, position, amount, payer.name, payer.account],
    );
    await ctx.pool.query(
      `update public.bank_transactions set status = 'matched', matched_account = $2, payment = $3, match_rule = 'reference'
        where id = $1`,
      [line, account, payment],
    );
    return { payment, line };
  };
  const link = (sql: string, values: unknown[]) => commitAs('operator', 'op-a', sql, values);
  const unlinkAlice = () =>
    link(`delete from public.customer_accounts where customer = $1 and account = $2`, [
      world.customers.alice,
      world.accounts.alice,
    ]);

  beforeAll(async () => {
    const esco = world.escoA;
    ({ id: holder } = await one<{ id: string }>(
      ctx.pool,
      `insert into public.customers (esco, auth_subject, name, email) values ($1, 'newholder', $2, $3) returning id`,
      [esco, newHolder.name, newHolder.email],
    ));
    ({ id: bankAccount } = await one<{ id: string }>(
      ctx.pool,
      `insert into public.esco_bank_accounts (esco, name, sort_code, account_number)
       values ($1, 'Former', '200000', '87878787') returning id`,
      [esco],
    ));
    ({ id: statement } = await one<{ id: string }>(
      ctx.pool,
      `insert into public.bank_statements (esco, bank_account, format, file_sha256, currency)
       values ($1, $2, 'csv', repeat('f', 64), 'GBP') returning id`,
      [esco, bankAccount],
    ));
    // Linked since the world was built: she pays 20.00.
    paid.alice.push(await transfer('20.00', alicePayer));
    // The operator replaces her with the new holder, who pays 42.00.
    await link(
      `with gone as (delete from public.customer_accounts where customer = $1 and account = $2)
       insert into public.customer_accounts (customer, account, esco, role) values ($3, $2, $4, 'holder')`,
      [world.customers.alice, world.accounts.alice, holder, esco],
    );
    paid.holder.push(await transfer('42.00', newHolder));
    // She is put back on as payer and pays 7.00, is taken off again, and the holder pays 9.00.
    await link(`insert into public.customer_accounts (customer, account, esco, role) values ($1, $2, $3, 'payer')`, [
      world.customers.alice,
      world.accounts.alice,
      esco,
    ]);
    paid.alice.push(await transfer('7.00', alicePayer));
    await unlinkAlice();
    paid.holder.push(await transfer('9.00', newHolder));
  });

  it('exports nothing from after her link ended, nor the new holder’s data', async () => {
    const seen = await asRole(ctx.pool, 'customer', claims.alice, async (c) => {
      const { n } = await one<{ n: number }>(c, `select count(*)::integer as n from public.accounts`);
      return n;
    });
    expect(seen).toBe(0);
    const doc = await exportAs('customer', 'alice', world.customers.alice);
    const text = JSON.stringify(doc);
    for (const marker of [newHolder.name, newHolder.email, newHolder.account, holder, 'newholder']) {
      expect(text, marker).not.toContain(marker);
    }
    const [account, ...others] = doc.accounts;
    expect(others).toEqual([]);
    expect(account.payments.map((p: Doc) => p.id)).not.toContain(paid.holder[0]!.payment);
    expect(account.bank_transactions.map((t: Doc) => t.counterparty_name)).not.toContain(newHolder.name);
    expect(
      doc.audit_log.filter(
        (e: Doc) => e.table === 'public.customer_accounts' && e.key.customer !== world.customers.alice,
      ),
    ).toEqual([]);
  });

  it('still exports what happened on the account while she was linked, in each period she was', async () => {
    const doc = await exportAs('operator', 'op-a', world.customers.alice);
    const [account] = doc.accounts;
    expect(account).toMatchObject({ account_number: 'ACC-ALICE' });
    expect(account.payments.map((p: Doc) => p.id)).toEqual(paid.alice.map((p) => p.payment));
    expect(account.bank_transactions).toEqual(
      paid.alice.map(() =>
        expect.objectContaining({ counterparty_name: alicePayer.name, counterparty_account: alicePayer.account }),
      ),
    );
    expect(account.ledger_entries.map((l: Doc) => l.amount)).toEqual([20, -20, 7, -7]);
    // Her own links: made twice, removed twice.
    const links = doc.audit_log.filter((e: Doc) => e.table === 'public.customer_accounts');
    expect(links.map((e: Doc) => e.operation)).toEqual(['INSERT', 'DELETE', 'INSERT', 'DELETE']);
  });

  it('erasing her leaves the new holder’s bank lines and audit entries as they were', async () => {
    await ctx.pool.query(`update public.account_supplies set end_date = '2026-10-01' where id = $1`, [
      world.supplies.alice,
    ]);
    const lines = `select id, counterparty_name, counterparty_account from public.bank_transactions
                    where id = any ($1) order by amount desc`;
    const holderLines = paid.holder.map((p) => p.line);
    const holderEntries = `select l.id, l.old_values, l.new_values from internal.audit_log l
                            where l.customer = $1 or l.row_key in (select jsonb_build_object('id', x)
                                                                      from unnest($2::uuid[]) x)
                            order by l.id`;
    const holderIds = [...holderLines, ...paid.holder.map((p) => p.payment)];
    const before = {
      lines: await many(ctx.pool, lines, [holderLines]),
      entries: await many(ctx.pool, holderEntries, [holder, holderIds]),
    };
    expect(before.entries.length).toBeGreaterThan(4);

    const { rows } = await commitAs('operator', 'op-a', `select public.customer_erase($1) as r`, [
      world.customers.alice,
    ]);
    expect(await many(ctx.pool, lines, [holderLines])).toEqual(before.lines);
    expect(await many(ctx.pool, holderEntries, [holder, holderIds])).toEqual(before.entries);
    expect(rows[0].r).toMatchObject({ customer_record: 1, bank_transactions: paid.alice.length });
    // Hers are gone, from the bank lines and from the audit trail.
    expect(await many(ctx.pool, lines, [paid.alice.map((p) => p.line)])).toEqual(
      paid.alice.map((p) =>
        expect.objectContaining({ id: p.line, counterparty_name: 'erased', counterparty_account: null }),
      ),
    );
    const dump = (
      await one<{ t: string }>(ctx.pool, `select string_agg(l::text, E'\\n') as t from internal.audit_log l`)
    ).t;
    for (const marker of [alicePayer.name, alicePayer.account, 'alice@example.org']) {
      expect(dump, marker).not.toContain(marker);
    }
    for (const marker of [newHolder.name, newHolder.account, newHolder.email]) expect(dump, marker).toContain(marker);
  });
});
