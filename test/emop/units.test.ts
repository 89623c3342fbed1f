import { describe, expect, it } from 'vitest';
import { EmopValueError } from '../../src/emop/errors.ts';
import {
  compareMoney,
  dayOfWeek,
  emopSecondsToInstant,
  emopSecondsToWallClock,
  instantToEmopSeconds,
  instantToWallClock,
  moneyFromUnits,
  moneyToUnits,
  wallClockToEmopSeconds,
  wallClockToInstant,
  whToKwh,
} from '../../src/emop/units.ts';

const U32 = { min: 0, max: 0xffffffff };

describe('money', () => {
  it('converts meter units to five-decimal strings and back without floats', () => {
    expect(moneyFromUnits(7650)).toBe('0.07650');
    expect(moneyFromUnits(300000)).toBe('3.00000');
    expect(moneyFromUnits(-33326400)).toBe('-333.26400');
    expect(moneyFromUnits(-5)).toBe('-0.00005');
    expect(moneyFromUnits(0xffffffff)).toBe('42949.67295');
    expect(moneyToUnits('0.0765', U32)).toBe(7650);
    expect(moneyToUnits('0.29', U32)).toBe(29000); // 0.29 * 100000 = 28999.999999999996 in floats
    expect(moneyToUnits('42949.67295', U32)).toBe(0xffffffff);
    expect(moneyToUnits('-0', { min: -1, max: 1 })).toBe(0);
  });

  it('rejects malformed, over-precise and out-of-range amounts', () => {
    for (const bad of ['', '.5', '1.', '1.234567', '1e3', ' 1', '£1', '42949.67296', '-0.00001']) {
      expect(() => moneyToUnits(bad, U32), bad).toThrow(EmopValueError);
    }
  });

  it('compares amounts exactly', () => {
    expect(compareMoney('9.99999', '10')).toBe(-1);
    expect(compareMoney('10.00000', '10')).toBe(0);
    expect(compareMoney('-1', '-2')).toBe(1);
  });
});

describe('energy', () => {
  it('renders Wh as exact kWh', () => {
    expect(whToKwh(1776)).toBe('1.776');
    expect(whToKwh(5)).toBe('0.005');
    expect(whToKwh(12345678)).toBe('12345.678');
  });
});

describe('EMOP-epoch time', () => {
  it('counts seconds from 2000-01-01 00:00 of the meter clock', () => {
    const wall = { year: 2024, month: 2, day: 29, hour: 12, minute: 34, second: 56 };
    expect(wallClockToEmopSeconds(wall)).toBe(0x2d733670);
    expect(emopSecondsToWallClock(784598400)).toEqual({
      year: 2024,
      month: 11,
      day: 11,
      hour: 0,
      minute: 0,
      second: 0,
    });
    expect(emopSecondsToWallClock(0)).toEqual({ year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0 });
    expect(() => wallClockToEmopSeconds({ ...wall, day: 30 })).toThrow(EmopValueError);
  });

  it('numbers days of week from Sunday = 0', () => {
    expect(dayOfWeek({ year: 2023, month: 8, day: 6, hour: 21, minute: 0, second: 1 })).toBe(0);
    expect(dayOfWeek({ year: 2024, month: 2, day: 29, hour: 0, minute: 0, second: 0 })).toBe(4);
  });

  it('reads the clock as UTC, or as Europe/London when the DST flag is set', () => {
    const summer = new Date('2024-07-01T11:00:00Z');
    expect(instantToWallClock(summer, 'UTC').hour).toBe(11);
    expect(instantToWallClock(summer, 'Europe/London').hour).toBe(12);
    expect(instantToWallClock(new Date('2024-01-15T11:00:00Z'), 'Europe/London').hour).toBe(11);
    const seconds = instantToEmopSeconds(summer, 'Europe/London');
    expect(emopSecondsToInstant(seconds, 'Europe/London')).toEqual(summer);
    expect(emopSecondsToInstant(seconds, 'UTC')).toEqual(new Date('2024-07-01T12:00:00Z'));
  });

  it('resolves the repeated autumn hour to BST and the skipped spring hour as GMT', () => {
    const autumn = { year: 2024, month: 10, day: 27, hour: 1, minute: 30, second: 0 };
    expect(wallClockToInstant(autumn, 'Europe/London')).toEqual(new Date('2024-10-27T00:30:00Z'));
    const spring = { year: 2024, month: 3, day: 31, hour: 1, minute: 30, second: 0 };
    expect(wallClockToInstant(spring, 'Europe/London')).toEqual(new Date('2024-03-31T01:30:00Z'));
    expect(instantToWallClock(new Date('2024-10-27T01:30:00Z'), 'Europe/London')).toMatchObject({
      hour: 1,
      minute: 30,
    });
  });
});
