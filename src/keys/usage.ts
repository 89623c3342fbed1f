// Records when service keys were last used. internal.service_key_check() (run by the REST layer's
// pre-request function, often inside a READ ONLY transaction where no row can be written) sends
// NOTIFY flows_api_key_used with the key id at most about once a minute per key; this listener, run by the
// worker process, collects the ids and writes last_used_at in one statement per flush. The LISTEN
// connection reconnects with backoff; ids not yet written are kept across a reconnect.
import pg from 'pg';
import type { Logger } from '../log.ts';
import { keyIdPattern } from './registry.ts';

export const keyUsageChannel = 'flows_api_key_used';

export interface KeyUsageOptions {
  /** How often collected ids are written (ms). */
  flushMs: number;
  /** First reconnect delay (ms); doubles up to 30 s. */
  retryMs: number;
  /** Called after each write with the number of keys updated (tests await it). */
  onRecorded?: (count: number) => void;
}

export interface KeyUsageRecorder {
  stop(): Promise<void>;
}

const defaults: KeyUsageOptions = { flushMs: 1000, retryMs: 1000 };

export function startKeyUsageRecorder(
  url: string,
  log: Logger,
  options: Partial<KeyUsageOptions> = {},
): KeyUsageRecorder {
  const { flushMs, retryMs, onRecorded } = { ...defaults, ...options };
  const pending = new Set<string>();
  let client: pg.Client | undefined;
  let stopped = false;
  let retryDelay = retryMs;
  let retryTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;

  const flush = async (): Promise<void> => {
    const current = client;
    if (pending.size === 0 || current === undefined) return;
    const ids = [...pending];
    pending.clear();
    try {
      const { rows } = await current.query<{ n: number }>(`select internal.api_keys_mark_used($1::uuid[]) as n`, [ids]);
      onRecorded?.(rows[0]?.n ?? 0);
    } catch (error) {
      for (const id of ids) pending.add(id);
      log.warn({ err: error }, 'recording service key use failed');
    }
  };
  const timer = setInterval(() => {
    flushing ??= flush().finally(() => {
      flushing = undefined;
    });
  }, flushMs);

  const reconnectLater = () => {
    if (stopped) return;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30_000);
  };

  function connect(): void {
    const next = new pg.Client({ connectionString: url });
    const lost = () => {
      if (client !== next) return;
      client = undefined;
      next.end().catch(() => undefined);
      reconnectLater();
    };
    next.on('error', (error) => {
      log.warn({ err: error }, 'service key usage listener connection lost');
      lost();
    });
    next.on('end', lost);
    next.on('notification', (message) => {
      // Any session may NOTIFY: take only key ids, so that one bad payload cannot block the batch.
      if (message.channel === keyUsageChannel && keyIdPattern.test(message.payload ?? ''))
        pending.add(message.payload!);
    });
    client = next;
    next
      .connect()
      .then(() => next.query(`LISTEN ${keyUsageChannel}`))
      .then(() => {
        retryDelay = retryMs;
      })
      .catch((error: unknown) => {
        log.warn({ err: error }, 'service key usage listener could not connect');
        lost();
      });
  }

  connect();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(retryTimer);
      await flushing;
      await flush();
      const last = client;
      client = undefined;
      await last?.end().catch(() => undefined);
    },
  };
}
