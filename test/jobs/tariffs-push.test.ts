// tariffs__push end to end against simulated meters: the ESCO's next tariff is pushed to the meters that miss
// it, read back into the shadow, activated by the meter at its time and observed by the next sync.
import { describe, expect, it } from 'vitest';
import { many, one } from '../../src/db/client.ts';
import { disagreements } from '../../src/emop/sync/tariff-push.ts';
import { fastClient, simulate, targetOf } from '../emop/helpers.ts';
import { usePool, useTestDatabase } from '../support/database.ts';
import { addJob, FAST, failedJobs, registerFleet, runJobs } from './support.ts';

describe('tariffs__push', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);

  it('pushes a future tariff, reads it back, and the next sync sees it active after activation', async () => {
    const clock = { ms: Date.now() };
    const sim = await simulate({
      now: () => clock.ms,
      meters: [{ serial: 'TPM1', twinElement: true }, { serial: 'TPM2' }, { serial: 'TPM3' }, { serial: 'TPM4' }],
    });
    // TPM4 acknowledges the element A unit rate write but keeps its old rate: it still disagrees afterwards.
    sim.meter('TPM4').injectFault({ fault: { kind: 'ignoreWrite' }, oid: 0xfff839, times: Infinity });
    // TP3 refuses the activation-time write: the push fails there and is recorded.
    sim.meter('TPM3').injectFault({ fault: { kind: 'nak', code: 6 }, oid: 0xffff24, times: Infinity });
    const fleet = await registerFleet(ctx.pool, sim);
    const { effective_from, activation } = await one<{ effective_from: string; activation: Date }>(
      ctx.pool,
      `insert into public.microgrid_tariffs (esco, effective_from, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
          standing_charge_gbp_day, emergency_credit_gbp, ecredit_availability_gbp, debt_recovery_gbp_day)
       values ($1, (now() at time zone 'Europe/London')::date + 1, 0.20, 0.10, 0.50, 10, 5, 0.5)
       returning effective_from::text, effective_from::timestamp at time zone 'Europe/London' as activation`,
      [fleet.esco],
    );
    expect(effective_from).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const missing = () =>
      many<{ serial: string }>(ctx.pool, `select serial from public.meters_missing_future_tariffs($1)`, [fleet.code]);
    expect((await missing()).map((m) => m.serial)).toEqual(['TPM1', 'TPM2', 'TPM3', 'TPM4']);

    await addJob(ctx.pool, 'tariffs__push', { esco_code: fleet.code, emop: FAST });
    await runJobs(db, 3);

    expect((await missing()).map((m) => m.serial)).toEqual(['TPM3', 'TPM4']);
    const failed = await failedJobs(ctx.pool);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ task_identifier: 'tariffs__push', last_error: expect.stringMatching(/NAK 6/) });
    const runs = await many<{ serial: string; outcome: string; metrics: string[]; error: string | null }>(
      ctx.pool,
      `select m.serial, r.outcome, r.metrics, r.error from flows.meter_sync_runs r
         join flows.meter_registry m on m.id = r.meter_id where m.esco = $1 order by m.serial`,
      [fleet.esco],
    );
    expect(runs).toMatchObject([
      { serial: 'TPM1', outcome: 'ok', metrics: ['tariffs_future_write'], error: null },
      { serial: 'TPM2', outcome: 'ok', metrics: ['tariffs_future_write'], error: null },
      { serial: 'TPM3', outcome: 'failed', error: expect.stringMatching(/^tariffs_future_write: meter NAK 6/) },
      {
        serial: 'TPM4',
        outcome: 'failed',
        error: 'future tariff still differs after the write: unit_rate_element_a wanted 0.21000, meter has 0.25000',
      },
    ]);
    // What the meter reports is in the shadow, disagreement and all.
    expect(
      await one(
        ctx.pool,
        `select tariffs_future ->> 'unit_rate_element_a' as rate from flows.meter_shadows where id = $1`,
        [fleet.meters[3]!.id],
      ),
    ).toEqual({ rate: '0.25000' });

    const shadow = await one<{ tariffs_future: Record<string, unknown> }>(
      ctx.pool,
      `select tariffs_future from flows.meter_shadows where id = $1`,
      [fleet.meters[0]!.id],
    );
    expect(shadow.tariffs_future).toMatchObject({
      standing_charge: '0.52500',
      unit_rate_element_a: '0.21000',
      unit_rate_element_b: '0.10500',
      prepayment_emergency_credit: '10.00000',
      prepayment_ecredit_availability: '5.00000',
      prepayment_debt_recovery_rate: '0.50000',
      activation_datetime: activation.toISOString(),
    });
    const meter = targetOf(sim, 'TPM1');
    expect((await fastClient().tariffsActiveRead(meter)).unitRateElementA).toBe('0.25000');

    // Pushing again finds nothing to do for the meters that agree: no request reaches them.
    const requestsBefore = sim.meter('TPM1').requests.length;
    await addJob(ctx.pool, 'tariffs__push', { esco_code: fleet.code, emop: FAST });
    await runJobs(db, 2);
    expect(sim.meter('TPM1').requests).toHaveLength(requestsBefore);

    // The meter activates the tariff at its time; the next sync moves it into the shadow's active tariff.
    clock.ms = activation.getTime() + 60_000;
    await addJob(ctx.pool, 'meters__sync', {
      meter_id: fleet.meters[0]!.id,
      frequency: '12hourly',
      syncers: ['tariffs'],
      emop: FAST,
    });
    await runJobs(db, 1);
    const active = await one<{
      active_unit_rate_a: string;
      active_standing_charge: string;
      future_activation_datetime: Date;
    }>(
      ctx.pool,
      `select active_unit_rate_a::text, active_standing_charge::text, future_activation_datetime
         from flows.meter_shadows_tariffs where id = $1`,
      [fleet.meters[0]!.id],
    );
    expect(active).toEqual({
      active_unit_rate_a: '0.21000',
      active_standing_charge: '0.52500',
      future_activation_datetime: activation,
    });
  });

  it('reports every value a meter still disagrees on', () => {
    const wanted = {
      meter_id: 'm',
      serial: 's',
      esco_code: 'E',
      activation_datetime: new Date('2025-04-01T00:00:00+01:00'),
      standing_charge: '0.52500',
      unit_rate_element_a: '0.21000',
      unit_rate_element_b: '0.10500',
      prepayment_emergency_credit: '10.00',
      prepayment_ecredit_availability: '5.00',
      prepayment_debt_recovery_rate: '0.50',
    };
    const reported = {
      standingCharge: '0.52500',
      unitRateElementA: '0.20000',
      unitRateElementB: '0.10500',
      emergencyCredit: '10.00000',
      eCreditAvailability: '5.00000',
      debtRecoveryRate: '0.50000',
      activationTime: null,
      thresholdMask: 0,
      thresholdValues: [0, 0, 0, 0, 0, 0, 0],
    };
    expect(disagreements(wanted, reported)).toEqual([
      'unit_rate_element_a wanted 0.21000, meter has 0.20000',
      'activation_datetime wanted 2025-03-31T23:00:00.000Z, meter has none',
    ]);
    expect(
      disagreements(wanted, { ...reported, unitRateElementA: '0.21', activationTime: wanted.activation_datetime }),
    ).toEqual([]);
  });
});
