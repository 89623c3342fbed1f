// Query helpers named by cardinality, a transaction helper, identifier quoting. Raw, parameterised
// SQL only: values are always parameters, identifiers go through quoteIdent.
import pg from 'pg';

export type Queryable = Pick<pg.ClientBase, 'query'>;

export class QueryCardinalityError extends Error {
  constructor(
    readonly expected: string,
    readonly rowCount: number,
  ) {
    super(`expected ${expected} row(s), got ${rowCount}`);
    this.name = 'QueryCardinalityError';
  }
}

/** Exactly one row, or QueryCardinalityError. */
export async function one<T extends pg.QueryResultRow>(
  db: Queryable,
  text: string,
  values: unknown[] = [],
): Promise<T> {
  const { rows } = await db.query<T>(text, values);
  if (rows.length !== 1) throw new QueryCardinalityError('exactly 1', rows.length);
  return rows[0]!;
}

/** Zero or one row. */
export async function maybeOne<T extends pg.QueryResultRow>(
  db: Queryable,
  text: string,
  values: unknown[] = [],
): Promise<T | undefined> {
  const { rows } = await db.query<T>(text, values);
  if (rows.length > 1) throw new QueryCardinalityError('at most 1', rows.length);
  return rows[0];
}

/** Any number of rows. */
export async function many<T extends pg.QueryResultRow>(
  db: Queryable,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const { rows } = await db.query<T>(text, values);
  return rows;
}

/** Runs `fn` inside BEGIN … COMMIT on one connection; any error rolls back and is rethrown. */
export async function withTransaction<T>(
  pool: pg.Pool | pg.Client,
  fn: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  const client = pool instanceof pg.Pool ? await pool.connect() : pool;
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    if (pool instanceof pg.Pool) (client as pg.PoolClient).release();
  }
}

/** Opens one client, runs `fn`, always closes it. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Quotes an SQL identifier (the one place that does). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes an SQL string literal, for the few statements that take no parameters (DDL). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The same server as `url`, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** The same server and database as `url`, logging in as another role. */
export function withLogin(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** The database named in a connection URL (`postgres` when it names none). */
export function databaseOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  return name === '' ? 'postgres' : name;
}
