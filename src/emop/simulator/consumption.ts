// Deterministic cumulative registers: for a seed and an average per half-hour, the value at any instant is
// computed directly (no stored history), never decreases, and varies from one half-hour to the next.
import { PROFILE_INTERVAL_SECONDS } from '../profile-log.ts';

const HALF_HOUR_MS = PROFILE_INTERVAL_SECONDS * 1000;
const U32 = 2 ** 32;

/** A 32-bit mix of seed and slot (splitmix-style), uniform enough for load shapes. */
function mix(seed: number, slot: number): number {
  let h = (seed ^ Math.imul(slot, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Value at the start of half-hour `slot`: slot × average plus a jitter below the average, so increments lie in [0, 2 × average). */
function atSlot(seed: number, averageWh: number, slot: number): number {
  return slot * averageWh + (averageWh > 0 ? mix(seed, slot) % averageWh : 0);
}

/** Cumulative Wh at `instantMs`, wrapping at 2^32 like the meter's u32 registers. */
export function cumulativeWh(seed: number, averageWh: number, instantMs: number): number {
  const slot = Math.floor(instantMs / HALF_HOUR_MS);
  const start = atSlot(seed, averageWh, slot);
  const next = atSlot(seed, averageWh, slot + 1);
  const fraction = (instantMs - slot * HALF_HOUR_MS) / HALF_HOUR_MS;
  return (start + Math.floor((next - start) * fraction)) % U32;
}

/** A stable 32-bit seed from text (e.g. a serial). */
export function seedFrom(text: string): number {
  return [...text].reduce((h, c) => mix(h, c.charCodeAt(0)), 0x811c9dc5);
}
