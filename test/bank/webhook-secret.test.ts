// `flows bank webhook-secret set`: the card webhook's signing secret, read from standard input and stored in
// internal.payment_secrets (replacing the previous one), never printed; bad input is refused and changes nothing.
// The stored secret is the one public.payment_webhook verifies signatures with.
import { createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { useTestDatabase, usePool } from '../support/database.ts';
import { makeBankEsco, runBankCli } from './support.ts';

const db = useTestDatabase();
const ctx = usePool(db);

afterEach(() => {
  vi.unstubAllEnvs();
});

function run(input: string | (Readable & { isTTY?: boolean })) {
  vi.stubEnv('DATABASE_URL', db.url);
  return runBankCli(['webhook-secret', 'set'], {
    stdin: typeof input === 'string' ? Readable.from([Buffer.from(input)]) : input,
  });
}

const stored = () =>
  many<{ value: string }>(ctx.pool, `select value from internal.payment_secrets where name = 'stripe_webhook'`);

describe('flows bank webhook-secret set', () => {
  it('stores the secret piped on stdin, replaces it on a second call, and never prints it', async () => {
    const first = 'whsec_first_0123456789abcdef';
    const r1 = await run(`${first}\n`);
    expect(r1.error).toBeUndefined();
    expect(r1.out).toBe('webhook secret stripe_webhook set\n');
    expect(await stored()).toEqual([{ value: first }]);
    const second = 'whsec_second_fedcba9876543210';
    const r2 = await run(second);
    expect(r2.error).toBeUndefined();
    expect(`${r1.out}${r1.err}${r2.out}${r2.err}`).not.toMatch(/whsec_/);
    expect(await stored()).toEqual([{ value: second }]);

    // public.payment_webhook now verifies with it.
    const esco = await makeBankEsco(ctx.pool, 'WHS', { iban: 'GB98MIDL07009312345678', references: ['WHS-000001'] });
    const body = JSON.stringify({ id: 'evt_whs_1', type: 'payment_intent.payment_failed', data: { object: {} } });
    const deliver = async (secret: string) => {
      const t = Math.floor(Date.now() / 1000);
      const signature = `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
      const client = await ctx.pool.connect();
      try {
        await client.query('begin');
        await client.query(
          `select set_config('role', 'service', true), set_config('request.jwt.claims', $1, true),
                  set_config('request.headers', $2, true)`,
          [JSON.stringify({ role: 'service', escos: [esco.id] }), JSON.stringify({ 'stripe-signature': signature })],
        );
        return (await one<{ r: { status: string } }>(client, `select public.payment_webhook($1) as r`, [body])).r;
      } finally {
        await client.query('rollback');
        client.release();
      }
    };
    await expect(deliver(first)).rejects.toMatchObject({ code: 'PT401' });
    expect(await deliver(second)).toMatchObject({ status: 'payment_failed' });
  });

  it('refuses a terminal, a short secret or one with spaces, naming no secret and changing nothing', async () => {
    const before = await stored();
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    expect((await run(tty)).error?.message).toMatch(/pipe the secret on standard input/);
    const short = await run('tooshort\n');
    expect(short.error?.message).toBe('the secret must be 16 to 512 characters long (got 8)');
    const spaced = await run('two words 0123456789abcdef');
    expect(spaced.error?.message).toBe('the secret must be one line of visible ASCII characters, without spaces');
    expect(spaced.error?.message).not.toContain('0123456789');
    expect(await run('line1_0123456789abcdef\nline2')).toMatchObject({ error: expect.any(Error) });
    expect(await run('')).toMatchObject({ error: expect.any(Error) });
    expect(await stored()).toEqual(before);
  });
});
