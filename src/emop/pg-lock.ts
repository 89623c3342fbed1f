// The cross-process half of "never two requests to one meter at once": a PostgreSQL session advisory lock per
// meter key, given to EmopClient as its `withMeterLock` hook. Every process that talks to meters (worker, CLI)
// takes it, so they queue behind each other. The lock is kept `holdAfterMs` (the minimum gap) after the last
// request, so the next process's first request also keeps the gap; that wait runs in the background and
// `drain()` awaits it.
import type pg from 'pg';
import { abortedError, throwIfAborted } from './abort.ts';
import type { MeterLock } from './meter-queue.ts';

/** First key of the two-int advisory lock: 'EM' — the second is hashtext(meter key). */
export const METER_LOCK_NAMESPACE = 0x454d;

/** Runs `fn` on one database connection held for its duration (pool.connect…release, helpers.withPgClient). */
export type WithConnection = <T>(fn: (client: pg.ClientBase) => Promise<T>) => Promise<T>;

export interface AdvisoryMeterLock {
  withMeterLock: MeterLock;
  /** Waits for locks still held for the gap to be released. */
  drain(): Promise<void>;
}

const QUERY_CANCELED = '57014';

export function advisoryMeterLock(
  withConnection: WithConnection,
  options: { holdAfterMs?: number } = {},
): AdvisoryMeterLock {
  const holdAfterMs = options.holdAfterMs ?? 0;
  const holding = new Set<Promise<void>>();

  const withMeterLock: MeterLock = <T>(key: string, fn: () => Promise<T>, signal?: AbortSignal) => {
    throwIfAborted(signal);
    let settle!: { resolve: (value: T) => void; reject: (error: unknown) => void };
    const result = new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
    const held = withConnection(async (client) => {
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      throwIfAborted(signal);
      const locking = client.query('select pg_advisory_lock($1, hashtext($2))', [METER_LOCK_NAMESPACE, key]);
      let waiting = true;
      const settled = locking.then(
        () => undefined,
        () => undefined,
      );
      // Aborting while waiting cancels the lock query from another connection; a cancel that arrives before
      // the query has started is repeated until the query ends.
      let cancelling: Promise<void> = Promise.resolve();
      const onAbort = () => {
        cancelling = (async () => {
          while (waiting) {
            await withConnection((other) => other.query('select pg_cancel_backend($1)', [pid]));
            await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 20).unref())]);
          }
        })().catch(() => undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await locking;
      } catch (error) {
        if (signal?.aborted && (error as { code?: string }).code === QUERY_CANCELED) throw abortedError(signal);
        throw error;
      } finally {
        waiting = false;
        signal?.removeEventListener('abort', onAbort);
        // No cancel may still be on its way when the connection runs its next query.
        await cancelling;
      }
      if (signal?.aborted) {
        await client.query('select pg_advisory_unlock($1, hashtext($2))', [METER_LOCK_NAMESPACE, key]);
        throw abortedError(signal);
      }
      try {
        settle.resolve(await fn());
      } catch (error) {
        settle.reject(error);
      }
      try {
        if (holdAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, holdAfterMs));
      } finally {
        await client.query('select pg_advisory_unlock($1, hashtext($2))', [METER_LOCK_NAMESPACE, key]);
      }
    });
    const tracked = held.catch((error: unknown) => settle.reject(error));
    holding.add(tracked);
    void tracked.finally(() => holding.delete(tracked));
    return result;
  };

  return {
    withMeterLock,
    async drain() {
      while (holding.size > 0) await Promise.all([...holding]);
    },
  };
}
