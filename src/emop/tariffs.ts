// Tariff sets as the client reads and writes them (spec §5.6, §6): which objects, in which order.
import { EmopValueError } from './errors.ts';
import { activeTariffObjects, futureTariffObjects, type ObjectCodec } from './objects.ts';
import { moneyToUnits, type Money } from './units.ts';

/** Reads one object; the client supplies it so these sequences stay transport-free. */
export type ObjectReader = <T>(object: ObjectCodec<T>) => Promise<T>;

export interface ActiveTariffs {
  standingCharge: Money;
  thresholdMask: number;
  thresholdValues: number[];
  /** Price block 8 rate 1: the element A unit rate. */
  unitRateElementA: Money;
  currentPrice: Money;
  currentBlockRateIndex: number;
  currentTouRateIndex: number;
  elementBCurrentPrice: Money;
  elementBTouRateIndex: number;
  emergencyCredit: Money;
  eCreditAvailability: Money;
  debtRecoveryRate: Money;
}

export interface FutureTariffs {
  standingCharge: Money;
  /** EMOP-epoch seconds of the meter's clock (0 when none was set). */
  activationTime: number;
  thresholdMask: number;
  thresholdValues: number[];
  unitRateElementA: Money;
  unitRateElementB: Money;
  emergencyCredit: Money;
  eCreditAvailability: Money;
  debtRecoveryRate: Money;
}

/** What tariffs_future_write sends; activation time in EMOP-epoch seconds of the meter's clock. */
export type FutureTariffWrite = Omit<FutureTariffs, 'thresholdMask' | 'thresholdValues'>;

const active = activeTariffObjects;
const future = futureTariffObjects;

/** Reads in the order of the production client: FFFF22, FFFF20, FFFF1E, FFF939, FFFF2E, FFFF2C, FFFF2B, FFFF4D, FFFF4B, FFC805-07. */
export async function readActiveTariffs(read: ObjectReader): Promise<ActiveTariffs> {
  return {
    standingCharge: await read(active.standingCharge),
    thresholdMask: await read(active.thresholdMask),
    thresholdValues: await read(active.thresholdValues),
    unitRateElementA: await read(active.priceBlockRate(8, 1)),
    currentPrice: await read(active.currentPrice),
    currentBlockRateIndex: await read(active.currentBlockRateIndex),
    currentTouRateIndex: await read(active.currentTouRateIndex),
    elementBCurrentPrice: await read(active.elementBCurrentPrice),
    elementBTouRateIndex: await read(active.elementBTouRateIndex),
    emergencyCredit: await read(active.emergencyCredit),
    eCreditAvailability: await read(active.eCreditAvailability),
    debtRecoveryRate: await read(active.debtRecoveryRate),
  };
}

/** Reads FFFF23, FFFF24, FFFF21, FFFF1F, FFF839, FFF601, FFC808-0A. */
export async function readFutureTariffs(read: ObjectReader): Promise<FutureTariffs> {
  return {
    standingCharge: await read(future.standingCharge),
    activationTime: await read(future.activationTime),
    thresholdMask: await read(future.thresholdMask),
    thresholdValues: await read(future.thresholdValues),
    unitRateElementA: await read(future.priceBlockRate(8, 1)),
    unitRateElementB: await read(future.elementBTouRate(1)),
    emergencyCredit: await read(future.emergencyCredit),
    eCreditAvailability: await read(future.eCreditAvailability),
    debtRecoveryRate: await read(future.debtRecoveryRate),
  };
}

export interface ObjectWrite {
  name: string;
  oid: number;
  payload: Uint8Array;
}

/** Client policy: unit rates at most £1.00 (five decimals are enforced by the money codec). */
const MAX_UNIT_RATE_UNITS = 100_000;

/** The eleven writes of spec §6, activation time last. Encodes (and so validates) everything up front. */
export function futureTariffWrites(tariff: FutureTariffWrite): ObjectWrite[] {
  for (const [name, rate] of [
    ['element A unit rate', tariff.unitRateElementA],
    ['element B unit rate', tariff.unitRateElementB],
  ] as const) {
    if (moneyToUnits(rate, { min: 0, max: 0xffffffff }) > MAX_UNIT_RATE_UNITS) {
      throw new EmopValueError(`${name} £${rate} exceeds £1.00`);
    }
  }
  const write = <T>(object: ObjectCodec<T>, value: T): ObjectWrite => ({
    name: object.name,
    oid: object.oid,
    payload: object.encode(value),
  });
  return [
    write(future.thresholdMask, 0),
    write(future.thresholdValues, [0, 0, 0, 0, 0, 0, 0]),
    write(future.touFlag, 0),
    write(future.priceBlockRate(8, 1), tariff.unitRateElementA),
    write(future.elementBTouRate(1), tariff.unitRateElementB),
    write(future.emergencyCredit, tariff.emergencyCredit),
    write(future.eCreditAvailability, tariff.eCreditAvailability),
    write(future.debtRecoveryRate, tariff.debtRecoveryRate),
    write(future.gasRate, 0),
    write(future.standingCharge, tariff.standingCharge),
    write(future.activationTime, tariff.activationTime),
  ];
}
