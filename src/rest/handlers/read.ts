// GET/HEAD on a table or view (contract §5, §6).
import { header, type Deps, type RequestContext } from '../context.ts';
import { contentTypeHeaders, execute, preferenceHeaders, totalOf } from '../execute.ts';
import { contentType, negotiate, type MediaType } from '../media-types.ts';
import { planRead, type ReadNode, type ReadOptions } from '../plan/read-plan.ts';
import { parseQuery } from '../query-params.ts';
import type { Echoable } from '../preferences.ts';
import type { ParsedQuery } from '../query-types.ts';
import { contentRange, parseRangeHeader, rangeStatus, window } from '../range.ts';
import { applyResponseGucs, type ApiResponse } from '../response.ts';
import type { SchemaCache, Table } from '../schema-types.ts';
import type { BodyShape, MainQuery } from '../sql/main-query.ts';
import { qualifiedIdent, SqlParams } from '../sql/params.ts';
import { countSql, nodeSelectSql } from '../sql/read-sql.ts';
import type { Statement } from '../transaction.ts';

/** max-rows and aggregates from the configuration. */
export const readOptions = (deps: Deps): ReadOptions => ({
  maxRows: deps.config.dbMaxRows,
  aggregates: deps.config.dbAggregatesEnabled,
});

export function bodyShape(media: MediaType): BodyShape {
  return media.kind === 'object' ? 'single' : media.kind === 'csv' ? 'csv' : 'array';
}

/** Applies limit/offset/Range/max-rows to the root node; returns the window's offset. */
export function applyWindow(deps: Deps, ctx: RequestContext, parsed: ParsedQuery): number {
  const root = parsed.nodes.get('')!;
  const range = ctx.method === 'GET' ? parseRangeHeader(header(ctx, 'range')) : undefined;
  const w = window(root.limit, root.offset, range, deps.config.dbMaxRows);
  root.limit = w.limit;
  root.offset = w.offset;
  return w.offset;
}

/** The count parts of a read: exact COUNT in the main query and/or an EXPLAIN estimate. */
export function countParts(
  ctx: RequestContext,
  node: ReadNode,
  params: SqlParams,
): { total: string | undefined; plannedCount: Statement | undefined } {
  const count = ctx.preferences.count;
  const total = count === 'exact' || count === 'estimated' ? countSql(node, params) : undefined;
  let plannedCount: Statement | undefined;
  if (count === 'planned' || count === 'estimated') {
    const plannedParams = new SqlParams();
    plannedCount = { text: countSql(node, plannedParams), values: plannedParams.values };
  }
  return { total, plannedCount };
}

/** Status, Content-Range and Content-Type of a read-like answer (tables, RPC sets). */
export function readResponse(
  deps: Deps,
  ctx: RequestContext,
  media: MediaType,
  offset: number,
  result: Awaited<ReturnType<typeof execute>>,
  echo: Echoable[],
): ApiResponse {
  const pageTotal = Number(result.row.page_total);
  const total = totalOf(ctx, result, deps.config.dbMaxRows);
  const status = rangeStatus(offset, pageTotal, total);
  const headers: [string, string][] = [
    ['Content-Range', contentRange(offset, pageTotal, total)],
    ...contentTypeHeaders(deps, ctx, contentType(media)),
    ...preferenceHeaders(deps, ctx, echo),
  ];
  return applyResponseGucs({ status, headers, body: result.row.bytes ?? result.row.body ?? '' }, result.row);
}

/** `/<table>?<query string sorted by key>` (contract §11). */
function contentLocation(table: Table, query: [string, string][]): string {
  const sorted = new URLSearchParams([...query].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))).toString();
  return `/${encodeURIComponent(table.name)}${sorted === '' ? '' : `?${sorted}`}`;
}

/** What a read sends and answers with, derived from the request alone (given a schema cache). */
interface ReadPlan {
  media: MediaType;
  offset: number;
  main: MainQuery;
  values: unknown[];
  plannedCount: Statement | undefined;
  contentLocation: string;
}

/**
 * Read plans by request, per schema cache (a reload starts afresh): a repeated request skips
 * parsing, planning and SQL generation. Bounded: once full, it starts over.
 */
const readPlans = new WeakMap<SchemaCache, Map<string, ReadPlan>>();
const maxReadPlans = 1000;

/** Everything a read plan depends on besides the schema cache and the configuration. */
function readPlanKey(ctx: RequestContext, table: Table): string {
  const range = ctx.method === 'GET' ? header(ctx, 'range') : undefined;
  const parts = [ctx.method, table.schema, table.name, header(ctx, 'accept'), range, ctx.preferences.count];
  for (const [k, v] of ctx.query) parts.push(k, v);
  return JSON.stringify(parts);
}

function planReadRequest(deps: Deps, ctx: RequestContext, table: Table): ReadPlan {
  const parsed = parseQuery(ctx.query);
  const media = negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']);
  const offset = applyWindow(deps, ctx, parsed);
  const node = planRead(
    deps.cache(),
    {
      relation: table,
      columns: [...table.columns.values()],
      from: qualifiedIdent(table),
      qualifier: qualifiedIdent(table),
    },
    parsed,
    readOptions(deps),
  );
  const params = new SqlParams();
  const rows = nodeSelectSql(node, params);
  const { total, plannedCount } = countParts(ctx, node, params);
  return {
    media,
    offset,
    main: {
      source: undefined,
      rows,
      total,
      shape: bodyShape(media),
      stripNulls: media.stripNulls,
      locationColumns: undefined,
      inserted: undefined,
    },
    values: params.values,
    plannedCount,
    contentLocation: contentLocation(table, ctx.query),
  };
}

function cachedReadPlan(deps: Deps, ctx: RequestContext, table: Table): ReadPlan {
  const cache = deps.cache();
  let plans = readPlans.get(cache);
  if (plans === undefined) {
    plans = new Map();
    readPlans.set(cache, plans);
  }
  const key = readPlanKey(ctx, table);
  let plan = plans.get(key);
  if (plan === undefined) {
    plan = planReadRequest(deps, ctx, table);
    if (plans.size >= maxReadPlans) plans.clear();
    plans.set(key, plan);
  }
  return plan;
}

export async function handleRead(deps: Deps, ctx: RequestContext, table: Table): Promise<ApiResponse> {
  const plan = cachedReadPlan(deps, ctx, table);
  const result = await execute(deps, ctx, {
    readOnly: true,
    main: plan.main,
    values: plan.values,
    plannedCount: plan.plannedCount,
    hoisted: [],
    check: undefined,
    media: plan.media,
  });
  const response = readResponse(deps, ctx, plan.media, plan.offset, result, ['count', 'tx', 'handling', 'timezone']);
  return { ...response, headers: [...response.headers, ['Content-Location', plan.contentLocation]] };
}
