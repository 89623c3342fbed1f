// AbortSignal helpers that reject with EmopAbortedError (the signal's reason as its cause).
import { EmopAbortedError } from './errors.ts';

export function abortedError(signal: AbortSignal): EmopAbortedError {
  return new EmopAbortedError('EMOP request aborted', { cause: signal.reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal);
}

/** Settles like `promise`, or rejects with EmopAbortedError as soon as the signal aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Waits `ms` (nothing when ≤ 0), or rejects with EmopAbortedError when the signal aborts first. */
export async function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  throwIfAborted(signal);
  if (ms <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await abortable(new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), signal);
  } finally {
    clearTimeout(timer);
  }
}
