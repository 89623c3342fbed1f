// A customer token through the REST layer (the built-in gateway, `flows dev` settings): their invoices,
// lines and PDF (Accept: application/pdf), and nobody else's.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { one } from '../../src/db/client.ts';
import { renderPending } from '../../src/billing/document.ts';
import { prepareRun, runBilling } from '../../src/billing/run.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway, type Gateway } from '../../src/rest/gateway.ts';
import { closablePool, type ClosablePool } from '../../src/rest/pool.ts';
import { flowsRestSettings } from '../../src/stack/rest-settings.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { restConfig } from '../rest/support/config.ts';
import { createEsco, createScenario, fillIntervals, type Scenario } from './support.ts';

let db: TestDatabase;
let admin: ClosablePool;
let gateway: Gateway;
let mine: Scenario;
let theirs: Scenario;
const secret = randomBytes(24).toString('hex');

const token = (sub: string, role = 'customer') =>
  new SignJWT({ sub, role, exp: Math.floor(Date.now() / 1000) + 3600 })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));

beforeAll(async () => {
  db = await createTestDatabase();
  admin = closablePool({ connectionString: db.url, max: 2 }, (error) => {
    throw error;
  });
  const esco = await createEsco(admin.pool, 'REST');
  mine = await createScenario(admin.pool, esco);
  theirs = await createScenario(admin.pool, esco);
  for (const s of [mine, theirs]) {
    await fillIntervals(admin.pool, s.registers.SINGLE!, '2026-10-01T00:00:00+01:00', '2026-11-01T00:00:00Z', '0.100');
  }
  const runId = await prepareRun(admin.pool, 'REST', '2026-10-01', 'test');
  await runBilling(admin.pool, runId);
  await admin.pool.query(`select public.billing_run_issue($1)`, [runId]);
  await renderPending(admin.pool);
  const config = restConfig(db.loginUrl('authenticator'), {
    ...flowsRestSettings,
    PGRST_JWT_SECRET: secret,
    PGRST_DB_EXTRA_SEARCH_PATH: 'public',
  });
  gateway = await startGateway(
    config,
    createLogger(loadConfig([], { FLOWS_ENV: 'test', LOG_LEVEL: 'silent' }).runtime),
  );
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await admin?.end();
  await db?.drop();
});

describe('billing over REST', () => {
  it('a customer reads their invoices and lines, and downloads their PDF', async () => {
    const auth = { Authorization: `Bearer ${await token(mine.customerSub)}` };
    const invoices = (await (
      await fetch(`${gateway.url}/invoices?select=id,number,total,account`, { headers: auth })
    ).json()) as {
      id: string;
      number: string;
      total: number;
      account: string;
    }[];
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({ account: mine.accountId, total: 44.31 });
    const lines = (await (
      await fetch(`${gateway.url}/invoice_lines?select=line_type,amount&order=position`, { headers: auth })
    ).json()) as unknown[];
    expect(lines).toEqual([
      { line_type: 'standing_charge', amount: 12.4 },
      { line_type: 'unit_charge', amount: 29.8 },
    ]);
    const pdf = await fetch(`${gateway.url}/rpc/invoice_pdf?invoice_id=${invoices[0]!.id}`, {
      headers: { ...auth, Accept: 'application/pdf' },
    });
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toMatch(/^application\/pdf/);
    expect(
      Buffer.from(await pdf.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe('%PDF-');
  });

  it("another customer's PDF is not found", async () => {
    const other = await one<{ id: string }>(admin.pool, `select id from public.invoices where account = $1`, [
      theirs.accountId,
    ]);
    const response = await fetch(`${gateway.url}/rpc/invoice_pdf?invoice_id=${other.id}`, {
      headers: { Authorization: `Bearer ${await token(mine.customerSub)}`, Accept: 'application/pdf' },
    });
    expect(response.status).toBe(404);
  });
});
