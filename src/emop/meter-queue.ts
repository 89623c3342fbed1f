// Per-meter discipline inside one process: never two requests to a meter at once (a FIFO queue per meter
// key) and a minimum gap between the end of one request and the start of the next. Both are process-wide,
// shared by every client instance. The cross-process guarantee is a `MeterLock` hook run inside the queue
// (e.g. a PostgreSQL advisory lock).
import { abortable, delay } from './abort.ts';

/** Runs `fn` while holding the meter exclusively across processes; should give up waiting when `signal` aborts. */
export type MeterLock = <T>(meterKey: string, fn: () => Promise<T>, signal?: AbortSignal) => Promise<T>;

/** The default hook: nothing beyond the in-process queue. */
export const inProcessOnly: MeterLock = (_meterKey, fn) => fn();

class MeterQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` after every earlier `run` for the same key has settled. Aborting while queued skips `fn`. */
  async run<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    try {
      await abortable(previous, signal);
      return await fn();
    } finally {
      release();
      void tail.then(() => {
        if (this.tails.get(key) === tail) this.tails.delete(key);
      });
    }
  }
}

/** The queue every client in this process shares. */
export const processMeterQueue = new MeterQueue();

/** When the last request to each meter ended (performance.now), shared by every client in this process. */
const lastEnded = new Map<string, number>();

/** Keeps at least `gapMs` between the end of one request to a meter and the start of the next. */
export class RequestSpacing {
  constructor(private readonly gapMs: number) {}

  async waitTurn(key: string, signal?: AbortSignal): Promise<void> {
    const last = lastEnded.get(key);
    if (last === undefined) return;
    // Timers may fire a fraction of a millisecond early: wait until the gap has really passed.
    for (let remaining = last + this.gapMs - performance.now(); remaining > 0;) {
      await delay(Math.ceil(remaining), signal);
      remaining = last + this.gapMs - performance.now();
    }
  }

  ended(key: string): void {
    lastEnded.set(key, performance.now());
  }
}
