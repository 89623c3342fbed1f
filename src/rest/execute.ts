// Runs a planned request: settings, isolation and tx end from the context, singular and
// max-affected checks, and the headers every answer from a transaction shares.
import {
  isolationFor,
  requestSettings,
  transactionEnd,
  txOverridable,
  type Deps,
  type RequestContext,
} from './context.ts';
import { pgrstError, type ApiError } from './errors.ts';
import type { MediaType } from './media-types.ts';
import { preferenceApplied, type Echoable } from './preferences.ts';
import { mainQuerySql, type MainQuery, type MainRow } from './sql/main-query.ts';
import { runTransaction, type Statement, type TransactionResult } from './transaction.ts';

export interface ExecutionPlan {
  readOnly: boolean;
  main: MainQuery;
  values: unknown[];
  plannedCount: Statement | undefined;
  /** Function `SET` options hoisted into the transaction (RPC). */
  hoisted: [string, string][];
  /** Extra checks (max-affected) on the result; undefined when there are none. */
  check: ((row: MainRow) => ApiError | undefined) | undefined;
  media: MediaType | undefined;
}

export function singularError(rows: number): ApiError {
  return pgrstError('PGRST116', 'Cannot coerce the result to a single JSON object', `The result contains ${rows} rows`);
}

/**
 * `max-affected` with `handling=strict` (contract §7.1): more affected rows ⇒ PGRST124; an RPC
 * that does not return a set ⇒ PGRST128. Undefined when the preference does not apply.
 */
export function maxAffectedCheck(
  ctx: RequestContext,
  returnsSet: boolean,
): ((row: MainRow) => ApiError | undefined) | undefined {
  const max = ctx.preferences.maxAffected;
  if (ctx.preferences.handling !== 'strict' || max === undefined) return undefined;
  return (row) => {
    if (!returnsSet) {
      return pgrstError(
        'PGRST128',
        'Function must return SETOF or TABLE when max-affected preference is used with handling=strict',
      );
    }
    const affected = Number(row.page_total);
    return affected > max
      ? pgrstError(
          'PGRST124',
          'Query result exceeds max-affected preference constraint',
          `The query affects ${affected} rows`,
        )
      : undefined;
  };
}

export async function execute(deps: Deps, ctx: RequestContext, plan: ExecutionPlan): Promise<TransactionResult> {
  return runTransaction(
    deps.pool,
    {
      readOnly: plan.readOnly,
      isolation: isolationFor(deps, ctx, plan.hoisted),
      settings: requestSettings(deps, ctx, plan.hoisted),
      preRequest: deps.config.dbPreRequest,
      plannedCount: plan.plannedCount,
      main: { text: mainQuerySql(plan.main), values: plan.values },
      end: transactionEnd(deps.config, ctx.preferences),
      check:
        plan.media?.kind === 'object'
          ? (row) => {
              const pageTotal = Number(row.page_total);
              return pageTotal === 1 ? plan.check?.(row) : singularError(pageTotal);
            }
          : plan.check,
      prepared: deps.config.dbPreparedStatements,
    },
    ctx.auth.authenticated,
  );
}

/** Content-Type, with Content-Profile beside it when a profile applies (PostgREST sends them together). */
/**
 * Runs `rows` (SQL yielding the rows of a JSON array) in a read-only request transaction and returns the
 * array's text: for internal reads that need the request's role and claims but no response shaping.
 */
export async function readRowsAsJson(
  deps: Deps,
  ctx: RequestContext,
  rows: string,
  values: unknown[],
): Promise<string> {
  const result = await execute(deps, ctx, {
    readOnly: true,
    main: {
      source: undefined,
      rows,
      total: undefined,
      shape: 'array',
      stripNulls: false,
      locationColumns: undefined,
      inserted: undefined,
    },
    values,
    plannedCount: undefined,
    hoisted: [],
    check: undefined,
    media: undefined,
  });
  return result.row.body ?? '[]';
}

export function contentTypeHeaders(deps: Deps, ctx: RequestContext, type: string): [string, string][] {
  const headers: [string, string][] = [['Content-Type', type]];
  if (ctx.profileUsed || deps.config.dbSchemas.length > 1) headers.push(['Content-Profile', ctx.schema]);
  return headers;
}

/** Preference-Applied for the preferences `echo` lists (tx only when it can be overridden). */
export function preferenceHeaders(deps: Deps, ctx: RequestContext, echo: Echoable[]): [string, string][] {
  const echoSet = new Set(echo.filter((e) => e !== 'tx' || txOverridable(deps.config)));
  const applied = preferenceApplied(ctx.preferences, echoSet);
  return applied === undefined ? [] : [['Preference-Applied', applied]];
}

/** The total from the row or the planned estimate, by `Prefer: count`. */
export function totalOf(
  ctx: RequestContext,
  result: TransactionResult,
  maxRows: number | undefined,
): number | undefined {
  const exact = result.row.total_result_set === null ? undefined : Number(result.row.total_result_set);
  switch (ctx.preferences.count) {
    case 'exact':
      return exact;
    case 'planned':
      return result.plannedTotal;
    case 'estimated':
      return maxRows !== undefined && result.plannedTotal !== undefined && result.plannedTotal > maxRows
        ? result.plannedTotal
        : exact;
    default:
      return undefined;
  }
}
