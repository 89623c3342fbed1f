// One client connection: its identity (the JWT's claims), its subscriptions, the changed keys
// waiting to be re-read, and the rules that keep it bounded — disconnected when its token expires,
// when it falls behind (too many keys pending or too many bytes unsent), or when a re-read fails.
import type { RealtimeConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Deps } from '../rest/context.ts';
import { ApiError, jwtError } from '../rest/errors.ts';
import type { AuthResult } from '../rest/jwt.ts';
import type { Change } from './changes.ts';
import { badMessage, slowClient } from './errors.ts';
import { keysFilter, readRows, subscribe, type SubscribeRequest, type Subscription } from './subscription.ts';
import type { Transport } from './transport.ts';
import { closeCodes } from './ws-frames.ts';

/** Keys re-read in one transaction at most. */
const batchSize = 500;
/** Subscriptions one connection may hold. */
export const maxSubscriptions = 100;
/** setTimeout's largest delay; later expiries re-arm the timer. */
const maxTimerMs = 2 ** 31 - 1;

interface Pending {
  table: string;
  op: Change['op'];
  columns: string[];
  key: string[];
}

export interface SessionContext {
  deps: Deps;
  config: RealtimeConfig;
  logger: Logger;
  /** Counts a client dropped for back-pressure. */
  onDropped: () => void;
}

export class Session {
  private auth: AuthResult | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  /** Per subscription id: pending keys by `table + key`, in arrival order (an earlier op wins). */
  private readonly pending = new Map<string, Map<string, Pending>>();
  private pendingCount = 0;
  private draining = false;
  private closed = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly heartbeatTimer: NodeJS.Timeout;

  constructor(
    private readonly ctx: SessionContext,
    private readonly transport: Transport,
  ) {
    this.heartbeatTimer = setInterval(() => {
      if (!transport.heartbeat()) this.close(closeCodes.goingAway);
    }, ctx.config.heartbeatMs);
    transport.onClosed(() => this.ended());
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** Sets the identity, or refreshes its token: once subscribed, only with the same role and subject. */
  identify(auth: AuthResult): void {
    const current = this.auth;
    if (
      current &&
      this.subscriptions.size > 0 &&
      (current.role !== auth.role || current.claims.sub !== auth.claims.sub)
    ) {
      throw badMessage('A new token must have the role and subject of the subscriptions it renews');
    }
    this.auth = auth;
    this.armExpiry();
  }

  get identified(): boolean {
    return this.auth !== undefined;
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const exp = this.auth?.claims.exp;
    if (typeof exp !== 'number' || this.closed) return;
    const delay = exp * 1000 - Date.now();
    this.expiryTimer = setTimeout(
      () =>
        delay > maxTimerMs
          ? this.armExpiry()
          : this.close(closeCodes.unauthorized, jwtError('PGRST303', 'JWT expired')),
      Math.max(0, Math.min(delay, maxTimerMs)),
    );
  }

  async subscribe(request: SubscribeRequest): Promise<Subscription> {
    if (this.auth === undefined) throw new Error('session without identity');
    if (this.subscriptions.has(request.id)) throw badMessage(`Subscription '${request.id}' exists`);
    if (this.subscriptions.size >= maxSubscriptions) {
      throw badMessage(`At most ${maxSubscriptions} subscriptions per connection`);
    }
    const subscription = await subscribe(this.ctx.deps, this.auth, request);
    this.adopt(subscription);
    return subscription;
  }

  /** Starts delivering changes for a subscription checked for this session's identity. */
  adopt(subscription: Subscription): void {
    if (!this.closed) this.subscriptions.set(subscription.id, subscription);
  }

  unsubscribe(id: string): boolean {
    const pending = this.pending.get(id);
    this.pendingCount -= pending?.size ?? 0;
    this.pending.delete(id);
    return this.subscriptions.delete(id);
  }

  /** A change from the feed: queues its keys for each subscription it feeds. */
  offer(change: Change): void {
    if (this.closed) return;
    const table = `${change.schema}.${change.table}`;
    for (const subscription of this.subscriptions.values()) {
      const columnMap = subscription.sources.get(table);
      if (columnMap === undefined) continue;
      const columns = change.columns.map((c) => columnMap.get(c));
      if (columns.some((c) => c === undefined)) continue;
      let queue = this.pending.get(subscription.id);
      if (queue === undefined) {
        queue = new Map();
        this.pending.set(subscription.id, queue);
      }
      for (const key of change.keys) {
        const id = `${table}\u0000${JSON.stringify(key)}`;
        if (queue.has(id)) continue;
        queue.set(id, { table, op: change.op, columns: columns as string[], key });
        this.pendingCount += 1;
      }
    }
    if (this.pendingCount > this.ctx.config.maxPending) {
      this.drop(`more than ${this.ctx.config.maxPending} changed rows waiting to be re-read`);
      return;
    }
    void this.drain();
  }

  /** The next keys to re-read: one subscription, one table and operation, at most batchSize. */
  private takeBatch():
    { subscription: Subscription; op: Change['op']; columns: string[]; keys: string[][] } | undefined {
    for (const [id, queue] of this.pending) {
      const subscription = this.subscriptions.get(id);
      const first = queue.values().next().value;
      if (subscription === undefined || first === undefined) {
        this.pending.delete(id);
        continue;
      }
      const keys: string[][] = [];
      for (const [pendingId, entry] of queue) {
        if (keys.length >= batchSize) break;
        if (entry.table !== first.table || entry.op !== first.op) continue;
        keys.push(entry.key);
        queue.delete(pendingId);
        this.pendingCount -= 1;
      }
      if (queue.size === 0) this.pending.delete(id);
      return { subscription, op: first.op, columns: first.columns, keys };
    }
    return undefined;
  }

  /** Re-reads pending keys as the subscriber, one batch at a time, and sends what they may see. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let batch = this.takeBatch(); batch !== undefined && !this.closed; batch = this.takeBatch()) {
        const { subscription, op, columns, keys } = batch;
        const rows = await readRows(this.ctx.deps, this.auth!, subscription, keysFilter(columns, keys));
        if (this.closed || !this.subscriptions.has(subscription.id) || rows === '[]') continue;
        // Slow: what was sent before has not left yet. (One large change to a fast client is fine:
        // memory per client stays below the limit plus one change.)
        const buffered = this.transport.buffered();
        if (buffered > this.ctx.config.maxBufferedBytes) {
          this.drop(`${buffered} bytes unsent (limit ${this.ctx.config.maxBufferedBytes})`);
          return;
        }
        this.transport.send(
          'change',
          `{"type":"change","id":${JSON.stringify(subscription.id)},"table":${JSON.stringify(subscription.label)},"op":"${op}","rows":${rows}}`,
        );
      }
    } catch (error) {
      if (error instanceof ApiError) {
        // The token was refused by the database (pre-request, a revoked key) or the database is away.
        const unauthorized = error.status === 401 || error.status === 403;
        this.close(unauthorized ? closeCodes.unauthorized : closeCodes.unavailable, error);
      } else {
        this.ctx.logger.error({ err: error }, 'realtime re-read failed');
        this.close(closeCodes.unavailable, new ApiError(503, 'PGRST001', 'Database client error'));
      }
    } finally {
      this.draining = false;
    }
  }

  private drop(reason: string): void {
    this.ctx.logger.warn({ reason, subscriptions: this.subscriptions.size }, 'slow realtime client dropped');
    this.ctx.onDropped();
    this.close(closeCodes.slowClient, slowClient(reason));
  }

  /** Closes the connection (with a last error event when given) and forgets everything. */
  close(code: number, error?: ApiError): void {
    if (this.closed) return;
    this.transport.close(code, error);
    this.ended();
  }

  private ended(): void {
    this.closed = true;
    clearTimeout(this.expiryTimer);
    clearInterval(this.heartbeatTimer);
    this.subscriptions.clear();
    this.pending.clear();
    this.pendingCount = 0;
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
