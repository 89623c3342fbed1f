// Settings of the meter jobs: the client's timings, the fan-out's concurrency cap, the clock-correction
// threshold, the backfill window. They come from the `emop` section of src/config.ts (FLOWS_EMOP_*,
// FLOWS_METER_SYNC_CONCURRENCY…); a job's payload may override them (tests set milliseconds).
import { z } from 'zod';
import { loadConfig, type EmopConfig } from '../../config.ts';
import type { EmopLogger as Logger } from '../log.ts';
import { EmopClient } from '../client.ts';
import type { MeterLock } from '../meter-queue.ts';

export const emopSettingsSchema = z
  .object({
    min_request_gap_ms: z.number().int().min(0).max(60_000).optional(),
    connect_timeout_ms: z.number().int().min(1).max(120_000).optional(),
    read_timeout_ms: z.number().int().min(1).max(120_000).optional(),
    attempts: z.number().int().min(1).max(10).optional(),
    initial_backoff_ms: z.number().int().min(0).max(60_000).optional(),
    max_backoff_ms: z.number().int().min(0).max(300_000).optional(),
  })
  .strict();

export type EmopSettings = z.infer<typeof emopSettingsSchema>;

let configured: EmopConfig | undefined;
/** The configured settings (spec §1 defaults: 2 s between requests, 10 s timeouts, 5 attempts 2 s doubling to 16 s). */
export function emopConfig(): EmopConfig {
  configured ??= loadConfig(['emop']).emop;
  return configured;
}

export function gapOf(settings: EmopSettings | undefined): number {
  return settings?.min_request_gap_ms ?? emopConfig().minRequestGapMs;
}

export function clientFor(settings: EmopSettings | undefined, withMeterLock: MeterLock, logger: Logger): EmopClient {
  const s = settings ?? {};
  const c = emopConfig();
  return new EmopClient({
    withMeterLock,
    logger,
    minRequestGapMs: gapOf(s),
    connectTimeoutMs: s.connect_timeout_ms ?? c.connectTimeoutMs,
    readTimeoutMs: s.read_timeout_ms ?? c.readTimeoutMs,
    retry: {
      attempts: s.attempts ?? c.attempts,
      initialDelayMs: s.initial_backoff_ms ?? c.initialBackoffMs,
      maxDelayMs: s.max_backoff_ms ?? c.maxBackoffMs,
    },
  });
}

export const FREQUENCIES = ['hourly', '12hourly', 'daily'] as const;
export type Frequency = (typeof FREQUENCIES)[number];

/** The queue of the i-th meter job: at most `concurrency` queues, each running its jobs one at a time. */
export function meterQueueName(index: number, concurrency: number): string {
  return `meters_${index % concurrency}`;
}

/** A stable queue for a meter id (jobs planned one meter at a time). */
export function meterQueueFor(meterId: string, concurrency: number): string {
  let h = 0;
  for (const c of meterId) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  return meterQueueName(h, concurrency);
}
