// Value codecs for object payloads (spec §5): fixed-width little-endian integers, money, ASCII, the clock.
// Each checks the payload length strictly and throws typed errors carrying the bytes.
import { EmopPayloadError, EmopShortPayloadError, EmopValueError } from './errors.ts';
import {
  dayOfWeek,
  moneyFromUnits,
  moneyToUnits,
  wallClockToEmopSeconds,
  type Money,
  type WallClock,
} from './units.ts';

export interface ValueCodec<T> {
  /** Exact payload length, or the accepted range. */
  readonly length: number | { min: number; max: number };
  /** `what` names the object in error messages. */
  decode(payload: Uint8Array, what: string): T;
  encode(value: T, what: string): Uint8Array;
}

/** Throws unless the payload length is acceptable for the codec. */
function checkLength(codec: ValueCodec<unknown>, payload: Uint8Array, what: string): void {
  const { min, max } = typeof codec.length === 'number' ? { min: codec.length, max: codec.length } : codec.length;
  if (payload.length < min) throw new EmopShortPayloadError(what, payload, min);
  if (payload.length > max) throw new EmopPayloadError(`${what}: expected at most ${max} byte(s)`, payload);
}

/** A codec bound to a name, checking the payload length on decode and encode. */
export interface StrictCodec<T> {
  decode(payload: Uint8Array): T;
  encode(value: T): Uint8Array;
}

export function strictCodec<T>(codec: ValueCodec<T>, what: string): StrictCodec<T> {
  return {
    decode(payload) {
      checkLength(codec, payload, what);
      return codec.decode(payload, what);
    },
    encode(value) {
      const bytes = codec.encode(value, what);
      checkLength(codec, bytes, what);
      return bytes;
    },
  };
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function integer(length: 1 | 2 | 4, signed: boolean): ValueCodec<number> {
  const bits = length * 8;
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return {
    length,
    decode(payload) {
      const v = view(payload);
      if (length === 1) return signed ? v.getInt8(0) : v.getUint8(0);
      if (length === 2) return signed ? v.getInt16(0, true) : v.getUint16(0, true);
      return signed ? v.getInt32(0, true) : v.getUint32(0, true);
    },
    encode(value, what) {
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new EmopValueError(`${what}: ${value} is not in ${min}..${max}`);
      }
      const bytes = new Uint8Array(length);
      const v = view(bytes);
      if (length === 1) v.setUint8(0, value & 0xff);
      else if (length === 2) v.setUint16(0, value & 0xffff, true);
      else if (signed) v.setInt32(0, value, true);
      else v.setUint32(0, value, true);
      return bytes;
    },
  };
}

export const u8 = integer(1, false);
export const u16 = integer(2, false);
export const u32 = integer(4, false);
const s32 = integer(4, true);

/** A u8 that must be 0 or 1. */
export const flag: ValueCodec<boolean> = {
  length: 1,
  decode(payload, what) {
    const byte = payload[0];
    if (byte !== 0 && byte !== 1) throw new EmopPayloadError(`${what}: flag is neither 00 nor 01`, payload);
    return byte === 1;
  },
  encode: (value) => Uint8Array.of(value ? 1 : 0),
};

function moneyCodec(integerCodec: ValueCodec<number>, range: { min: number; max: number }): ValueCodec<Money> {
  return {
    length: 4,
    decode: (payload, what) => moneyFromUnits(integerCodec.decode(payload, what)),
    encode: (value, what) => integerCodec.encode(moneyToUnits(value, range), what),
  };
}

/** u32 LE, GBP × 100 000 (rates, charges, credit settings). */
export const money = moneyCodec(u32, { min: 0, max: 0xffffffff });
/** s32 LE, GBP × 100 000 (the prepay balance). */
export const signedMoney = moneyCodec(s32, { min: -(2 ** 31), max: 2 ** 31 - 1 });

/** Printable ASCII padded with spaces or NULs; decoded with the padding trimmed. */
export function paddedAscii(length: number | { min: number; max: number }, pad: ' ' | '\0'): ValueCodec<string> {
  const max = typeof length === 'number' ? length : length.max;
  return {
    length,
    decode(payload, what) {
      const text = Buffer.from(payload)
        .toString('latin1')
        .replace(/[ \0]+$/, '');
      if (!/^[\x20-\x7e]*$/.test(text)) throw new EmopPayloadError(`${what}: not printable ASCII`, payload);
      return text;
    },
    encode(value, what) {
      if (!/^[\x20-\x7e]*$/.test(value) || value.length > max) {
        throw new EmopValueError(`${what}: '${value}' is not printable ASCII of at most ${max} characters`);
      }
      return Uint8Array.from(Buffer.from(value.padEnd(max, pad), 'latin1'));
    },
  };
}

/** Exactly `length` ASCII digits (the top-up token). */
export function digits(length: number): ValueCodec<string> {
  const pattern = new RegExp(`^\\d{${length}}$`);
  return {
    length,
    decode(payload, what) {
      const text = Buffer.from(payload).toString('latin1');
      if (!pattern.test(text)) throw new EmopPayloadError(`${what}: expected ${length} ASCII digits`, payload);
      return text;
    },
    encode(value, what) {
      if (!pattern.test(value)) throw new EmopValueError(`${what}: expected exactly ${length} digits`);
      return Uint8Array.from(Buffer.from(value, 'latin1'));
    },
  };
}

/** n × u16 LE. */
export function u16Array(count: number): ValueCodec<number[]> {
  return {
    length: count * 2,
    decode: (payload) => Array.from({ length: count }, (_, i) => view(payload).getUint16(i * 2, true)),
    encode(values, what) {
      if (values.length !== count) throw new EmopValueError(`${what}: expected ${count} values, got ${values.length}`);
      const bytes = new Uint8Array(count * 2);
      values.forEach((value, i) => bytes.set(u16.encode(value, what), i * 2));
      return bytes;
    },
  };
}

/** `YY MM DD hh mm ss DOW`, plain binary, YY = year − 2000. DOW (0 = Sunday) is written, ignored on read. */
export const clock: ValueCodec<WallClock> = {
  length: 7,
  decode(payload, what) {
    const [yy = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = payload;
    const wall = { year: 2000 + yy, month, day, hour, minute, second };
    try {
      wallClockToEmopSeconds(wall);
    } catch {
      throw new EmopPayloadError(`${what}: not a valid date and time`, payload);
    }
    return wall;
  },
  encode(wall, what) {
    const yy = wall.year - 2000;
    if (yy < 0 || yy > 0xff) throw new EmopValueError(`${what}: year ${wall.year} not in 2000..2255`);
    wallClockToEmopSeconds(wall);
    return Uint8Array.of(yy, wall.month, wall.day, wall.hour, wall.minute, wall.second, dayOfWeek(wall));
  },
};

/** Several u32 LE fields in a fixed order. */
export function u32Record<K extends string>(fields: readonly K[]): ValueCodec<Record<K, number>> {
  return {
    length: fields.length * 4,
    decode(payload) {
      const v = view(payload);
      return Object.fromEntries(fields.map((field, i) => [field, v.getUint32(i * 4, true)])) as Record<K, number>;
    },
    encode(record, what) {
      const bytes = new Uint8Array(fields.length * 4);
      fields.forEach((field, i) => bytes.set(u32.encode(record[field], `${what}.${field}`), i * 4));
      return bytes;
    },
  };
}

/** A value derived from one u8 (e.g. the CSQ byte). */
export function bitfield8<T>(decode: (byte: number) => T, encode: (value: T) => number): ValueCodec<T> {
  return {
    length: 1,
    decode: (payload) => decode(payload[0]!),
    encode: (value, what) => u8.encode(encode(value), what),
  };
}
