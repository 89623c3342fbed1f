// Which failures are worth another attempt, and how long to wait before it.
import { EmopDecodeError, EmopNakError, EmopTransportError } from './errors.ts';

export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  initialDelayMs: number;
  multiplier: number;
  maxDelayMs: number;
}

/** NAK 1: the meter saw a corrupted frame and did nothing, so resending is always safe. */
const NAK_CRC_ERROR = 1;

/**
 * Transport failures and garbled responses are retried. A request that is not idempotent (a top-up token) is
 * retried only when it cannot have reached the meter: a failed connect or a NAK for a corrupted frame.
 */
export function isRetryable(error: unknown, idempotent: boolean): boolean {
  if (error instanceof EmopNakError) return error.code === NAK_CRC_ERROR;
  if (error instanceof EmopTransportError) return idempotent || !error.requestSent;
  if (error instanceof EmopDecodeError) return idempotent;
  return false;
}

/** Delay after failed attempt `attempt` (1-based): initial × multiplier^(attempt−1), capped. */
export function backoffMs(options: RetryOptions, attempt: number): number {
  return Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** (attempt - 1));
}
