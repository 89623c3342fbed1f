// Holds the schema cache and reloads it on `NOTIFY <channel>` ('reload schema', 'reload config' or
// empty) through a LISTEN connection that reconnects with backoff and reloads on reconnect.
import pg from 'pg';
import type { RestConfig } from '../config.ts';
import { quoteIdent } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { pgrstError } from './errors.ts';
import { loadSchemaCache } from './schema-cache.ts';
import type { SchemaCache } from './schema-types.ts';

export class MissingSchemaError extends Error {
  constructor(readonly schemas: string[]) {
    super(`configured schema(s) do not exist: ${schemas.join(', ')}`);
    this.name = 'MissingSchemaError';
  }
}

export class SchemaCacheHolder {
  private cache: SchemaCache | undefined;
  private loading: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: RestConfig,
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    /** Told of each load: its outcome and, when it succeeded, how long its queries took (the metrics). */
    private readonly onLoad: (status: 'SUCCESS' | 'FAIL', querySeconds?: number) => void = () => undefined,
  ) {}

  /** The loaded cache; 503 PGRST002 until the first load succeeds. */
  current(): SchemaCache {
    if (this.cache === undefined) {
      throw pgrstError('PGRST002', 'Could not query the database for the schema cache. Retrying.', null, null, [
        ['Retry-After', '0'],
      ]);
    }
    return this.cache;
  }

  /** Resolves once a reload in progress has finished (requests wait for it, as in PostgREST). */
  async settled(): Promise<void> {
    await this.loading?.catch(() => undefined);
  }

  /** Loads the cache now (concurrent calls share one load). */
  reload(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    try {
      const client = await this.pool.connect();
      try {
        const { rows } = await client.query<{ nspname: string }>(
          'select nspname from pg_namespace where nspname = any($1)',
          [this.config.dbSchemas],
        );
        const missing = this.config.dbSchemas.filter((s) => !rows.some((r) => r.nspname === s));
        if (missing.length > 0) throw new MissingSchemaError(missing);
        const start = process.hrtime.bigint();
        this.cache = await loadSchemaCache(client, this.config.dbSchemas);
        this.onLoad('SUCCESS', Number(process.hrtime.bigint() - start) / 1e9);
        this.logger.info({ tables: this.cache.tables.size, routines: this.cache.routines.size }, 'schema cache loaded');
      } finally {
        client.release();
      }
    } catch (error) {
      this.onLoad('FAIL');
      throw error;
    }
  }

  /** Loads in the background until it succeeds (database down at start-up or after a drop). */
  private retryLater(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.reload().then(
        () => this.listen(),
        (error: unknown) => {
          this.logger.warn({ err: error }, 'schema cache load failed, retrying');
          this.retryLater(Math.min(delayMs * 2, 32_000));
        },
      );
    }, delayMs);
  }

  /** First load: a missing schema is fatal, an unreachable database is retried. */
  async start(): Promise<void> {
    try {
      await this.reload();
    } catch (error) {
      if (error instanceof MissingSchemaError) throw error;
      this.logger.warn({ err: error }, 'schema cache load failed, retrying');
      this.retryLater(1000);
      return;
    }
    await this.listen();
  }

  private async listen(): Promise<void> {
    if (!this.config.dbChannelEnabled || this.stopped || this.listener) return;
    const client = new pg.Client({ connectionString: this.config.dbUri });
    this.listener = client;
    const reconnect = () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => undefined);
      this.retryLater(1000);
    };
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'schema listener connection lost');
      reconnect();
    });
    client.on('end', reconnect);
    client.on('notification', (message) => {
      const payload = message.payload ?? '';
      if (!['', 'reload schema', 'reload config'].includes(payload)) return;
      this.reload().catch((error: unknown) => this.logger.error({ err: error }, 'schema cache reload failed'));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.config.dbChannel)}`);
    } catch (error) {
      this.logger.warn({ err: error }, 'schema listener could not connect');
      reconnect();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.loading?.catch(() => undefined);
  }
}
