// The high-level operations over real TCP against the simulator.
import { describe, expect, it } from 'vitest';
import { EmopNakError, EmopValueError } from '../../src/emop/errors.ts';
import { fastClient, simulate, targetOf } from './helpers.ts';

const START = Date.UTC(2025, 6, 1, 12, 0, 0); // 2025-07-01 12:00 UTC, 13:00 BST

function fixedClock(ms = START) {
  const clock = { ms, now: () => clock.ms };
  return clock;
}

describe('EmopClient operations against the simulator', () => {
  it('reads identity, signal, voltage, registers and balance', async () => {
    const clock = fixedClock();
    const sim = await simulate({
      now: clock.now,
      meters: [
        {
          serial: 'EML2137580761',
          twinElement: true,
          balance: '-333.26400',
          signalQuality: { networkOperator: 2, csq: 12 },
          voltageDecivolts: 2386,
        },
      ],
    });
    const meter = targetOf(sim, 'EML2137580761');
    const client = fastClient();
    expect(await client.serialRead(meter)).toBe('EML2137580761');
    expect(await client.hardwareRead(meter)).toBe('6Cw');
    expect(await client.firmwareRead(meter)).toBe('3020');
    expect(await client.csq(meter)).toEqual({ networkOperator: 2, csq: 12 });
    expect(await client.instantaneousVoltage(meter)).toBe(238.6);
    expect(await client.prepayBalance(meter)).toBe('-333.26400');
    const a = await client.readElementA(meter);
    const b = await client.readElementB(meter);
    expect(a.importActiveWh).toBeGreaterThan(0);
    expect(b.importActiveWh).toBeGreaterThan(0);
    expect(a.exportActiveWh).toBe(0);
    clock.ms += 3_600_000;
    expect((await client.readElementA(meter)).importActiveWh).toBeGreaterThan(a.importActiveWh);
  });

  it('answers NAK 5 for element B on a single-element meter', async () => {
    const sim = await simulate({ meters: [{ serial: 'S1' }] });
    const error = await fastClient()
      .readElementB(targetOf(sim, 'S1'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopNakError);
    expect((error as EmopNakError).code).toBe(5);
    expect(sim.meter('S1').requests).toHaveLength(1);
  });

  it('reads and writes the clock in UTC, or in Europe/London when the DST flag is set', async () => {
    const clock = fixedClock();
    const sim = await simulate({
      now: clock.now,
      meters: [
        { serial: 'UTC', clockOffsetSeconds: -30 },
        { serial: 'BST', daylightSavings: true },
      ],
    });
    const client = fastClient({ now: () => new Date(clock.ms) });
    const utc = await client.clockTimeRead(targetOf(sim, 'UTC'));
    expect(utc.timeZone).toBe('UTC');
    expect(utc.wallClock).toEqual({ year: 2025, month: 7, day: 1, hour: 11, minute: 59, second: 30 });
    expect(utc.instant.getTime()).toBe(START - 30_000);

    const bst = await client.clockTimeRead(targetOf(sim, 'BST', { daylightSavings: true }));
    expect(bst.wallClock.hour).toBe(13);
    expect(bst.instant.getTime()).toBe(START);

    expect(await client.clockTimeWrite(targetOf(sim, 'UTC'))).toMatchObject({ hour: 12, minute: 0, second: 0 });
    expect((await client.clockTimeRead(targetOf(sim, 'UTC'))).instant.getTime()).toBe(START);
  });

  it('reads the DST flag from the meter when its id is configured and the target does not say', async () => {
    const sim = await simulate({
      now: fixedClock().now,
      daylightSavingsFlagOid: 0xabcdef,
      meters: [{ serial: 'BST', daylightSavings: true }],
    });
    const reading = await fastClient({ daylightSavingsFlagOid: 0xabcdef }).clockTimeRead(targetOf(sim, 'BST'));
    expect(reading).toMatchObject({ timeZone: 'Europe/London', instant: new Date(START) });
    expect(sim.meter('BST').requests.map((r) => r.request)).toMatchObject([{ oid: 0xabcdef }, { oid: 0x800800 }]);
  });

  it('switches prepay mode, refusing to enable it below the minimum balance', async () => {
    const sim = await simulate({
      meters: [
        { serial: 'RICH', prepayEnabled: false, balance: '10.00000' },
        { serial: 'POOR', prepayEnabled: false, balance: '9.99999' },
      ],
    });
    const client = fastClient();
    await client.prepayEnabledWrite(targetOf(sim, 'RICH'), true);
    expect(await client.prepayEnabled(targetOf(sim, 'RICH'))).toBe(true);
    await expect(client.prepayEnabledWrite(targetOf(sim, 'POOR'), true)).rejects.toBeInstanceOf(EmopValueError);
    expect(await client.prepayEnabled(targetOf(sim, 'POOR'))).toBe(false);
  });

  it('sends a token once: the balance and transaction count rise, a reused or unknown token is refused', async () => {
    const sim = await simulate({
      meters: [{ serial: 'P1', balance: '1.50000' }],
      redeemToken: (_serial, token) => (token.startsWith('1') ? '20.00000' : undefined),
    });
    const meter = targetOf(sim, 'P1');
    const client = fastClient();
    await client.prepaySendToken(meter, '12345678901234567890');
    expect(await client.prepayBalance(meter)).toBe('21.50000');
    expect(await client.monetaryTransactionCount(meter)).toBe(1);
    await expect(client.prepaySendToken(meter, '12345678901234567890')).rejects.toMatchObject({ code: 6 });
    await expect(client.prepaySendToken(meter, '99999999999999999999')).rejects.toMatchObject({ code: 6 });
    await expect(client.prepaySendToken(meter, '123')).rejects.toBeInstanceOf(EmopValueError);
    expect(await client.prepayBalance(meter)).toBe('21.50000');
  });

  it('writes a future tariff in the spec order, reads it back, and sees it active after activation', async () => {
    const clock = fixedClock();
    const sim = await simulate({ now: clock.now, meters: [{ serial: 'T1', tariff: { unitRateElementA: '0.20000' } }] });
    const meter = targetOf(sim, 'T1');
    const client = fastClient();
    const activationTime = new Date(START + 86_400_000);
    const tariff = {
      standingCharge: '0.61234',
      unitRateElementA: '0.27654',
      unitRateElementB: '0.13579',
      emergencyCredit: '15.00000',
      eCreditAvailability: '7.50000',
      debtRecoveryRate: '0.25000',
    };
    await client.tariffsFutureWrite(meter, { ...tariff, activationTime });
    expect(sim.meter('T1').requests.map((r) => r.request)).toMatchObject(
      [
        0xffff21, 0xffff1f, 0xffff4f, 0xfff839, 0xfff601, 0xffc808, 0xffc809, 0xffc80a, 0xffc965, 0xffff23, 0xffff24,
      ].map((oid) => ({ format: 'object', oid, access: 'write' })),
    );

    expect(await client.tariffsFutureRead(meter)).toEqual({
      ...tariff,
      activationTime,
      thresholdMask: 0,
      thresholdValues: [0, 0, 0, 0, 0, 0, 0],
    });
    const before = await client.tariffsActiveRead(meter);
    expect(before).toMatchObject({ unitRateElementA: '0.20000', currentPrice: '0.20000' });

    clock.ms = activationTime.getTime();
    expect(await client.tariffsActiveRead(meter)).toEqual({
      standingCharge: '0.61234',
      thresholdMask: 0,
      thresholdValues: [0, 0, 0, 0, 0, 0, 0],
      unitRateElementA: '0.27654',
      currentPrice: '0.27654',
      currentBlockRateIndex: 7,
      currentTouRateIndex: 0,
      elementBCurrentPrice: '0.13579',
      elementBTouRateIndex: 0,
      emergencyCredit: '15.00000',
      eCreditAvailability: '7.50000',
      debtRecoveryRate: '0.25000',
    });
  });

  it('rejects a future tariff with a unit rate above £1 or more than five decimals before writing anything', async () => {
    const sim = await simulate({ meters: [{ serial: 'T2' }] });
    const base = {
      standingCharge: '0.5',
      unitRateElementA: '0.2',
      unitRateElementB: '0.1',
      emergencyCredit: '5',
      eCreditAvailability: '5',
      debtRecoveryRate: '0',
      activationTime: new Date(START),
    };
    const client = fastClient();
    await expect(
      client.tariffsFutureWrite(targetOf(sim, 'T2'), { ...base, unitRateElementA: '1.00001' }),
    ).rejects.toThrow(EmopValueError);
    await expect(
      client.tariffsFutureWrite(targetOf(sim, 'T2'), { ...base, standingCharge: '0.123456' }),
    ).rejects.toThrow(EmopValueError);
    expect(sim.meter('T2').requests).toHaveLength(0);
  });

  it('reads profile log 1 for the half-hours asked, setting apart later data the meter sends instead', async () => {
    const clock = fixedClock();
    const logStart = new Date(START - 86_400_000);
    const sim = await simulate({
      now: clock.now,
      meters: [{ serial: 'L1', twinElement: true, profileLogStart: logStart }],
    });
    const meter = targetOf(sim, 'L1');
    const client = fastClient();

    const from = new Date(START - 4 * 3_600_000);
    const page = await client.profileLog1(meter, from);
    expect(page.records.map((r) => r.time.getTime())).toEqual(
      [0, 1, 2, 3, 4].map((i) => from.getTime() + i * 1_800_000),
    );
    expect(page.outOfRange).toEqual([]);
    const imports = page.records.map((r) => r.importAWh);
    expect(imports).toEqual([...imports].sort((x, y) => x - y));
    expect(page.records.every((r) => r.status.valid && r.importBWh > 0)).toBe(true);
    expect((await client.profileLog1(meter, from)).records).toEqual(page.records);

    const beforeLog = await client.profileLog1(meter, new Date(logStart.getTime() - 7 * 86_400_000));
    expect(beforeLog.records).toEqual([]);
    expect(beforeLog.outOfRange[0]!.time).toEqual(logStart);

    const latest = await client.profileLog1(meter, new Date(START - 3_600_000));
    expect(latest.records.map((r) => r.time.getTime())).toEqual([START - 3_600_000, START - 1_800_000, START]);
  });

  it('times profile records of a DST meter in Europe/London', async () => {
    const sim = await simulate({ now: fixedClock().now, meters: [{ serial: 'BST', daylightSavings: true }] });
    const from = new Date(START - 2 * 3_600_000);
    const page = await fastClient().profileLog1(targetOf(sim, 'BST', { daylightSavings: true }), from);
    expect(page.records.map((r) => r.time.getTime())).toEqual(
      [0, 1, 2, 3, 4].map((i) => from.getTime() + i * 1_800_000),
    );
    const request = sim.meter('BST').requests[0]!.request;
    // 10:00 UTC asked for as 11:00 on the meter's BST clock.
    expect(request).toMatchObject({ format: 'profileLog1', timestamp: 804_682_800 });
  });

  it('reads profile log 2 in the single- and twin-element layouts', async () => {
    const sim = await simulate({
      now: fixedClock().now,
      meters: [
        { serial: 'SINGLE', exportWhPerHalfHour: 100 },
        { serial: 'TWIN', twinElement: true },
      ],
    });
    const client = fastClient();
    const from = new Date(START - 3 * 3_600_000);
    const single = await client.profileLog2(targetOf(sim, 'SINGLE'), from, 'singleElement');
    expect(single.records).toHaveLength(3);
    expect(single.records[0]).toMatchObject({ voltage: 2400, exportActiveBWh: 0 });
    expect(single.records[2]!.exportActiveAWh).toBeGreaterThan(single.records[0]!.exportActiveAWh);
    const twin = await client.profileLog2(targetOf(sim, 'TWIN'), from, 'twinElement');
    expect(twin.records).toHaveLength(2);
    expect(twin.records[1]!.importReactiveBVarh).toBeGreaterThan(0);
  });
});
