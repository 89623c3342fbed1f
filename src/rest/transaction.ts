// The per-request transaction (contract §2.2–2.5): BEGIN with isolation and access mode, one
// settings SELECT, the pre-request function, the main query, checks, then COMMIT or ROLLBACK.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { quoteIdent } from '../db/client.ts';
import { ApiError, fromDatabaseError, isDatabaseError, pgrstError } from './errors.ts';
import type { MainRow } from './sql/main-query.ts';

export interface Statement {
  text: string;
  values: unknown[];
}

export const isolationLevels = ['read committed', 'repeatable read', 'serializable'] as const;
export type IsolationLevel = (typeof isolationLevels)[number];

export interface TransactionPlan {
  readOnly: boolean;
  isolation: IsolationLevel;
  /** `set_config(name, value, true)` pairs, in order. */
  settings: [string, string][];
  /** `schema.function` of db-pre-request. */
  preRequest: string | undefined;
  /** A query whose EXPLAIN row estimate is the planned count. */
  plannedCount: Statement | undefined;
  main: Statement;
  end: 'commit' | 'rollback';
  /**
   * Checks on the result (singular, max-affected) that abort the transaction; undefined when
   * there are none, which lets the transaction end in the same batch as the main query.
   */
  check: ((row: MainRow) => ApiError | undefined) | undefined;
  /** Send the settings and main statements as named prepared statements (db-prepared-statements). */
  prepared: boolean;
}

export interface TransactionResult {
  row: MainRow;
  plannedTotal: number | undefined;
}

/** `schema.fn` (or `fn`) as a quoted, callable name. */
export function functionName(qualified: string): string {
  const dot = qualified.indexOf('.');
  return dot < 0
    ? quoteIdent(qualified)
    : `${quoteIdent(qualified.slice(0, dot))}.${quoteIdent(qualified.slice(dot + 1))}`;
}

function settingsStatement(settings: [string, string][]): Statement {
  const values: string[] = [];
  const calls = settings.map(([name, value]) => {
    values.push(name, value);
    return `set_config($${values.length - 1}, $${values.length}, true)`;
  });
  return { text: `SELECT ${calls.join(', ')}`, values };
}

/** Named statements one connection keeps at most; later new texts go unnamed (planned per request). */
export const maxPreparedPerConnection = 256;
const preparedNames = new WeakMap<pg.ClientBase, Set<string>>();

/**
 * Statement names by text, so that a text seen again is not hashed again. Bounded like the
 * connections' statements: once full, it starts over (names are a pure function of the text).
 */
const namesByText = new Map<string, string>();
const maxCachedNames = 4 * maxPreparedPerConnection;

function statementName(text: string): string {
  let name = namesByText.get(text);
  if (name === undefined) {
    name = `pgrst_${createHash('sha1').update(text).digest('base64url')}`;
    if (namesByText.size >= maxCachedNames) namesByText.clear();
    namesByText.set(text, name);
  }
  return name;
}

/**
 * The statement as a query config: named after a hash of its text when prepared statements are on,
 * so that a connection parses and plans it once (as PostgREST's prepared statements do), values
 * still bound per request. A connection holds at most {@link maxPreparedPerConnection} of them.
 */
function queryConfig(client: pg.ClientBase, statement: Statement, prepared: boolean): pg.QueryConfig {
  if (!prepared) return statement;
  const name = statementName(statement.text);
  let names = preparedNames.get(client);
  if (names === undefined) {
    names = new Set();
    preparedNames.set(client, names);
  }
  if (!names.has(name)) {
    if (names.size >= maxPreparedPerConnection) return statement;
    names.add(name);
  }
  return { name, text: statement.text, values: statement.values };
}

/** Maps failures to acquire or use a connection (no SQLSTATE) to PGRST000/003. */
function connectionError(error: Error): ApiError {
  if (/timeout exceeded when trying to connect/i.test(error.message)) {
    return pgrstError('PGRST003', 'Timed out acquiring connection from connection pool.');
  }
  return pgrstError('PGRST000', 'Database connection error. Retrying the connection.', error.message, null, [
    ['Retry-After', '0'],
  ]);
}

async function plannedRows(client: pg.PoolClient, statement: Statement): Promise<number> {
  const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>({
    text: `EXPLAIN (FORMAT JSON) ${statement.text}`,
    values: statement.values,
  });
  return rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0;
}

export async function runTransaction(
  pool: pg.Pool,
  plan: TransactionPlan,
  authenticated: boolean,
): Promise<TransactionResult> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw connectionError(error as Error);
  }
  let broken = false;
  const end = () =>
    plan.end === 'commit'
      ? [client.query('COMMIT')]
      : [client.query('SET CONSTRAINTS ALL IMMEDIATE'), client.query('ROLLBACK')];
  try {
    // Pipelined (the pool runs in pipeline mode): BEGIN, settings, pre-request and the main query
    // go out in one write; so does the end of the transaction when nothing can abort it after the
    // main query (read-only transactions, or no checks). After a failure the later statements fail
    // with 25P02 and a COMMIT rolls back, so the first failure is the one reported.
    const endsInBatch = plan.readOnly || plan.check === undefined;
    // Pool clients are pg.Client instances (typed as ClientBase).
    const socket = (client as unknown as pg.Client).connection.stream;
    socket.cork();
    const steps: Promise<unknown>[] = [
      client.query(
        `BEGIN ISOLATION LEVEL ${plan.isolation.toUpperCase()} ${plan.readOnly ? 'READ ONLY' : 'READ WRITE'}`,
      ),
    ];
    if (plan.settings.length > 0)
      steps.push(client.query(queryConfig(client, settingsStatement(plan.settings), plan.prepared)));
    if (plan.preRequest !== undefined) steps.push(client.query(`SELECT ${functionName(plan.preRequest)}()`));
    const planned =
      plan.plannedCount === undefined ? Promise.resolve(undefined) : plannedRows(client, plan.plannedCount);
    const main = client.query<MainRow>(queryConfig(client, plan.main, plan.prepared));
    const ending = endsInBatch ? end() : [];
    socket.uncork();
    const settled = await Promise.allSettled([...steps, planned, main, ...ending]);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    let open = !endsInBatch;
    try {
      if (failure) throw failure.reason;
      const plannedTotal = await planned;
      const row = (await main).rows[0];
      if (row === undefined) throw pgrstError('PGRST001', 'Database client error', 'The main query returned no row');
      const failed = plan.check?.(row);
      if (failed) throw failed;
      if (open) {
        open = false;
        await Promise.all(end());
      }
      return { row, plannedTotal };
    } catch (error) {
      if (open) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      }
      throw error;
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    if (isDatabaseError(error)) throw fromDatabaseError(error, authenticated);
    broken = true;
    throw connectionError(error as Error);
  } finally {
    client.release(broken);
  }
}
