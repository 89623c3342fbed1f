// meters__topup against simulated meters: a development token raises the balance and is verified; a token the
// meter rejects fails the top-up; a lost acknowledgement is retried without sending the token again.
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { one } from '../../src/db/client.ts';
import { objects } from '../../src/emop/objects.ts';
import type { Simulator } from '../../src/emop/simulator/index.ts';
import { simulate } from '../emop/helpers.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { addJob, FAST, failedJobs, registerFleet, runJobs } from './support.ts';

interface TopupRow {
  status: string;
  attempts: number;
  token: string | null;
  error: string | null;
  meter_balance_before: string | null;
  meter_balance_after: string | null;
  meter_count_before: number | null;
  meter_count_after: number | null;
}

let accounts = 0;

async function requestTopup(pool: pg.Pool, sim: Simulator, amount: string): Promise<{ id: string; serial: string }> {
  const fleet = await registerFleet(pool, sim);
  const account = await one<{ id: string }>(
    pool,
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
     values ($1, $2, 'prepay', $3) returning id`,
    [fleet.esco, `ACC${++accounts}`, `TOPUP-${Date.now().toString(36).toUpperCase()}${accounts}`],
  );
  const topup = await one<{ id: string }>(
    pool,
    `insert into public.topups (esco, account, meter, amount) values ($1, $2, $3, $4) returning id`,
    [fleet.esco, account.id, fleet.meters[0]!.id, amount],
  );
  // The insert enqueued the job; give it test timings (same job key: the pending job is replaced).
  await addJob(pool, 'meters__topup', { topup_id: topup.id, emop: FAST }, `meters__topup:${topup.id}`);
  return { id: topup.id, serial: fleet.meters[0]!.serial };
}

const topupOf = (pool: pg.Pool, id: string) =>
  one<TopupRow>(
    pool,
    `select status, attempts, token, error, meter_balance_before::text, meter_balance_after::text, meter_count_before,
            meter_count_after
       from public.topups where id = $1`,
    [id],
  );

const tokenWrites = (sim: Simulator, serial: string) =>
  sim
    .meter(serial)
    .requests.filter(
      (r) => r.request !== 'undecodable' && 'oid' in r.request && r.request.oid === objects.prepayTokenSend.oid,
    );

describe('meters__topup', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  const frozen = Date.now();

  it('sends a development token that raises the balance, and verifies count and balance', async () => {
    const sim = await simulate({ now: () => frozen, meters: [{ serial: 'TOP1', balance: '4.50000' }] });
    const topup = await requestTopup(ctx.pool, sim, '10.00');
    await runJobs(db, 1);
    expect(await topupOf(ctx.pool, topup.id)).toMatchObject({
      status: 'verified',
      attempts: 1,
      error: null,
      meter_balance_before: '4.50000',
      meter_balance_after: '14.50000',
      meter_count_before: 0,
      meter_count_after: 1,
    });
    expect(sim.meter('TOP1').model.balance).toBe('14.50000');
    expect(tokenWrites(sim, 'TOP1')).toHaveLength(1);
    // Running the job again does nothing.
    await addJob(ctx.pool, 'meters__topup', { topup_id: topup.id, emop: FAST });
    await runJobs(db, 1);
    expect(tokenWrites(sim, 'TOP1')).toHaveLength(1);
    expect(await failedJobs(ctx.pool)).toEqual([]);
  });

  it('fails the top-up when the meter rejects the token', async () => {
    const sim = await simulate({
      now: () => frozen,
      tokenKey: 'a key the vendor does not use',
      meters: [{ serial: 'TOP2', balance: '1.00000' }],
    });
    const topup = await requestTopup(ctx.pool, sim, '5.00');
    await runJobs(db, 1);
    expect(await topupOf(ctx.pool, topup.id)).toMatchObject({
      status: 'failed',
      error: 'the meter rejected the token',
      attempts: 1,
      meter_count_before: 0,
    });
    expect(sim.meter('TOP2').model.balance).toBe('1.00000');
  });

  it('never sends a token twice: after a lost acknowledgement the retry finds the count risen', async () => {
    const sim = await simulate({ now: () => frozen, meters: [{ serial: 'TOP3', balance: '2.00000' }] });
    sim.meter('TOP3').injectFault({ fault: { kind: 'reset' }, oid: objects.prepayTokenSend.oid });
    const topup = await requestTopup(ctx.pool, sim, '7.25');
    await runJobs(db, 1);
    // The meter took the token but its answer was cut: the job failed and waits for its retry.
    expect(await topupOf(ctx.pool, topup.id)).toMatchObject({ status: 'token_issued', attempts: 1 });
    expect(await failedJobs(ctx.pool)).toMatchObject([
      { task_identifier: 'meters__topup', last_error: expect.stringMatching(/EmopConnectionError|connection/) },
    ]);
    await ctx.pool.query(`update graphile_worker._private_jobs set run_at = now() where task_id is not null`);
    await runJobs(db, 1);
    expect(await topupOf(ctx.pool, topup.id)).toMatchObject({
      status: 'verified',
      attempts: 1,
      meter_balance_before: '2.00000',
      meter_balance_after: '9.25000',
    });
    expect(tokenWrites(sim, 'TOP3')).toHaveLength(1);
  });

  it('resends a token the meter never received (refused connection), once it is reachable', async () => {
    const sim = await simulate({ now: () => frozen, meters: [{ serial: 'TOP4', balance: '0.00000' }] });
    const topup = await requestTopup(ctx.pool, sim, '3.00');
    // Reachable for the first reads, then the token write is cut off before reaching the meter.
    sim.meter('TOP4').injectFault({ fault: { kind: 'drop' }, oid: objects.prepayTokenSend.oid });
    await runJobs(db, 1);
    const afterFirst = await topupOf(ctx.pool, topup.id);
    expect(afterFirst).toMatchObject({ status: 'token_issued', attempts: 1, meter_count_before: 0 });
    await ctx.pool.query(`update graphile_worker._private_jobs set run_at = now() where task_id is not null`);
    await runJobs(db, 1);
    expect(await topupOf(ctx.pool, topup.id)).toMatchObject({ status: 'verified', attempts: 2 });
    expect(sim.meter('TOP4').model.balance).toBe('3.00000');
    expect(tokenWrites(sim, 'TOP4')).toHaveLength(2);
  });
});
