// POST, PATCH, PUT and DELETE on tables and views (contract §7).
import { quoteIdent } from '../../db/client.ts';
import { header, type Deps, type RequestContext } from '../context.ts';
import { pgrstError } from '../errors.ts';
import { contentTypeHeaders, execute, maxAffectedCheck, preferenceHeaders } from '../execute.ts';
import { contentType, negotiate } from '../media-types.ts';
import { planRead } from '../plan/read-plan.ts';
import type { Echoable } from '../preferences.ts';
import { parseQuery } from '../query-params.ts';
import type { LogicTree, ParsedQuery } from '../query-types.ts';
import { parsePayload, type Payload } from '../request-body.ts';
import { applyResponseGucs, type ApiResponse } from '../response.ts';
import type { Column, Table } from '../schema-types.ts';
import type { MainRow } from '../sql/main-query.ts';
import { deleteSql, insertedRowsSql, insertSql, insertsRowSql, updateSql } from '../sql/mutate-sql.ts';
import { logicSql } from '../sql/filters.ts';
import { qualifiedIdent, SqlParams } from '../sql/params.ts';
import { nodeSelectSql } from '../sql/read-sql.ts';
import { bodyShape, readOptions } from './read.ts';

function payloadColumns(table: Table, keys: string[]): Column[] {
  return keys.map((k) => {
    const column = table.columns.get(k);
    if (!column)
      throw pgrstError('PGRST204', `Could not find the '${k}' column of '${table.name}' in the schema cache`);
    return column;
  });
}

/** Root filters as SQL over the table itself (mutations choose rows with these). */
function rootConditions(table: Table, filters: LogicTree[], params: SqlParams): string[] {
  const scope = {
    qualifier: qualifiedIdent(table),
    column: (name: string) => table.columns.get(name),
    embedIsNull: () => undefined,
  };
  return filters.map((f) => logicSql(f, scope, params));
}

/** Percent-encodes all but unreserved characters (RFC 3986), as PostgREST's Location does. */
const urlEncode = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** `Location: /t?pk=eq.v` for the one row a POST inserted. */
function locationHeader(table: Table, row: MainRow): [string, string] | undefined {
  if (row.location === null || table.primaryKey.length === 0) return undefined;
  const keys = JSON.parse(row.location) as (string | null)[][];
  if (keys.length !== 1) return undefined;
  const values = keys[0]!;
  const query = table.primaryKey.map((c, i) => {
    const v = values[i];
    return `${urlEncode(c)}=${v === null || v === undefined ? 'is.null' : urlEncode(`eq.${v}`)}`;
  });
  return ['Location', `/${urlEncode(table.name)}?${query.join('&')}`];
}

interface Statement {
  source: string;
  /** Echoed preferences of this action. */
  echo: Echoable[];
  status: (row: MainRow, representation: boolean) => number;
  /** Content-Range (PUT sends none). */
  contentRange: ((pageTotal: number, counted: boolean) => string) | undefined;
  locationColumns: string[] | undefined;
  /** SQL of the inserted-row count, when the status depends on it. */
  inserted: string | undefined;
}

function putChecks(table: Table, parsed: ParsedQuery, payload: Payload): void {
  const root = parsed.nodes.get('')!;
  if (root.limit !== undefined || root.offset !== undefined) {
    throw pgrstError('PGRST114', 'limit/offset querystring parameters are not allowed for PUT');
  }
  // Each filter must be a plain `pk=eq.value`, each primary-key column exactly once.
  const eqFilters = root.filters.flatMap((f): [string, string][] =>
    f.kind === 'filter' &&
    !f.filter.negated &&
    f.filter.field.jsonPath.length === 0 &&
    f.filter.expression.kind === 'simple' &&
    f.filter.expression.op === 'eq' &&
    f.filter.expression.quantifier === undefined
      ? [[f.filter.field.name, f.filter.expression.value]]
      : [],
  );
  const eqs = new Map(eqFilters);
  const pk = table.primaryKey;
  const exact = eqFilters.length === root.filters.length && eqs.size === eqFilters.length && eqs.size === pk.length;
  if (pk.length === 0 || !exact || !pk.every((c) => eqs.has(c))) {
    throw pgrstError('PGRST105', "Filters must include all and only primary key columns with 'eq' operators");
  }
  const row = payload.rows[0] ?? {};
  const matches = pk.every((c) => {
    const v = row[c];
    return v !== undefined && (typeof v === 'string' ? v : JSON.stringify(v)) === eqs.get(c);
  });
  if (!matches) throw pgrstError('PGRST115', 'Payload values do not match URL in primary key column(s)');
}

function planStatement(ctx: RequestContext, table: Table, parsed: ParsedQuery, params: SqlParams): Statement {
  const prefs = ctx.preferences;
  const where = () => rootConditions(table, parsed.nodes.get('')!.filters, params);
  const starRange = (n: number, counted: boolean) => `*/${counted ? n : '*'}`;
  switch (ctx.method) {
    case 'POST': {
      const payload = parsePayload(ctx, parsed.columns);
      const columns = payloadColumns(table, payload.keys);
      const conflictColumns = parsed.onConflict ?? table.primaryKey;
      const resolution = conflictColumns.length > 0 ? prefs.resolution : undefined;
      const merge = resolution === 'merge-duplicates';
      // Views have no xmax: a merge into a view answers 201.
      const countInserted = merge && !table.isView;
      return {
        source: insertSql(
          {
            table,
            columns,
            payload: JSON.stringify(payload.rows),
            applyDefaults: prefs.missing === 'default',
            onConflict: resolution ? { columns: conflictColumns, action: merge ? 'merge' : 'ignore' } : undefined,
            reportInserted: countInserted,
          },
          params,
        ),
        echo: [
          ...(resolution ? (['resolution'] as const) : []),
          'missing',
          'return',
          'count',
          'tx',
          'handling',
          'timezone',
        ],
        status: (row) => (countInserted && Number(row.page_total) > 0 && Number(row.inserted) === 0 ? 200 : 201),
        contentRange: starRange,
        locationColumns: prefs.return === 'headers-only' ? table.primaryKey : undefined,
        inserted: countInserted ? insertedRowsSql : undefined,
      };
    }
    case 'PUT': {
      const payload = parsePayload(ctx, parsed.columns);
      putChecks(table, parsed, payload);
      const columns = payloadColumns(table, payload.keys);
      return {
        source: insertSql(
          {
            table,
            columns,
            payload: JSON.stringify(payload.rows.slice(0, 1)),
            applyDefaults: false,
            onConflict: { columns: table.primaryKey, action: 'merge' },
            reportInserted: false,
          },
          params,
        ),
        echo: ['return', 'count', 'tx', 'handling', 'timezone'],
        status: (row, representation) => (!representation ? 204 : Number(row.inserted) > 0 ? 201 : 200),
        contentRange: undefined,
        locationColumns: undefined,
        inserted: insertsRowSql(table, where()),
      };
    }
    case 'PATCH': {
      const payload = parsePayload(ctx, parsed.columns);
      const first = payload.rows[0] ?? {};
      const columns = payloadColumns(table, payload.keys);
      const useDefault = new Set(
        prefs.missing === 'default' ? payload.keys.filter((k) => !Object.hasOwn(first, k)) : [],
      );
      return {
        source: updateSql({ table, columns, useDefault, payload: JSON.stringify(first), where: where() }, params),
        echo: ['missing', 'return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'],
        status: (_row, representation) => (representation ? 200 : 204),
        contentRange: (n, counted) => (n === 0 ? starRange(n, counted) : `0-${n - 1}/${counted ? n : '*'}`),
        locationColumns: undefined,
        inserted: undefined,
      };
    }
    default:
      return {
        source: deleteSql(table, where()),
        echo: ['return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'],
        status: (_row, representation) => (representation ? 200 : 204),
        contentRange: starRange,
        locationColumns: undefined,
        inserted: undefined,
      };
  }
}

export async function handleWrite(deps: Deps, ctx: RequestContext, table: Table): Promise<ApiResponse> {
  const parsed = parseQuery(ctx.query);
  const media = negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']);
  const params = new SqlParams();
  const statement = planStatement(ctx, table, parsed, params);
  const representation = ctx.preferences.return === 'representation';
  // The representation reads the affected rows; root filters already chose them.
  parsed.nodes.set('', { filters: [], order: undefined, limit: undefined, offset: undefined });
  const alias = quoteIdent(table.name);
  const rows = representation
    ? nodeSelectSql(
        planRead(
          deps.cache(),
          { relation: table, columns: [...table.columns.values()], from: `pgrst_source AS ${alias}`, qualifier: alias },
          parsed,
          { ...readOptions(deps), maxRows: undefined },
        ),
        params,
      )
    : 'SELECT 1 FROM pgrst_source';
  const result = await execute(deps, ctx, {
    readOnly: false,
    main: {
      source: statement.source,
      rows,
      total: undefined,
      shape: representation ? bodyShape(media) : 'none',
      stripNulls: media.stripNulls,
      locationColumns: statement.locationColumns,
      inserted: statement.inserted,
    },
    values: params.values,
    plannedCount: undefined,
    hoisted: [],
    check: maxAffectedCheck(ctx, true),
    media: media.kind === 'object' ? media : undefined,
  });
  const { row } = result;
  const pageTotal = Number(row.page_total);
  const headers: [string, string][] = [];
  const location = ctx.preferences.return === 'headers-only' ? locationHeader(table, row) : undefined;
  if (location) headers.push(location);
  const range = statement.contentRange?.(pageTotal, ctx.preferences.count === 'exact');
  if (range !== undefined) headers.push(['Content-Range', range]);
  if (representation) headers.push(...contentTypeHeaders(deps, ctx, contentType(media)));
  headers.push(...preferenceHeaders(deps, ctx, statement.echo));
  const status = statement.status(row, representation);
  return applyResponseGucs({ status, headers, body: representation ? (row.body ?? '') : '' }, row);
}
