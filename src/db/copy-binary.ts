// PostgreSQL's binary COPY format (https://www.postgresql.org/docs/15/sql-copy.html, "Binary Format")
// for the column types the ingest path sends: bigint, uuid, timestamptz, numeric and text. Values are
// encoded exactly: a decimal string becomes the numeric PostgreSQL would read from it (digits, weight
// and display scale), an ISO 8601 timestamp the instant PostgreSQL would read, to the microsecond.
// Binary input skips the server's text parsing, which is most of what a COPY costs.

const signature = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]); // PGCOPY\n\377\r\n\0
const two32 = 4294967296;
const tens = [1, 10, 100, 1000];

/** Seconds from 1970-01-01 to 2000-01-01 UTC, PostgreSQL's epoch. */
const epochShift = 946_684_800;
/** The earliest timestamptz PostgreSQL accepts (4714-11-24 00:00 UTC BC), in seconds from 2000-01-01. */
const minSeconds = -211_813_488_000;
/** Past this many seconds from 2000 (about 285 years), microseconds no longer fit a double exactly. */
const safeSeconds = 9_000_000_000;
/** PostgreSQL's numeric input refuses an exponent from INT_MAX / 2 up. */
const maxExponent = 1_073_741_823;

/** Result of encoding a value: written, not in the format at all, or in the format but out of range. */
export type EncodeResult = 'ok' | 'syntax' | 'range';

/** A COPY … FROM STDIN WITH (FORMAT binary) payload, built row by row in one growing buffer. */
export class BinaryCopyWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(expectedBytes = 65_536) {
    this.#buf = Buffer.allocUnsafe(Math.max(64, expectedBytes));
    signature.copy(this.#buf, 0);
    this.#buf.writeInt32BE(0, 11); // flags: no OIDs
    this.#buf.writeInt32BE(0, 15); // no header extension
    this.#pos = 19;
  }

  #reserve(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + bytes));
    this.#buf.copy(grown, 0, 0, this.#pos);
    this.#buf = grown;
  }

  /** Starts a row of `fields` values. */
  row(fields: number): void {
    this.#reserve(2);
    this.#pos = this.#buf.writeInt16BE(fields, this.#pos);
  }

  null(): void {
    this.#reserve(4);
    this.#pos = this.#buf.writeInt32BE(-1, this.#pos);
  }

  /** A bigint from a safe integer. */
  int8(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${value} is not a safe integer`);
    this.#reserve(12);
    this.#pos = this.#buf.writeInt32BE(8, this.#pos);
    this.#int64(value);
  }

  /** A uuid from its 16 bytes (see uuidBytes). */
  uuid(bytes: Uint8Array): void {
    if (bytes.length !== 16) throw new RangeError('a uuid is 16 bytes');
    this.#reserve(20);
    this.#pos = this.#buf.writeInt32BE(16, this.#pos);
    this.#buf.set(bytes, this.#pos);
    this.#pos += 16;
  }

  /** A text value, UTF-8. */
  text(value: string): void {
    const length = value.length;
    this.#reserve(4 + length * 3); // at most 3 bytes per UTF-16 unit
    const buf = this.#buf;
    const start = this.#pos + 4;
    let i = 0;
    for (; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      buf[start + i] = c;
    }
    const bytes = i === length ? length : i + buf.write(value.slice(i), start + i, 'utf8');
    buf.writeInt32BE(bytes, this.#pos);
    this.#pos = start + bytes;
  }

  /**
   * A timestamptz from an ISO 8601 string with an explicit zone, `YYYY-MM-DDTHH:MM[:SS[.ffffff]]`
   * then `Z` or `±HH:MM`, read as PostgreSQL reads it (24:00 is the next midnight, second 60 the
   * next minute, as long as the time of day is not past 24:00:00; a zone up to ±15:59). 'syntax' if
   * the string is not in that form, 'range' if a field is out of range (PostgreSQL refuses it too);
   * nothing is written then.
   */
  timestamptz(value: string): EncodeResult {
    const n = value.length;
    if (n < 17) return 'syntax';
    const year = digits(value, 0, 4);
    const month = digits(value, 5, 2);
    const day = digits(value, 8, 2);
    const hour = digits(value, 11, 2);
    const minute = digits(value, 14, 2);
    if (
      year < 0 ||
      month < 0 ||
      day < 0 ||
      hour < 0 ||
      minute < 0 ||
      value.charCodeAt(4) !== 45 || // -
      value.charCodeAt(7) !== 45 ||
      value.charCodeAt(10) !== 84 || // T
      value.charCodeAt(13) !== 58 // :
    ) {
      return 'syntax';
    }
    let i = 16;
    let second = 0;
    let micros = 0;
    if (value.charCodeAt(i) === 58) {
      second = digits(value, 17, 2);
      if (second < 0) return 'syntax';
      i = 19;
      if (value.charCodeAt(i) === 46) {
        // . and 1 to 6 digits
        let places = 0;
        i++;
        while (i < n && places < 7) {
          const d = value.charCodeAt(i) - 48;
          if (d < 0 || d > 9) break;
          micros = micros * 10 + d;
          places++;
          i++;
        }
        if (places === 0 || places > 6) return 'syntax';
        for (; places < 6; places++) micros *= 10;
      }
    }
    let offset = 0; // seconds east of UTC
    const zone = value.charCodeAt(i);
    if (zone === 90) {
      // Z
      if (i + 1 !== n) return 'syntax';
    } else if (zone === 43 || zone === 45) {
      // + or -
      const zoneHour = digits(value, i + 1, 2);
      const zoneMinute = digits(value, i + 4, 2);
      if (i + 6 !== n || zoneHour < 0 || zoneMinute < 0 || value.charCodeAt(i + 3) !== 58) return 'syntax';
      if (zoneHour > 15 || zoneMinute > 59) return 'range';
      offset = (zoneHour * 3600 + zoneMinute * 60) * (zone === 45 ? -1 : 1);
    } else {
      return 'syntax';
    }
    const timeOfDay = hour * 3600 + minute * 60 + second;
    if (
      year < 1 ||
      month < 1 ||
      month > 12 ||
      day < 1 ||
      day > daysInMonth(year, month) ||
      minute > 59 ||
      second > 60 ||
      timeOfDay > 86_400 ||
      (timeOfDay === 86_400 && micros > 0)
    ) {
      return 'range'; // the time of day may be 24:00:00 (23:59:60, 24:00) but no later
    }
    const seconds = daysFromCivil(year, month, day) * 86_400 + timeOfDay - offset - epochShift;
    this.#timestamptz(seconds, micros);
    return 'ok';
  }

  /** A timestamptz from milliseconds since 1970 (a Date's getTime()); false if PostgreSQL cannot hold it. */
  timestamptzFromMillis(ms: number): boolean {
    if (!Number.isInteger(ms)) return false;
    const seconds = Math.floor(ms / 1000);
    if (seconds - epochShift < minSeconds) return false;
    this.#timestamptz(seconds - epochShift, (ms - seconds * 1000) * 1000);
    return true;
  }

  #timestamptz(seconds: number, micros: number): void {
    this.#reserve(12);
    this.#pos = this.#buf.writeInt32BE(8, this.#pos);
    if (seconds > -safeSeconds && seconds < safeSeconds) {
      this.#int64(seconds * 1_000_000 + micros);
    } else {
      this.#pos = this.#buf.writeBigInt64BE(BigInt(seconds) * 1_000_000n + BigInt(micros), this.#pos);
    }
  }

  /**
   * A numeric from a decimal string, `[+-]digits[.digits][e[+-]digits]` (or `.digits`), exactly: the
   * value and display scale PostgreSQL's numeric input gives it. 'syntax' if the string is not a
   * number in that form, 'range' where PostgreSQL's numeric input refuses it too (a display scale
   * over 16383, more than 131072 digits before the point, an exponent of ±2^30); nothing is written
   * then.
   */
  numeric(value: string): EncodeResult {
    const n = value.length;
    let i = 0;
    let negative = false;
    const lead = value.charCodeAt(0);
    if (lead === 43 || lead === 45) {
      negative = lead === 45;
      i = 1;
    }
    const intStart = i;
    while (i < n && isDigit(value.charCodeAt(i))) i++;
    const intEnd = i;
    let fracStart = i;
    let fracEnd = i;
    if (i < n && value.charCodeAt(i) === 46) {
      fracStart = ++i;
      while (i < n && isDigit(value.charCodeAt(i))) i++;
      fracEnd = i;
    }
    if (intEnd === intStart && fracEnd === fracStart) return 'syntax'; // no digit at all
    let exponent = 0;
    if (i < n && (value.charCodeAt(i) | 0x20) === 101) {
      // e or E
      i++;
      let expNegative = false;
      const s = value.charCodeAt(i);
      if (s === 43 || s === 45) {
        expNegative = s === 45;
        i++;
      }
      const expStart = i;
      while (i < n && isDigit(value.charCodeAt(i))) {
        if (exponent < maxExponent) exponent = exponent * 10 + (value.charCodeAt(i) - 48);
        i++;
      }
      if (i === expStart) return 'syntax';
      if (expNegative) exponent = -exponent;
    }
    if (i !== n) return 'syntax';
    if (exponent >= maxExponent || exponent <= -maxExponent) return 'range'; // as PostgreSQL's numeric input

    const fracDigits = fracEnd - fracStart;
    const dscale = Math.max(0, fracDigits - exponent);
    if (dscale > 0x3fff) return 'range';
    // The digit at index i stands for 10^power(i): intEnd - 1 - i + exponent before the point,
    // fracStart - 1 - i + exponent after it.
    let first = intStart; // first non-zero digit
    while (first < fracEnd && (value.charCodeAt(first) === 48 || first === intEnd)) first++;
    this.#reserve(12);
    if (first === fracEnd) {
      // zero: no digits, weight 0, positive
      const buf = this.#buf;
      let p = buf.writeInt32BE(8, this.#pos);
      p = buf.writeInt16BE(0, p);
      p = buf.writeInt16BE(0, p);
      p = buf.writeUInt16BE(0, p);
      this.#pos = buf.writeInt16BE(dscale, p);
      return 'ok';
    }
    let last = fracEnd - 1; // last non-zero digit
    while (value.charCodeAt(last) === 48 || last === intEnd) last--;
    const top = (first < intEnd ? intEnd - 1 - first : fracStart - 1 - first) + exponent;
    const bottom = (last < intEnd ? intEnd - 1 - last : fracStart - 1 - last) + exponent;
    // base-10000 digits: the one of weight w holds powers 4w to 4w + 3
    const weight = Math.floor(top / 4);
    const ndigits = weight - Math.floor(bottom / 4) + 1;
    if (weight > 0x7fff || ndigits > 0xffff) return 'range';
    this.#reserve(12 + ndigits * 2);
    const buf = this.#buf;
    let p = buf.writeInt32BE(8 + ndigits * 2, this.#pos);
    p = buf.writeInt16BE(ndigits, p);
    p = buf.writeInt16BE(weight, p);
    p = buf.writeUInt16BE(negative ? 0x4000 : 0, p);
    p = buf.writeInt16BE(dscale, p);
    // one base-10000 digit after the other, from the most significant; powers fall by one per digit
    let pw = top;
    let group = weight;
    let acc = 0;
    for (let k = first; k <= last; k++) {
      if (k === intEnd) continue; // the point
      const g = Math.floor(pw / 4);
      if (g !== group) {
        // groups between are all zeros
        p = buf.writeInt16BE(acc, p);
        for (let z = group - 1; z > g; z--) p = buf.writeInt16BE(0, p);
        group = g;
        acc = 0;
      }
      acc += (value.charCodeAt(k) - 48) * tens[pw - g * 4]!;
      pw--;
    }
    this.#pos = buf.writeInt16BE(acc, p);
    return 'ok';
  }

  /** The payload so far, ended with the trailer; the writer is not to be used afterwards. */
  finish(): Buffer {
    this.#reserve(2);
    this.#pos = this.#buf.writeInt16BE(-1, this.#pos);
    return this.#buf.subarray(0, this.#pos);
  }

  /** A safe integer as a big-endian int64. */
  #int64(value: number): void {
    const high = Math.floor(value / two32);
    this.#pos = this.#buf.writeInt32BE(high, this.#pos);
    this.#pos = this.#buf.writeUInt32BE(value - high * two32, this.#pos);
  }
}

/** The 16 bytes of a uuid written as 8-4-4-4-12 hex digits (check the form first). */
export function uuidBytes(value: string): Buffer {
  return Buffer.from(value.replaceAll('-', ''), 'hex');
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The number in `count` ASCII digits at `start`, or -1. */
function digits(value: string, start: number, count: number): number {
  let result = 0;
  for (let i = start; i < start + count; i++) {
    const d = value.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1; // NaN past the end
    result = result * 10 + d;
  }
  return result;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}
