// `flows emop <command> <serial>` finding the meter in flows.meter_registry (DATABASE_URL) and holding its
// advisory lock while it talks to it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/emop.ts';
import { one } from '../../src/db/client.ts';
import { registerFleet } from '../jobs/support.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { runCliJson } from '../support/cli-in-process.ts';
import { simulate } from './helpers.ts';

const flows = (...args: string[]) => runCliJson([register], args);

afterEach(() => {
  vi.unstubAllEnvs();
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
});

describe('flows emop with the registry', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);

  it('looks the meter up by serial and answers; an unknown serial is an error', async () => {
    // a meter that charges nothing, so that the balance read is the one set however slow the run
    const sim = await simulate({
      meters: [{ serial: 'CLIREG1', balance: '3.21000', importWhPerHalfHour: 0, tariff: { standingCharge: '0' } }],
    });
    await registerFleet(ctx.pool, sim);
    vi.stubEnv('DATABASE_URL', db.url);
    expect(await flows('emop', '--gap-ms', '0', 'prepay_balance', 'CLIREG1')).toBe('3.21000');
    expect(await flows('emop', '--gap-ms', '0', 'serial_read', 'CLIREG1')).toBe('CLIREG1');
    await expect(flows('emop', 'csq', 'NOSUCHMETER')).rejects.toThrow(/meter NOSUCHMETER not found/);
  });

  it('waits for the advisory lock another process holds on the meter', async () => {
    const sim = await simulate({ meters: [{ serial: 'CLIREG2' }] });
    await registerFleet(ctx.pool, sim);
    vi.stubEnv('DATABASE_URL', db.url);
    const holder = await ctx.pool.connect();
    try {
      await holder.query(`select pg_advisory_lock(x'454D'::int, hashtext('CLIREG2'))`);
      const answer = flows('emop', '--gap-ms', '0', 'csq', 'CLIREG2');
      await vi.waitFor(async () => {
        const waiting = await one<{ n: string }>(
          ctx.pool,
          `select count(*) as n from pg_locks where locktype = 'advisory' and not granted`,
        );
        expect(Number(waiting.n)).toBe(1);
      });
      expect(sim.meter('CLIREG2').requests).toHaveLength(0);
      await holder.query(`select pg_advisory_unlock(x'454D'::int, hashtext('CLIREG2'))`);
      expect(await answer).toEqual({ networkOperator: 1, csq: 16 });
    } finally {
      holder.release();
    }
  });
});
