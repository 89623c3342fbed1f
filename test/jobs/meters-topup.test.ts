// meters__topup against simulated meters: a development token raises the balance and is verified; a token the
// meter rejects fails the top-up, leaves the money that paid for it as account credit and alerts the ESCO's
// operators (through a real SMTP server); a lost acknowledgement is retried without sending the token again; a
// meter unreachable until the job's last attempt fails the top-up.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { closeSenders } from '../../src/notify/tasks.ts';
import { objects } from '../../src/emop/objects.ts';
import type { Simulator } from '../../src/emop/simulator/index.ts';
import { simulate } from '../emop/helpers.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import topupTask from '../../jobs/meters__topup.ts';
import { runJobsOnce } from '../support/worker.ts';
import { runNotifyJobs, startMailbox, testNotifyConfig, type Mailbox } from '../notify/support.ts';
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

interface Requested {
  id: string;
  serial: string;
  esco: string;
  account: string;
  subscription: string;
}

/**
 * A top-up of a new prepay account of a new ESCO (with an operator alert subscription); `paid`: bought by a card
 * payment, credited to the ledger first as the webhook does. `maxAttempts`: the job's attempts (default 25).
 */
async function requestTopup(
  pool: pg.Pool,
  sim: Simulator,
  amount: string,
  options: { paid?: boolean; maxAttempts?: number } = {},
): Promise<Requested> {
  const fleet = await registerFleet(pool, sim);
  const account = await one<{ id: string }>(
    pool,
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
     values ($1, $2, 'prepay', $3) returning id`,
    [fleet.esco, `ACC${++accounts}`, `TOPUP-${Date.now().toString(36).toUpperCase()}${accounts}`],
  );
  const subscription = await one<{ id: string }>(
    pool,
    `insert into public.operator_alert_subscriptions (esco, channel, address) values ($1, 'email', $2) returning id`,
    [fleet.esco, `ops.${fleet.code.toLowerCase()}@example.org`],
  );
  let payment: string | null = null;
  if (options.paid) {
    payment = (
      await one<{ id: string }>(
        pool,
        `insert into public.payments (esco, account, amount, method, source) values ($1, $2, $3, 'card', $4) returning id`,
        [fleet.esco, account.id, amount, `stripe:pi_${fleet.code}`],
      )
    ).id;
  }
  const topup = await one<{ id: string }>(
    pool,
    `insert into public.topups (esco, account, meter, amount, payment) values ($1, $2, $3, $4, $5) returning id`,
    [fleet.esco, account.id, fleet.meters[0]!.id, amount, payment],
  );
  if (payment) await one(pool, `select internal.payments_post(array[$1::uuid])`, [account.id]);
  // The insert enqueued the job; give it test timings (same job key: the pending job is replaced).
  await pool.query(`select graphile_worker.add_job('meters__topup', $1::json, job_key => $2, max_attempts => $3)`, [
    JSON.stringify({ topup_id: topup.id, emop: FAST }),
    `meters__topup:${topup.id}`,
    options.maxAttempts ?? 25,
  ]);
  return {
    id: topup.id,
    serial: fleet.meters[0]!.serial,
    esco: fleet.esco,
    account: account.id,
    subscription: subscription.id,
  };
}

const operatorAlerts = (pool: pg.Pool, esco: string) =>
  many<{ subscription: string; template: string; payload: Record<string, unknown> }>(
    pool,
    `select subscription, template, payload from public.notifications where esco = $1 and subscription is not null`,
    [esco],
  );

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
  let mailbox: Mailbox;
  beforeAll(async () => {
    mailbox = await startMailbox();
  });
  afterAll(async () => {
    await mailbox?.stop();
  });

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

  it('fails the top-up when the meter rejects the token: the money stays as credit, operators are alerted', async () => {
    const sim = await simulate({
      now: () => frozen,
      tokenKey: 'a key the vendor does not use',
      meters: [{ serial: 'TOP2', balance: '1.00000' }],
    });
    const topup = await requestTopup(ctx.pool, sim, '5.00', { paid: true });
    // Only the top-up job: the alert it queues is sent below, through the test's SMTP server.
    await runJobsOnce(db, { meters__topup: topupTask });
    expect(await topupOf(ctx.pool, topup.id)).toMatchObject({
      status: 'failed',
      error: 'the meter rejected the token',
      attempts: 1,
      meter_count_before: 0,
    });
    expect(sim.meter('TOP2').model.balance).toBe('1.00000');
    // The card payment stays on the account: its ledger credit, unallocated.
    const money = await one<{ balance: string; status: string; allocated: string }>(
      ctx.pool,
      `select (select sum(amount)::text from public.ledger_entries where account = $1) as balance, p.status,
              (select coalesce(sum(a.amount), 0)::text from public.payment_allocations a where a.payment = p.id) as allocated
         from public.payments p where p.account = $1`,
      [topup.account],
    );
    expect(money).toEqual({ balance: '-5.00', status: 'received', allocated: '0' });
    // One alert to the ESCO's subscription, however often the row is touched again.
    await ctx.pool.query(`update public.topups set status = 'failed', updated_at = now() where id = $1`, [topup.id]);
    const alerts = await operatorAlerts(ctx.pool, topup.esco);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      subscription: topup.subscription,
      template: 'topup_failed_operator',
      payload: { amount_gbp: '5.00', meter_serial: 'TOP2', error: 'the meter rejected the token', paid: true },
    });
    // Delivered through a real SMTP server.
    const config = testNotifyConfig(mailbox, undefined);
    const before = mailbox.received.length;
    await runNotifyJobs(db, config);
    const mail = mailbox.received.slice(before).find((m) => m.subject === 'Top-up of £5.00 to meter TOP2 failed');
    expect(mail?.text).toContain('could not be delivered to meter TOP2');
    expect(mail?.text).toContain('The payment stays on the account as credit.');
    closeSenders(config);
  });

  it('fails the top-up and alerts operators when the meter is unreachable until the job’s last attempt', async () => {
    const sim = await simulate({ now: () => frozen, meters: [{ serial: 'TOP5', balance: '0.00000' }] });
    const topup = await requestTopup(ctx.pool, sim, '4.00', { maxAttempts: 2 });
    sim.meter('TOP5').injectFault({ fault: { kind: 'drop' }, oid: objects.prepayTokenSend.oid });
    await runJobs(db, 1);
    expect(await topupOf(ctx.pool, topup.id)).toMatchObject({ status: 'token_issued', attempts: 1 });
    expect(await operatorAlerts(ctx.pool, topup.esco)).toEqual([]); // a retry is still to come
    sim.meter('TOP5').injectFault({ fault: { kind: 'drop' }, oid: objects.prepayTokenSend.oid });
    await ctx.pool.query(`update graphile_worker._private_jobs set run_at = now() where task_id is not null`);
    await runJobs(db, 1);
    const row = await topupOf(ctx.pool, topup.id);
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/^gave up after 2 job attempts \(\w+\); the meter may have taken the token/);
    expect((await operatorAlerts(ctx.pool, topup.esco)).map((a) => a.template)).toEqual(['topup_failed_operator']);
    expect(sim.meter('TOP5').model.balance).toBe('0.00000');
    await ctx.pool.query(`select graphile_worker.remove_job($1)`, [`meters__topup:${topup.id}`]);
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
