// The one place for EMOP unit conversions: money (integer GBP × 100 000), energy (Wh), EMOP-epoch time
// (seconds since 2000-01-01 00:00 of the meter's clock) and the meter's clock zone (spec §5, §5.3).
import { EmopValueError } from './errors.ts';

/** GBP as a decimal string with exactly five decimals, e.g. '3.00000' or '-333.26400'. Never a float. */
export type Money = string;

const MONEY_SCALE_DIGITS = 5;
const MONEY_PATTERN = /^(-)?(\d+)(?:\.(\d{1,5}))?$/;

/** Meter money units (GBP × 100 000) → '1.23450'. */
export function moneyFromUnits(units: number): Money {
  if (!Number.isSafeInteger(units)) throw new EmopValueError(`money units must be an integer, got ${units}`);
  const digits = Math.abs(units)
    .toString()
    .padStart(MONEY_SCALE_DIGITS + 1, '0');
  const whole = digits.slice(0, -MONEY_SCALE_DIGITS);
  const fraction = digits.slice(-MONEY_SCALE_DIGITS);
  return `${units < 0 ? '-' : ''}${whole}.${fraction}`;
}

/** '0.0765' → 7650. At most five decimals; the result must fit the given integer range. */
export function moneyToUnits(gbp: Money, range: { min: number; max: number }): number {
  const match = MONEY_PATTERN.exec(gbp);
  if (!match) throw new EmopValueError(`not a GBP amount with at most ${MONEY_SCALE_DIGITS} decimals: '${gbp}'`);
  const [, sign, whole = '', fraction = ''] = match;
  const magnitude = Number(`${whole}${fraction.padEnd(MONEY_SCALE_DIGITS, '0')}`);
  const units = sign ? -magnitude : magnitude;
  if (!Number.isSafeInteger(magnitude) || units < range.min || units > range.max) {
    throw new EmopValueError(`GBP ${gbp} is outside the meter's range`);
  }
  return units === 0 ? 0 : units;
}

/** Compare two amounts exactly: negative, zero or positive like a sort comparator. */
export function compareMoney(a: Money, b: Money): number {
  const range = { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
  return Math.sign(moneyToUnits(a, range) - moneyToUnits(b, range));
}

/** Wh (or varh) → kWh as an exact decimal string, e.g. 1776 → '1.776'. */
export function whToKwh(wh: number): string {
  if (!Number.isSafeInteger(wh)) throw new EmopValueError(`Wh must be an integer, got ${wh}`);
  const digits = Math.abs(wh).toString().padStart(4, '0');
  return `${wh < 0 ? '-' : ''}${digits.slice(0, -3)}.${digits.slice(-3)}`;
}

/** A reading of the meter's clock: wall-clock fields, no zone. Month 1-12. */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The meter's clock runs in Europe/London when its daylight-savings-correction flag is set, else UTC. */
export type MeterTimeZone = 'UTC' | 'Europe/London';

export function meterTimeZone(daylightSavings: boolean): MeterTimeZone {
  return daylightSavings ? 'Europe/London' : 'UTC';
}

const EMOP_EPOCH_MS = Date.UTC(2000, 0, 1);
const U32_MAX = 0xffffffff;

export function emopSecondsToWallClock(seconds: number): WallClock {
  return utcFields(new Date(EMOP_EPOCH_MS + seconds * 1000));
}

export function wallClockToEmopSeconds(wall: WallClock): number {
  const seconds = (naiveUtcMs(wall) - EMOP_EPOCH_MS) / 1000;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > U32_MAX) {
    throw new EmopValueError(`${formatWallClock(wall)} is outside the EMOP epoch range`);
  }
  return seconds;
}

/** 0 = Sunday … 6 = Saturday (the spec's reading of the DOW byte). */
export function dayOfWeek(wall: WallClock): number {
  return new Date(naiveUtcMs(wall)).getUTCDay();
}

export function instantToWallClock(instant: Date, zone: MeterTimeZone): WallClock {
  return utcFields(new Date(instant.getTime() + offsetMs(instant.getTime(), zone)));
}

/**
 * The instant a wall-clock reading denotes. In Europe/London an hour repeated in autumn resolves to its
 * first (BST) occurrence; a time skipped in spring is read as GMT.
 */
export function wallClockToInstant(wall: WallClock, zone: MeterTimeZone): Date {
  const naive = naiveUtcMs(wall);
  if (zone === 'UTC') return new Date(naive);
  for (const candidateOffset of [HOUR_MS, 0]) {
    const instant = naive - candidateOffset;
    if (offsetMs(instant, zone) === candidateOffset) return new Date(instant);
  }
  return new Date(naive);
}

export function emopSecondsToInstant(seconds: number, zone: MeterTimeZone): Date {
  return wallClockToInstant(emopSecondsToWallClock(seconds), zone);
}

export function instantToEmopSeconds(instant: Date, zone: MeterTimeZone): number {
  return wallClockToEmopSeconds(instantToWallClock(instant, zone));
}

function formatWallClock(wall: WallClock): string {
  const pad = (n: number, width = 2) => n.toString().padStart(width, '0');
  return `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)}T${pad(wall.hour)}:${pad(wall.minute)}:${pad(wall.second)}`;
}

const HOUR_MS = 3_600_000;
const londonFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/London',
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
});

function offsetMs(instantMs: number, zone: MeterTimeZone): number {
  if (zone === 'UTC') return 0;
  const parts = Object.fromEntries(londonFormat.formatToParts(instantMs).map((p) => [p.type, Number(p.value)]));
  const wallMs = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wallMs - (instantMs - (((instantMs % 1000) + 1000) % 1000));
}

function naiveUtcMs(wall: WallClock): number {
  const ms = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  const back = utcFields(new Date(ms));
  if (Number.isNaN(ms) || formatWallClock(back) !== formatWallClock(wall)) {
    throw new EmopValueError(`not a valid date and time: ${formatWallClock(wall)}`);
  }
  return ms;
}

function utcFields(date: Date): WallClock {
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
  };
}
