// The change feed: one LISTEN connection (as the authenticator) on the channel the realtime trigger
// notifies (sql/640_realtime.sql). Payloads carry keys only. When the connection is lost, changes
// may have been missed, so `onLost` lets the server disconnect its clients (they reconnect and read
// the current state); the listener reconnects with doubling backoff.
import pg from 'pg';
import { z } from 'zod';
import type { Logger } from '../log.ts';

export const changeChannel = 'flows_realtime';

const changeSchema = z.object({
  schema: z.string(),
  table: z.string(),
  op: z.enum(['INSERT', 'UPDATE']),
  columns: z.array(z.string()).min(1),
  keys: z.array(z.array(z.string())),
});
export type Change = z.infer<typeof changeSchema>;

export interface ChangeListenerOptions {
  dbUri: string;
  logger: Logger;
  onChange: (change: Change) => void;
  onLost: () => void;
  /** First reconnection delay; doubles up to 32 s. */
  retryMs?: number;
}

export class ChangeListener {
  private client: pg.Client | undefined;
  private connected = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ChangeListenerOptions) {}

  /** True while LISTEN is in place (readiness). */
  get listening(): boolean {
    return this.connected;
  }

  /** Connects now; on failure keeps retrying in the background (and is not ready meanwhile). */
  async start(): Promise<void> {
    await this.connect(this.options.retryMs ?? 1000);
  }

  private async connect(delayMs: number): Promise<void> {
    if (this.stopped) return;
    const { logger } = this.options;
    const client = new pg.Client({ connectionString: this.options.dbUri });
    this.client = client;
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost || this.client !== client) return;
      lost = true;
      const wasConnected = this.connected;
      this.connected = false;
      this.client = undefined;
      client.end().catch(() => undefined);
      if (this.stopped) return;
      logger.warn({ err: error }, 'change listener connection lost');
      if (wasConnected) this.options.onLost();
      this.retryTimer = setTimeout(() => void this.connect(Math.min(delayMs * 2, 32_000)), delayMs);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (message.channel !== changeChannel) return;
      let change: Change;
      try {
        change = changeSchema.parse(JSON.parse(message.payload ?? ''));
      } catch (error) {
        logger.error({ err: error }, 'unreadable change notification');
        return;
      }
      this.options.onChange(change);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${changeChannel}`);
      if (this.client === client) {
        this.connected = true;
        logger.info({ channel: changeChannel }, 'listening for changes');
      }
    } catch (error) {
      onLost(error as Error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    this.connected = false;
    await client?.end().catch(() => undefined);
  }
}
