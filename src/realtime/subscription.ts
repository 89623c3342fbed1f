// A subscription: a table or view of an exposed schema, the client's `select` and PostgREST filters,
// the watched tables that feed it — and the re-read of changed keys as the subscriber, through the
// REST gateway's own parser, planner, SQL builder and transaction (so RLS, the pre-request function
// and the role's settings apply exactly as to a GET).
import type { Deps, RequestContext } from '../rest/context.ts';
import { pgrstError } from '../rest/errors.ts';
import { readRowsAsJson } from '../rest/execute.ts';
import { readOptions } from '../rest/handlers/read.ts';
import type { AuthResult } from '../rest/jwt.ts';
import { planRead } from '../rest/plan/read-plan.ts';
import { parsePreferences } from '../rest/preferences.ts';
import { parseQuery } from '../rest/query-params.ts';
import type { Filter, LogicTree, ParsedQuery } from '../rest/query-types.ts';
import type { Table } from '../rest/schema-types.ts';
import { qualifiedKey } from '../rest/schema-types.ts';
import { findTable } from '../rest/server.ts';
import { qualifiedIdent, SqlParams } from '../rest/sql/params.ts';
import { nodeSelectSql } from '../rest/sql/read-sql.ts';
import { loadViewLineage } from '../rest/view-lineage.ts';
import { badMessage, notStreamed } from './errors.ts';

export interface Subscription {
  /** The client's name for it (WebSocket), unique per connection. */
  id: string;
  relation: Table;
  /** `schema.name`, as events name it. */
  label: string;
  /** The client's select and filters (root node only). */
  parsed: ParsedQuery;
  /** Watched table (`schema.name`) → its primary-key column → the relation's column. */
  sources: Map<string, Map<string, string>>;
}

export interface SubscribeRequest {
  id: string;
  schema: string;
  name: string;
  /** `select` and filters, as query-string pairs. */
  query: [string, string][];
}

/** The watched tables: those with the realtime trigger (sql/640_realtime.sql). */
async function watchedTables(deps: Deps): Promise<string[]> {
  const { rows } = await deps.pool.query<{ name: string }>(
    `select distinct format('%s.%s', n.nspname, c.relname) as name
       from pg_catalog.pg_trigger t
       join pg_catalog.pg_proc p on p.oid = t.tgfoid
       join pg_catalog.pg_namespace pn on pn.oid = p.pronamespace
       join pg_catalog.pg_class c on c.oid = t.tgrelid
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where p.proname = 'tg_realtime__notify' and pn.nspname = 'internal' and not t.tgisinternal
      order by 1`,
  );
  return rows.map((r) => r.name);
}

/** Which watched tables feed the relation, and how their keys map onto its columns. */
async function sourcesOf(deps: Deps, relation: Table): Promise<Map<string, Map<string, string>>> {
  const watched = await watchedTables(deps);
  const key = qualifiedKey(relation);
  const sources = new Map<string, Map<string, string>>();
  if (!relation.isView) {
    if (watched.includes(key)) sources.set(key, new Map(relation.primaryKey.map((c) => [c, c])));
  } else {
    // A view is fed by a watched table whose whole primary key it carries (followed through views).
    const lineage = await loadViewLineage(deps.pool);
    for (const table of watched) {
      const over = lineage.get(table)?.find((v) => qualifiedKey(v.view) === key);
      const pk = deps.cache().tables.get(table)?.primaryKey ?? [];
      if (over && pk.length > 0 && pk.every((c) => over.columns.has(c))) {
        sources.set(table, new Map(pk.map((c) => [c, over.columns.get(c)!])));
      }
    }
  }
  if (sources.size === 0) throw notStreamed(key, watched);
  return sources;
}

/** Parses and checks the request (schema, relation, parameters), then probes it as the subscriber. */
export async function subscribe(deps: Deps, auth: AuthResult, request: SubscribeRequest): Promise<Subscription> {
  const schemas = deps.config.dbSchemas;
  if (!schemas.includes(request.schema)) {
    throw pgrstError(
      'PGRST106',
      `Invalid schema: ${request.schema}`,
      null,
      `Only the following schemas are exposed: ${schemas.join(', ')}`,
    );
  }
  await deps.cacheSettled();
  const relation = findTable(deps.cache(), request.schema, request.name);
  const parsed = parseQuery(request.query);
  // Besides `select`, only filters: order, limits and anything that is not a filter make no sense here.
  const unsupported = [
    ...request.query.map(([k]) => k).filter((k) => /(^|\.)(order|limit|offset|columns|on_conflict)$/.test(k)),
    ...parsed.arguments.map(([k]) => k),
  ];
  if (unsupported.length > 0) {
    throw badMessage(
      'Only select and filters apply to a subscription',
      `Not a filter: ${[...new Set(unsupported)].join(', ')}`,
    );
  }
  const subscription: Subscription = {
    id: request.id,
    relation,
    label: qualifiedKey(relation),
    parsed,
    sources: await sourcesOf(deps, relation),
  };
  // The same read with no rows: unknown columns, bad values and missing privileges fail now.
  await readRows(deps, auth, subscription, undefined, 0);
  return subscription;
}

const keyFilter = (column: string, value: string): Filter => ({
  field: { name: column, jsonPath: [] },
  negated: false,
  expression: { kind: 'simple', op: 'eq', quantifier: undefined, value },
});

/** `column in (…)` for one key column, else `or(and(a.eq…, b.eq…), …)`. */
export function keysFilter(columns: string[], keys: string[][]): LogicTree {
  if (columns.length === 1) {
    return {
      kind: 'filter',
      filter: {
        field: { name: columns[0]!, jsonPath: [] },
        negated: false,
        expression: { kind: 'in', values: keys.map((k) => k[0]!) },
      },
    };
  }
  return {
    kind: 'logic',
    op: 'or',
    negated: false,
    children: keys.map((key) => ({
      kind: 'logic' as const,
      op: 'and' as const,
      negated: false,
      children: columns.map((c, i) => ({ kind: 'filter' as const, filter: keyFilter(c, key[i]!) })),
    })),
  };
}

/**
 * The subscription's rows matching `keys` (all rows when undefined), read as the subscriber in one
 * transaction as the REST layer reads them: a JSON array as text (numbers stay exact).
 */
export async function readRows(
  deps: Deps,
  auth: AuthResult,
  subscription: Subscription,
  keys: LogicTree | undefined,
  limit?: number,
): Promise<string> {
  const { relation, parsed } = subscription;
  const root = parsed.nodes.get('')!;
  const nodes = new Map(parsed.nodes);
  nodes.set('', { ...root, filters: keys === undefined ? root.filters : [...root.filters, keys], limit });
  const node = planRead(
    deps.cache(),
    {
      relation,
      columns: [...relation.columns.values()],
      from: qualifiedIdent(relation),
      qualifier: qualifiedIdent(relation),
    },
    { ...parsed, nodes },
    readOptions(deps),
  );
  const params = new SqlParams();
  const rows = nodeSelectSql(node, params);
  const ctx: RequestContext = {
    method: 'GET',
    path: `/${relation.name}`,
    query: [],
    headers: [],
    body: Buffer.alloc(0),
    auth,
    schema: relation.schema,
    profileUsed: false,
    preferences: parsePreferences([], () => false),
  };
  return readRowsAsJson(deps, ctx, rows, params.values);
}
