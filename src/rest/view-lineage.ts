// View column lineage: which base-table column each view column is (renamed or not, through views
// of views), read from the `:resorigtbl` / `:resorigcol` of the view query's target entries —
// the same source PostgREST uses to find relationships and primary keys of views.
import { z } from 'zod';
import { many, type Queryable } from '../db/client.ts';
import type { QualifiedName } from './schema-types.ts';
import { qualifiedKey } from './schema-types.ts';

/** A view over a table: table column → view column. */
export interface ViewOverTable {
  view: QualifiedName;
  columns: Map<string, string>;
}

/** Views over each table (key `schema.table`), direct or through other views. */
export type ViewsOfTables = Map<string, ViewOverTable[]>;

const entryRow = z.object({
  view_schema: z.string(),
  view_name: z.string(),
  view_column: z.string(),
  resname: z.string(),
  base_schema: z.string(),
  base_name: z.string(),
  base_column: z.string(),
  base_is_view: z.boolean(),
});

// Target entries of subqueries appear in the same text: only those whose position and name are
// those of a view column are kept, and a view column with two different origins is dropped.
const entriesSql = `
select vn.nspname as view_schema, v.relname as view_name, va.attname::text as view_column, m[2] as resname,
  bn.nspname as base_schema, b.relname as base_name, ba.attname::text as base_column, b.relkind in ('v', 'm') as base_is_view
from pg_class v
join pg_namespace vn on vn.oid = v.relnamespace
join pg_rewrite r on r.ev_class = v.oid and r.rulename = '_RETURN'
cross join lateral regexp_matches(r.ev_action::text,
  ':resno (\\d+) :resname ([^:]*) :ressortgroupref \\d+ :resorigtbl (\\d+) :resorigcol (\\d+)', 'g') m
join pg_attribute va on va.attrelid = v.oid and va.attnum = m[1]::int and not va.attisdropped
join pg_class b on b.oid = m[3]::oid
join pg_namespace bn on bn.oid = b.relnamespace
join pg_attribute ba on ba.attrelid = b.oid and ba.attnum = m[4]::int and not ba.attisdropped
where v.relkind in ('v', 'm') and vn.nspname not in ('pg_catalog', 'information_schema') and m[3] <> '0'`;

/** `resname` as the node tree prints it (special characters backslash-escaped). */
const unescape = (text: string) => text.replace(/\\(.)/g, '$1');

export async function loadViewLineage(db: Queryable): Promise<ViewsOfTables> {
  const rows = (await many(db, entriesSql)).map((r) => entryRow.parse(r));
  // view key → view column → origin ('schema.rel', column), undefined when ambiguous.
  const origins = new Map<string, Map<string, { base: QualifiedName; column: string; isView: boolean } | undefined>>();
  for (const row of rows) {
    if (unescape(row.resname) !== row.view_column) continue;
    const viewKey = `${row.view_schema}.${row.view_name}`;
    const columns = origins.get(viewKey) ?? new Map();
    origins.set(viewKey, columns);
    const origin = {
      base: { schema: row.base_schema, name: row.base_name },
      column: row.base_column,
      isView: row.base_is_view,
    };
    const previous = columns.get(row.view_column);
    const same =
      previous && qualifiedKey(previous.base) === qualifiedKey(origin.base) && previous.column === origin.column;
    columns.set(row.view_column, columns.has(row.view_column) && !same ? undefined : origin);
  }
  /** Follows views of views down to a table column (bounded, in case of cycles). */
  const resolve = (
    viewKey: string,
    column: string,
    depth = 0,
  ): { table: QualifiedName; column: string } | undefined => {
    const origin = origins.get(viewKey)?.get(column);
    if (origin === undefined || depth > 16) return undefined;
    return origin.isView
      ? resolve(qualifiedKey(origin.base), origin.column, depth + 1)
      : { table: origin.base, column: origin.column };
  };
  const viewsOf: ViewsOfTables = new Map();
  for (const [viewKey, columns] of origins) {
    const dot = viewKey.indexOf('.');
    const view = { schema: viewKey.slice(0, dot), name: viewKey.slice(dot + 1) };
    for (const viewColumn of columns.keys()) {
      const target = resolve(viewKey, viewColumn);
      if (!target) continue;
      const list = viewsOf.get(qualifiedKey(target.table)) ?? [];
      viewsOf.set(qualifiedKey(target.table), list);
      let entry = list.find((e) => qualifiedKey(e.view) === viewKey);
      if (!entry) {
        entry = { view, columns: new Map() };
        list.push(entry);
      }
      if (!entry.columns.has(target.column)) entry.columns.set(target.column, viewColumn);
    }
  }
  return viewsOf;
}
