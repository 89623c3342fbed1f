// EMOP objects the spec pins down (§5): id, access and value codec. Objects whose ids are unknown are not
// listed here; the DST flag can be given an id by configuration (`daylightSavingsFlagObject`).
import { EmopValueError } from './errors.ts';
import { formatOid } from './data-field.ts';
import type { Money, WallClock } from './units.ts';
import {
  bitfield8,
  clock,
  digits,
  flag,
  money,
  paddedAscii,
  signedMoney,
  strictCodec,
  u16,
  u16Array,
  u32,
  u32Record,
  u8,
  type StrictCodec,
  type ValueCodec,
} from './values.ts';

/** Strict: decode and encode check that the payload length fits the object. */
export interface ObjectCodec<T> extends StrictCodec<T> {
  readonly name: string;
  readonly oid: number;
  readonly writable: boolean;
}

function defineObject<T>(name: string, oid: number, value: ValueCodec<T>, writable: boolean): ObjectCodec<T> {
  return { name, oid, writable, ...strictCodec(value, `${name} (${formatOid(oid)})`) };
}

export interface SignalQuality {
  /** Bits 7-5: 1 = O2, 2 = Vodafone (per the source's test comments). */
  networkOperator: number;
  /** Bits 4-0: 0-31. */
  csq: number;
}

export interface ElementRegisters {
  importActiveWh: number;
  exportActiveWh: number;
  importReactiveVarh: number;
  exportReactiveVarh: number;
}

const elementRegisters = u32Record<keyof ElementRegisters>([
  'importActiveWh',
  'exportActiveWh',
  'importReactiveVarh',
  'exportReactiveVarh',
]);

const signalQuality = bitfield8<SignalQuality>(
  (byte) => ({ networkOperator: byte >> 5, csq: byte & 0x1f }),
  ({ networkOperator, csq }) => {
    if (networkOperator < 0 || networkOperator > 7 || csq < 0 || csq > 31) {
      throw new EmopValueError(`operator ${networkOperator} / CSQ ${csq} out of range`);
    }
    return (networkOperator << 5) | csq;
  },
);

/** Single-phase: four ASCII digits ('3020'). Three-phase: two bytes of unknown meaning, shown as hex. */
const firmwareVersion: ValueCodec<string> = {
  length: { min: 2, max: 4 },
  decode(payload, what) {
    if (payload.length === 2) return Buffer.from(payload).toString('hex').toUpperCase();
    return digits(4).decode(payload, what);
  },
  encode(value, what) {
    if (/^\d{4}$/.test(value)) return digits(4).encode(value, what);
    if (/^[0-9A-Fa-f]{4}$/.test(value)) return Uint8Array.from(Buffer.from(value, 'hex'));
    throw new EmopValueError(`${what}: '${value}' is neither four digits nor four hex characters`);
  },
};

const TOKEN_LENGTH = 20;

export const objects = {
  serial: defineObject('serial', 0x600100, paddedAscii(16, ' '), false),
  /** 'Empty' = three-phase meter; '6C…' = twin element (has element B). */
  hardwareVersion: defineObject('hardware version', 0x608000, paddedAscii(4, '\0'), false),
  firmwareVersion: defineObject('firmware version', 0x000201, firmwareVersion, false),
  signalQuality: defineObject('csq / network operator', 0xfffd1d, signalQuality, false),
  clock: defineObject<WallClock>('clock', 0x800800, clock, true),
  /** 0.1 V units. */
  instantaneousVoltage: defineObject('instantaneous voltage', 0x0c0700, u16, false),
  elementA: defineObject('element A registers', 0xfffffc, elementRegisters, false),
  elementB: defineObject('element B registers', 0xfffff8, elementRegisters, false),
  prepayBalance: defineObject<Money>('prepay balance', 0xffc802, signedMoney, false),
  prepayTokenSend: defineObject('prepay token', 0xffc803, digits(TOKEN_LENGTH), true),
  prepayEnabled: defineObject('prepay enabled flag', 0xffff0d, flag, true),
  monetaryTransactionCount: defineObject('monetary transaction count', 0xffc83e, u16, false),
} as const;

export type TariffSet = 'active' | 'future';

export const PRICE_BLOCKS = 8;
export const RATES_PER_BLOCK = 8;
export const ELEMENT_B_TOU_RATES = 4;
const THRESHOLD_COUNT = 7;

/** Objects that exist in both tariff sets (spec §5.5, §5.6). The future set is writable, the active one is not. */
export function tariffObjects(set: TariffSet) {
  const future = set === 'future';
  const id = (active: number, pending: number) => (future ? pending : active);
  const define = <T>(name: string, active: number, pending: number, value: ValueCodec<T>) =>
    defineObject(`${set} ${name}`, id(active, pending), value, future);
  return {
    standingCharge: define('standing charge', 0xffff22, 0xffff23, money),
    /** bit0 = rate 1 … bit7 = rate 8. */
    thresholdMask: define('threshold mask', 0xffff20, 0xffff21, u8),
    thresholdValues: define('threshold values', 0xffff1e, 0xffff1f, u16Array(THRESHOLD_COUNT)),
    touFlag: define('TOU flag', 0xffff4e, 0xffff4f, u8),
    gasRate: define('gas rate', 0xffc964, 0xffc965, u32),
    emergencyCredit: define('emergency credit', 0xffc805, 0xffc808, money),
    eCreditAvailability: define('e-credit availability', 0xffc806, 0xffc809, money),
    debtRecoveryRate: define('debt recovery rate', 0xffc807, 0xffc80a, money),
    /** Block and rate 1..8; block 8 rate 1 is the element A unit rate. */
    priceBlockRate(block: number, rate: number) {
      checkIndex('price block', block, PRICE_BLOCKS);
      checkIndex('rate', rate, RATES_PER_BLOCK);
      const low = (block - 1) * RATES_PER_BLOCK + rate;
      return define(`price block ${block} rate ${rate}`, 0xfff900 | low, 0xfff800 | low, money);
    },
    /** Element B TOU rate 1..4; rate 1 is the element B unit rate. */
    elementBTouRate(rate: number) {
      checkIndex('element B TOU rate', rate, ELEMENT_B_TOU_RATES);
      return define(`element B TOU rate ${rate}`, 0xfff700 | rate, 0xfff600 | rate, money);
    },
  };
}

/** Objects of the active set only: what the meter is charging now. */
export const activeTariffObjects = {
  ...tariffObjects('active'),
  currentPrice: defineObject('current price', 0xffff2e, money, false),
  currentTouRateIndex: defineObject('current TOU rate index', 0xffff2b, u8, false),
  currentBlockRateIndex: defineObject('current block rate index', 0xffff2c, u8, false),
  currentPriceIndex: defineObject('current price index', 0xffff2d, u8, false),
  elementBCurrentPrice: defineObject('element B current price', 0xffff4d, money, false),
  elementBTouRateIndex: defineObject('element B current TOU rate index', 0xffff4b, u8, false),
  elementBPriceIndex: defineObject('element B current price index', 0xffff4c, u8, false),
};

/** Objects of the future set only. */
export const futureTariffObjects = {
  ...tariffObjects('future'),
  /** EMOP-epoch seconds of the meter's clock. */
  activationTime: defineObject('future activation time', 0xffff24, u32, true),
};

/** The DST correction flag: its id is not public (spec §5.8), so it exists only when configured. */
export function daylightSavingsFlagObject(oid: number): ObjectCodec<boolean> {
  return defineObject('daylight savings correction flag', oid, flag, true);
}

function checkIndex(what: string, index: number, max: number): void {
  if (!Number.isInteger(index) || index < 1 || index > max)
    throw new EmopValueError(`${what} ${index} not in 1..${max}`);
}
