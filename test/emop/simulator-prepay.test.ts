// The simulated prepay meter over TCP: charges on the simulated clock (unit rates per element, standing charge,
// debt recovery), emergency credit, the future tariff's rates after activation, development tokens.
import { describe, expect, it } from 'vitest';
import { EmopNakError } from '../../src/emop/errors.ts';
import { DevelopmentTokenVendor, TokenRejectedError } from '../../src/emop/tokens.ts';
import { moneyToUnits } from '../../src/emop/units.ts';
import { fastClient, simulate, targetOf } from './helpers.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 10, 12, 0, 0);
const MONEY = { min: -(2 ** 40), max: 2 ** 40 };
const units = (m: string) => moneyToUnits(m, MONEY);

function clock(start = T0) {
  const c = { ms: start, now: () => c.ms };
  return c;
}

describe('simulated prepay meter', () => {
  it('deducts unit charges per element at the active rates and the standing charge, exactly', async () => {
    const c = clock();
    const sim = await simulate({
      now: c.now,
      meters: [
        {
          serial: 'P1',
          twinElement: true,
          balance: '50.00000',
          tariff: { standingCharge: '0.60000', unitRateElementA: '0.25000', unitRateElementB: '0.10000' },
        },
      ],
    });
    const client = fastClient();
    const meter = targetOf(sim, 'P1');
    const a0 = await client.readElementA(meter);
    const b0 = await client.readElementB(meter);
    c.ms += DAY;
    const a1 = await client.readElementA(meter);
    const b1 = await client.readElementB(meter);
    const used = (a1.importActiveWh - a0.importActiveWh) * 25 + (b1.importActiveWh - b0.importActiveWh) * 10;
    expect(used).toBeGreaterThan(0);
    expect(units(await client.prepayBalance(meter))).toBe(units('50.00000') - units('0.60000') - used);
  });

  it('recovers debt at the daily rate while in credit, until the debt is paid', async () => {
    const c = clock();
    const sim = await simulate({
      now: c.now,
      meters: [
        {
          serial: 'D1',
          balance: '20.00000',
          debt: '3.00000',
          importWhPerHalfHour: 0,
          tariff: { standingCharge: '0', debtRecoveryRate: '1.00000' },
        },
      ],
    });
    const model = sim.meter('D1').model;
    c.ms += DAY;
    expect(model.balance).toBe('19.00000');
    expect(model.debt).toBe('2.00000');
    c.ms += 5 * DAY;
    expect(model.balance).toBe('17.00000');
    expect(model.debt).toBe('0.00000');
  });

  it('runs into emergency credit, cuts the supply at its end, and a token repays it', async () => {
    const c = clock();
    const vendor = new DevelopmentTokenVendor();
    const sim = await simulate({
      now: c.now,
      meters: [
        {
          serial: 'E1',
          balance: '1.00000',
          importWhPerHalfHour: 200,
          tariff: { standingCharge: '0', unitRateElementA: '0.50000', emergencyCredit: '2.00000' },
        },
        {
          serial: 'E2',
          balance: '0.50000',
          autoEmergencyCredit: false,
          importWhPerHalfHour: 0,
          tariff: { standingCharge: '1.00000', emergencyCredit: '5.00000', eCreditAvailability: '1.00000' },
        },
      ],
    });
    const e1 = sim.meter('E1').model;
    c.ms += 2 * DAY;
    // Unit charges stop once the balance reaches minus the emergency credit (at most one half-hour beyond).
    expect(e1.supplyOn).toBe(false);
    expect(units(e1.balance)).toBeLessThanOrEqual(units('-2.00000'));
    expect(units(e1.balance)).toBeGreaterThan(units('-2.20000'));
    const stuck = e1.balance;
    c.ms += DAY;
    expect(e1.balance).toBe(stuck);
    expect(e1.emergencyCreditInUse).toBe(stuck.slice(1));

    const e2 = sim.meter('E2').model;
    // Three days of standing charge from £0.50: the standing charge goes on below zero, into debt.
    expect(e2.balance).toBe('-2.50000');
    expect(e2.supplyOn).toBe(false);
    expect(e2.activateEmergencyCredit()).toBe(true);
    expect(e2.supplyOn).toBe(true);
    expect(e2.emergencyCreditInUse).toBe('2.50000');

    const client = fastClient();
    await client.prepaySendToken(targetOf(sim, 'E2'), vendor.issue('E2', { amount: '10.00', sequence: 1 }));
    expect(e2.balance).toBe('7.50000');
    expect(e2.emergencyCreditInUse).toBe('0.00000');
  });

  it('charges the future tariff once its activation time has passed', async () => {
    const c = clock();
    const sim = await simulate({
      now: c.now,
      meters: [{ serial: 'F1', balance: '100.00000', tariff: { standingCharge: '0', unitRateElementA: '0.20000' } }],
    });
    const client = fastClient();
    const meter = targetOf(sim, 'F1');
    const activationTime = new Date(T0 + DAY / 2);
    await client.tariffsFutureWrite(meter, {
      standingCharge: '0',
      unitRateElementA: '0.40000',
      unitRateElementB: '0.10000',
      emergencyCredit: '0',
      eCreditAvailability: '0',
      debtRecoveryRate: '0',
      activationTime,
    });
    const a0 = (await client.readElementA(meter)).importActiveWh;
    c.ms = activationTime.getTime();
    const a1 = (await client.readElementA(meter)).importActiveWh;
    c.ms = T0 + DAY;
    const a2 = (await client.readElementA(meter)).importActiveWh;
    expect(units(await client.prepayBalance(meter))).toBe(units('100.00000') - (a1 - a0) * 20 - (a2 - a1) * 40);
    expect((await client.tariffsActiveRead(meter)).unitRateElementA).toBe('0.40000');
  });

  it('accepts a development token once, counting the transaction; rejects reused, foreign and other-key tokens', async () => {
    const c = clock();
    const sim = await simulate({
      now: c.now,
      meters: [
        { serial: 'K1', balance: '5.00000', importWhPerHalfHour: 0, tariff: { standingCharge: '0' } },
        { serial: 'K2', balance: '5.00000' },
      ],
    });
    const client = fastClient();
    const meter = targetOf(sim, 'K1');
    const vendor = new DevelopmentTokenVendor();
    const token = vendor.issue('K1', { amount: '12.34', sequence: 7 });
    expect(token).toMatch(/^\d{20}$/);
    expect(vendor.decode('K1', token)).toEqual({ amount: '12.34000', sequence: 7 });
    expect(() => vendor.decode('K2', token)).toThrow(TokenRejectedError);

    expect(await client.monetaryTransactionCount(meter)).toBe(0);
    await client.prepaySendToken(meter, token);
    expect(await client.prepayBalance(meter)).toBe('17.34000');
    expect(await client.monetaryTransactionCount(meter)).toBe(1);

    const rejected = [
      token, // reused
      vendor.issue('K1', { amount: '1.00', sequence: 7 }), // same sequence, other amount
      vendor.issue('K2', { amount: '1.00', sequence: 8 }), // another meter's
      new DevelopmentTokenVendor('another key').issue('K1', { amount: '1.00', sequence: 9 }),
      '12345678901234567890',
    ];
    for (const bad of rejected) {
      await expect(client.prepaySendToken(meter, bad)).rejects.toMatchObject({ code: 6 });
    }
    await expect(client.prepaySendToken(meter, token)).rejects.toBeInstanceOf(EmopNakError);
    expect(await client.prepayBalance(meter)).toBe('17.34000');
    expect(await client.monetaryTransactionCount(meter)).toBe(1);
    await client.prepaySendToken(meter, vendor.issue('K1', { amount: '0.66', sequence: 8 }));
    expect(await client.prepayBalance(meter)).toBe('18.00000');
  });

  it('refuses to issue amounts that are not whole pence or out of range', () => {
    const vendor = new DevelopmentTokenVendor();
    expect(() => vendor.issue('K1', { amount: '1.005', sequence: 1 })).toThrow(/whole pence/);
    expect(() => vendor.issue('K1', { amount: '0', sequence: 1 })).toThrow();
    expect(() => vendor.issue('K1', { amount: '1.00', sequence: 0 })).toThrow(/sequence/);
  });
});
