// The audit trail's reach and guarantees (issue 9): every table holding personal or financial data is audited
// or excluded with a reason in docs/security.md; entries carry the request id and the customer / account they
// are about; the outbox's content is never copied; no role — the owner and superusers included — can change or
// remove an entry, and the redaction exception cannot be borrowed. (test/sql/public/audit.test.ts covers the
// entries' shape.)
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { loadConfig, projectRoot } from '../../src/config.ts';
import { many, one } from '../../src/db/client.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway } from '../../src/rest/gateway.ts';
import { flowsRestSettings } from '../../src/stack/rest-settings.ts';
import { restConfig } from '../rest/support/config.ts';
import { asRole, usePool, useTestDatabase } from '../support/database.ts';
import { buildWorld, claims, sqlstate, type World } from './public/fixtures.ts';

const db = useTestDatabase();
const ctx = usePool(db);
let world: World;

beforeAll(async () => {
  world = await buildWorld(ctx.pool);
});

/** Backticked names in the first column of the table under the line that starts with `intro`. */
function namesInTable(markdown: string, intro: string): string[] {
  const start = markdown.indexOf(intro);
  expect(start, intro).toBeGreaterThan(-1);
  const names: string[] = [];
  for (const line of markdown.slice(start).split('\n').slice(1)) {
    if (line.trim() === '') {
      if (names.length > 0) break;
      continue;
    }
    const first = line.split('|')[1] ?? '';
    for (const m of first.matchAll(/`([a-z_]+\.[a-z_*]+)`/g)) names.push(m[1]!);
  }
  return names;
}

describe('audit coverage', () => {
  it('audits exactly the tables docs/security.md lists, and every other table is listed as excluded', async () => {
    const doc = await fs.readFile(path.join(projectRoot, 'docs', 'security.md'), 'utf8');
    const audited = namesInTable(doc, 'Audited tables');
    const excluded = namesInTable(doc, 'Not audited, and why');
    expect(audited.length).toBeGreaterThan(20);
    const triggered = (
      await many<{ name: string }>(
        ctx.pool,
        // three statement-level triggers per table: insert, update, delete
        `select format('%s.%s', n.nspname, c.relname) as name
           from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
          where t.tgname in ('_900_audit_insert', '_900_audit_update', '_900_audit_delete')
            and t.tgfoid = 'internal.tg_audit'::regproc
          group by 1 having count(*) = 3 order by 1`,
      )
    ).map((r) => r.name);
    expect(triggered).toEqual([...audited].sort());
    const tables = (
      await many<{ name: string; schema: string }>(
        ctx.pool,
        `select format('%s.%s', n.nspname, c.relname) as name, n.nspname as schema
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname in ('public', 'flows', 'internal') and c.relkind in ('r', 'p') and not c.relispartition`,
      )
    ).filter((t) => !audited.includes(t.name) && !excluded.includes(t.name) && !excluded.includes(`${t.schema}.*`));
    expect(tables.map((t) => t.name)).toEqual([]);
  });

  it('audits the money: invoices, ledger, payments, bank lines — linked to their account', async () => {
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      const { id: invoice } = await one<{ id: string }>(
        client,
        `insert into public.invoices (esco, account, kind, period_start, period_end, vat_rate_pct)
         values ($1, $2, 'invoice', '2026-10-01', '2026-11-01', 5) returning id`,
        [world.escoA, world.accounts.bob],
      );
      await client.query(
        `insert into public.ledger_entries (esco, account, kind, amount, description) values ($1, $2, 'adjustment', 1, 'x')`,
        [world.escoA, world.accounts.bob],
      );
      const rows = await many<{ table_name: string; operation: string; account: string; customer: string | null }>(
        client,
        `select table_name, operation, account, customer from internal.audit_log where at = now() order by id`,
      );
      expect(rows).toEqual([
        { table_name: 'public.invoices', operation: 'INSERT', account: world.accounts.bob, customer: null },
        { table_name: 'public.ledger_entries', operation: 'INSERT', account: world.accounts.bob, customer: null },
      ]);
      expect(invoice).toBeTruthy();
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  it('records the status of outbox messages but never their address or content', async () => {
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      const { id } = await one<{ id: string }>(
        client,
        `insert into public.notifications (esco, customer, channel, address, template, payload, dedupe_key)
         values ($1, $2, 'email', 'secret-address@example.org', 'invoice_issued', '{"x": "secret-content"}', 'audit-1')
         returning id`,
        [world.escoA, world.customers.alice],
      );
      await client.query(`update public.notifications set payload = '{"x": "other"}' where id = $1`, [id]);
      await client.query(`update public.notifications set status = 'failed', last_error = 'bounced' where id = $1`, [
        id,
      ]);
      const rows = await many<{ operation: string; customer: string; old_values: unknown; new_values: unknown }>(
        client,
        `select operation, customer, old_values, new_values from internal.audit_log
          where table_name = 'public.notifications' and row_key = jsonb_build_object('id', $1::uuid) order by id`,
        [id],
      );
      expect(rows.map((r) => r.operation)).toEqual(['INSERT', 'UPDATE']); // the payload-only update is not recorded
      expect(rows[0]!.customer).toBe(world.customers.alice);
      expect(rows[1]!.new_values).toEqual({ status: 'failed', last_error: 'bounced' });
      expect(JSON.stringify(rows)).not.toMatch(/secret-address|secret-content/);
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});

describe('request id', () => {
  it("records the REST request's X-Request-Id (request.headers) with the role and subject", async () => {
    await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
      await c.query(`select set_config('request.headers', $1, true)`, [
        JSON.stringify({ 'x-request-id': 'req-7f3a', 'user-agent': 'test' }),
      ]);
      await c.query(`update public.customers set phone = '+447700900321' where id = $1`, [world.customers.bob]);
      await c.query('reset role');
      expect(
        await one(
          c,
          `select db_role, subject, request_id, customer from internal.audit_log
            where at = now() and table_name = 'public.customers'`,
        ),
      ).toEqual({ db_role: 'operator', subject: 'op-a', request_id: 'req-7f3a', customer: world.customers.bob });
    });
  });

  it('gets it from the X-Request-Id header of a request through the REST layer', async () => {
    const secret = 'audit-test-secret-0123456789abcdef0123456789';
    const gateway = await startGateway(
      restConfig(db.loginUrl('authenticator'), { ...flowsRestSettings, PGRST_JWT_SECRET: secret }),
      createLogger(loadConfig([], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' }).runtime),
    );
    try {
      const token = await new SignJWT({ role: 'operator', sub: 'op-a', exp: Math.floor(Date.now() / 1000) + 600 })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(secret));
      const res = await fetch(`${gateway.url}/customers?id=eq.${world.customers.carol}`, {
        method: 'PATCH',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          'X-Request-Id': 'rest-req-42',
        },
        body: JSON.stringify({ phone: '+447700900777' }),
      });
      expect(res.status).toBe(204); // carol is of ESCO B: nothing to update for op-a, nothing recorded
      const patched = await fetch(`${gateway.url}/customers?id=eq.${world.customers.alice}`, {
        method: 'PATCH',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          'X-Request-Id': 'rest-req-43',
        },
        body: JSON.stringify({ phone: '+447700900778' }),
      });
      expect(patched.status).toBe(204);
    } finally {
      await gateway.close();
    }
    expect(
      await many(
        ctx.pool,
        `select request_id, db_role, subject, customer from internal.audit_log where request_id like 'rest-req-%'`,
      ),
    ).toEqual([{ request_id: 'rest-req-43', db_role: 'operator', subject: 'op-a', customer: world.customers.alice }]);
  });

  it('leaves it null outside a request or without the header', async () => {
    await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
      await c.query(`select set_config('request.headers', '{"accept": "*/*"}', true)`);
      await c.query(`update public.accounts set vat_rate_pct = 20 where id = $1`, [world.accounts.bob]);
      await c.query('reset role');
      expect(
        await one(
          c,
          `select request_id, account from internal.audit_log where at = now() and table_name = 'public.accounts'`,
        ),
      ).toEqual({ request_id: null, account: world.accounts.bob });
    });
  });
});

describe('append-only', () => {
  const roles = ['anon', 'customer', 'operator', 'service', 'worker', 'reporting', 'flows_owner'];
  const statements = [
    'update internal.audit_log set subject = null',
    'delete from internal.audit_log',
    'truncate internal.audit_log',
  ];

  it('refuses update, delete and truncate to every role, the owner included', async () => {
    for (const role of roles) {
      for (const sql of statements) {
        expect([role, sql, await sqlstate(asRole(ctx.pool, role, { sub: 'x' }, (c) => c.query(sql)))]).toEqual([
          role,
          sql,
          '42501',
        ]);
      }
    }
  });

  async function asSuperuser(sql: string): Promise<string> {
    const client: pg.PoolClient = await ctx.pool.connect();
    try {
      await client.query('begin');
      await client.query(sql);
      return 'none';
    } catch (error) {
      return `${(error as { code: string }).code} ${(error as Error).message}`;
    } finally {
      await client.query('rollback');
      client.release();
    }
  }

  it('refuses superusers too, and the redaction exception cannot be borrowed', async () => {
    for (const sql of statements) expect(await asSuperuser(sql)).toBe('42501 internal.audit_log is append-only');
    // A look-alike of the redaction path: a block whose statement text names the real function.
    expect(
      await asSuperuser(`do $$ begin
        update internal.audit_log set old_values = null
        /* \nPL/pgSQL function internal.audit_redact_customer(uuid) line 5 at SQL statement */;
      end $$`),
    ).toBe('42501 internal.audit_log is append-only');
    // Nor as the owner from a function of another name, even holding the column privilege.
    expect(
      await asSuperuser(`set local role flows_owner;
        create function internal.audit_redact_customer_probe() returns void language plpgsql as $f$
        begin
          grant update (old_values, new_values) on internal.audit_log to flows_owner;
          update internal.audit_log set old_values = null;
        end $f$;
        select internal.audit_redact_customer_probe()`),
    ).toBe('42501 internal.audit_log is append-only');
    const { n } = await one<{ n: number }>(ctx.pool, `select count(*)::integer as n from internal.audit_log`);
    expect(n).toBeGreaterThan(0);
  });
});
