// Loads the schema cache from the catalogs: relations, columns, keys, relationships (also through
// views, one-to-one, many-to-many), functions, role settings and time zone names.
import { z } from 'zod';
import { many, type Queryable } from '../db/client.ts';
import type { Column, QualifiedName, Relationship, Routine, RoutineParam, SchemaCache, Table } from './schema-types.ts';
import { qualifiedKey } from './schema-types.ts';
import { loadViewLineage, type ViewsOfTables } from './view-lineage.ts';

const columnRow = z.object({
  name: z.string(),
  type: z.string(),
  baseType: z.string(),
  nullable: z.boolean(),
  default: z.string().nullable(),
  description: z.string().nullable(),
  enumValues: z.array(z.string()).nullable(),
});

const tableRow = z.object({
  schema: z.string(),
  name: z.string(),
  is_view: z.boolean(),
  description: z.string().nullable(),
  insertable: z.boolean(),
  updatable: z.boolean(),
  deletable: z.boolean(),
  primary_key: z.array(z.string()),
  columns: z.array(columnRow).nullable(),
});

const tablesSql = `
select n.nspname as schema, c.relname as name, c.relkind in ('v', 'm') as is_view,
  obj_description(c.oid, 'pg_class') as description,
  c.relkind in ('r', 'p') or (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8 as insertable,
  c.relkind in ('r', 'p') or (pg_relation_is_updatable(c.oid::regclass, true) & 4) = 4 as updatable,
  c.relkind in ('r', 'p') or (pg_relation_is_updatable(c.oid::regclass, true) & 16) = 16 as deletable,
  coalesce((select array_agg(a.attname::text order by k.i)
     from pg_constraint con, unnest(con.conkey) with ordinality k(n, i), pg_attribute a
     where con.conrelid = c.oid and con.contype = 'p' and a.attrelid = c.oid and a.attnum = k.n), '{}') as primary_key,
  (select json_agg(json_build_object(
      'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
      'baseType', coalesce(bt.typname, t.typname), 'nullable', not a.attnotnull,
      'default', pg_get_expr(d.adbin, d.adrelid), 'description', col_description(c.oid, a.attnum),
      'enumValues', (select array_agg(e.enumlabel order by e.enumsortorder) from pg_enum e
                     where e.enumtypid = coalesce(bt.oid, t.oid))) order by a.attnum)
   from pg_attribute a
   join pg_type t on t.oid = a.atttypid
   left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
   left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1) and c.relkind in ('r', 'v', 'm', 'f', 'p')`;

const keyRow = z.object({
  kind: z.enum(['f', 'p', 'u']),
  constraint: z.string(),
  schema: z.string(),
  name: z.string(),
  columns: z.array(z.string()),
  foreign_schema: z.string().nullable(),
  foreign_name: z.string().nullable(),
  foreign_columns: z.array(z.string()).nullable(),
});

const keysSql = `
select con.contype as kind, con.conname as constraint, n.nspname as schema, c.relname as name,
  array(select a.attname::text from unnest(con.conkey) with ordinality k(n, i)
        join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.i) as columns,
  fn.nspname as foreign_schema, fc.relname as foreign_name,
  case when con.contype = 'f' then array(select a.attname::text from unnest(con.confkey) with ordinality k(n, i)
        join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by k.i) end as foreign_columns
from pg_constraint con
join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
left join pg_class fc on fc.oid = con.confrelid left join pg_namespace fn on fn.oid = fc.relnamespace
where con.contype in ('f', 'p', 'u') and (n.nspname = any($1) or fn.nspname = any($1))`;

const routineRow = z.object({
  schema: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  volatility: z.enum(['v', 's', 'i']),
  returns_set: z.boolean(),
  return_type: z.string(),
  return_type_name: z.string(),
  return_base_type: z.string(),
  return_typtype: z.string(),
  return_is_void: z.boolean(),
  return_relation_schema: z.string().nullable(),
  return_relation_name: z.string().nullable(),
  return_attributes: z.array(columnRow).nullable(),
  nargdefaults: z.number(),
  args: z.array(z.object({ name: z.string(), type: z.string(), mode: z.string(), baseType: z.string() })).nullable(),
  config: z.array(z.string()).nullable(),
});

const routinesSql = `
select n.nspname as schema, p.proname as name, obj_description(p.oid, 'pg_proc') as description,
  p.provolatile as volatility, p.proretset as returns_set, format_type(p.prorettype, null) as return_type,
  rt.typname::text as return_type_name, coalesce(rbt.typname, rt.typname)::text as return_base_type,
  rt.typtype::text as return_typtype, p.prorettype = 'void'::regtype as return_is_void,
  rn.nspname as return_relation_schema, rc.relname as return_relation_name,
  (select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
     'baseType', t.typname, 'nullable', true, 'default', null, 'description', null, 'enumValues', null) order by a.attnum)
   from pg_attribute a join pg_type t on t.oid = a.atttypid
   where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped) as return_attributes,
  p.pronargdefaults::int as nargdefaults,
  (select json_agg(json_build_object('name', coalesce(p.proargnames[x.i], ''), 'type', format_type(x.t, null),
     'baseType', t.typname, 'mode', coalesce(p.proargmodes[x.i], 'i')) order by x.i)
   from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality x(t, i)
   join pg_type t on t.oid = x.t) as args,
  p.proconfig as config
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
left join pg_type rbt on rt.typtype = 'd' and rbt.oid = rt.typbasetype
left join pg_class rc on rc.oid = rt.typrelid and rc.relkind in ('r', 'v', 'm', 'f', 'p')
left join pg_namespace rn on rn.oid = rc.relnamespace
where n.nspname = any($1) and p.prokind = 'f'`;

const roleSettingRow = z.object({ role: z.string(), settings: z.array(z.string()) });
const roleSettingsSql = `
select r.rolname as role, s.setconfig as settings
from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
where s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
order by s.setdatabase`;

function toColumn(row: z.infer<typeof columnRow>): Column {
  return { ...row, enumValues: row.enumValues ?? [] };
}

/** `name=value` strings (proconfig, setconfig) as pairs. */
function settingPairs(config: string[]): [string, string][] {
  return config.map((s): [string, string] => {
    const eq = s.indexOf('=');
    return [s.slice(0, eq), s.slice(eq + 1)];
  });
}

function toRoutine(row: z.infer<typeof routineRow>): Routine {
  const args = row.args ?? [];
  const inputs = args.filter((a) => ['i', 'b', 'v'].includes(a.mode));
  const outputs = args.filter((a) => ['o', 'b', 't'].includes(a.mode));
  const firstDefault = inputs.length - row.nargdefaults;
  const params: RoutineParam[] = inputs.map((a, i) => ({
    name: a.name,
    type: a.type,
    hasDefault: i >= firstDefault,
    variadic: a.mode === 'v',
  }));
  const composite =
    row.return_typtype === 'c' || (row.return_typtype === 'p' && !row.return_is_void && row.return_type === 'record');
  const returnColumns =
    outputs.length > 1 || args.some((a) => a.mode === 't')
      ? outputs.map((a) =>
          toColumn({
            name: a.name,
            type: a.type,
            baseType: a.baseType,
            nullable: true,
            default: null,
            description: null,
            enumValues: null,
          }),
        )
      : (row.return_attributes ?? []).map(toColumn);
  return {
    schema: row.schema,
    name: row.name,
    description: row.description,
    params,
    returnsSet: row.returns_set,
    returnKind: row.return_is_void ? 'void' : composite ? 'composite' : 'scalar',
    returnType: row.return_type,
    // A domain named like a media type (`"application/pdf"` over bytea) is a media-type handler.
    mediaType:
      row.return_typtype === 'd' && /^[a-z]+\/[a-z0-9.+*-]+$/i.test(row.return_type_name)
        ? { type: row.return_type_name.toLowerCase(), binary: row.return_base_type === 'bytea' }
        : undefined,
    returnColumns,
    returnTable:
      row.return_relation_schema !== null && row.return_relation_name !== null
        ? { schema: row.return_relation_schema, name: row.return_relation_name }
        : undefined,
    volatility: row.volatility,
    settings: settingPairs(row.config ?? []),
  };
}

interface ForeignKey {
  constraint: string;
  table: QualifiedName;
  foreignTable: QualifiedName;
  columns: [string, string][];
}

const sameColumns = (a: string[], b: string[]) => a.length === b.length && a.every((c) => b.includes(c));

/**
 * Relationships from foreign keys: many-to-one and its inverse (one-to-one when the FK columns are
 * unique), repeated for views whose columns carry the key columns, and many-to-many through the
 * tables whose primary key holds foreign keys to both sides.
 */
function buildRelationships(
  tables: Map<string, Table>,
  foreignKeys: ForeignKey[],
  uniqueKeys: Map<string, string[][]>,
  viewsOf: ViewsOfTables,
): Relationship[] {
  const relationships: Relationship[] = [];
  const exposed = (q: QualifiedName) => tables.has(qualifiedKey(q));
  // Every relation that can stand for `table` with respect to `cols` (the table, and its views
  // that carry all of them), with the names the columns have there.
  const standIns = (
    table: QualifiedName,
    cols: string[],
  ): { relation: QualifiedName; name: (c: string) => string }[] => [
    { relation: table, name: (c) => c },
    ...(viewsOf.get(qualifiedKey(table)) ?? [])
      .filter((v) => cols.every((c) => v.columns.has(c)))
      .map((v) => ({ relation: v.view, name: (c: string) => v.columns.get(c)! })),
  ];
  for (const fk of foreignKeys) {
    const childCols = fk.columns.map(([c]) => c);
    const isOneToOne = (uniqueKeys.get(qualifiedKey(fk.table)) ?? []).some((u) => sameColumns(u, childCols));
    for (const child of standIns(fk.table, childCols)) {
      for (const parent of standIns(
        fk.foreignTable,
        fk.columns.map(([, p]) => p),
      )) {
        if (!exposed(child.relation) || !exposed(parent.relation)) continue;
        const columns = fk.columns.map(([c, p]): [string, string] => [child.name(c), parent.name(p)]);
        relationships.push({
          table: child.relation,
          foreignTable: parent.relation,
          cardinality: isOneToOne ? 'o2o' : 'm2o',
          constraint: fk.constraint,
          columns,
          junction: undefined,
        });
        relationships.push({
          table: parent.relation,
          foreignTable: child.relation,
          cardinality: isOneToOne ? 'o2o' : 'o2m',
          constraint: fk.constraint,
          columns: columns.map(([c, p]): [string, string] => [p, c]),
          junction: undefined,
        });
      }
    }
  }
  // Many-to-many, as PostgREST (v10+) finds it: a table is a junction between the tables two of
  // its many-to-one foreign keys reference only when the columns of both keys are part of its
  // primary key (`users_tasks (user_id, task_id)`), so a table that merely holds several foreign
  // keys (invoices: account, billing run, the invoice it replaces) is not one.
  const byJunction = new Map<string, ForeignKey[]>();
  for (const fk of foreignKeys) {
    const childCols = fk.columns.map(([c]) => c);
    const isOneToOne = (uniqueKeys.get(qualifiedKey(fk.table)) ?? []).some((u) => sameColumns(u, childCols));
    if (isOneToOne || !exposed(fk.table)) continue;
    const list = byJunction.get(qualifiedKey(fk.table)) ?? [];
    list.push(fk);
    byJunction.set(qualifiedKey(fk.table), list);
  }
  for (const [junctionKey, fks] of byJunction) {
    const primaryKey = tables.get(junctionKey)?.primaryKey ?? [];
    for (const source of fks) {
      for (const target of fks) {
        if (source === target || !exposed(source.foreignTable) || !exposed(target.foreignTable)) continue;
        const keyColumns = [...source.columns, ...target.columns].map(([c]) => c);
        if (!keyColumns.every((c) => primaryKey.includes(c))) continue;
        relationships.push({
          table: source.foreignTable,
          foreignTable: target.foreignTable,
          cardinality: 'm2m',
          constraint: target.constraint,
          columns: [],
          junction: {
            table: source.table,
            sourceConstraint: source.constraint,
            sourceColumns: source.columns,
            targetConstraint: target.constraint,
            targetColumns: target.columns,
          },
        });
      }
    }
  }
  return relationships;
}

/** Reads the whole cache in one transaction-consistent pass over the catalogs. */
export async function loadSchemaCache(db: Queryable, schemas: string[]): Promise<SchemaCache> {
  // One connection runs one query at a time: read the catalogs in turn.
  const tableRows = await many(db, tablesSql, [schemas]);
  const keyRows = await many(db, keysSql, [schemas]);
  const viewsOf = await loadViewLineage(db);
  const routineRows = await many(db, routinesSql, [schemas]);
  const roleRows = await many(db, roleSettingsSql);
  const tzRows = await many<{ name: string }>(db, 'select name from pg_timezone_names');
  const tables = new Map<string, Table>();
  for (const raw of tableRows) {
    const row = tableRow.parse(raw);
    tables.set(qualifiedKey(row), {
      schema: row.schema,
      name: row.name,
      isView: row.is_view,
      description: row.description,
      insertable: row.insertable,
      updatable: row.updatable,
      deletable: row.deletable,
      primaryKey: row.primary_key,
      columns: new Map((row.columns ?? []).map((c) => [c.name, toColumn(c)])),
    });
  }

  const foreignKeys: ForeignKey[] = [];
  const uniqueKeys = new Map<string, string[][]>();
  for (const raw of keyRows) {
    const row = keyRow.parse(raw);
    if (row.kind === 'f' && row.foreign_schema !== null && row.foreign_name !== null && row.foreign_columns) {
      const foreignColumns = row.foreign_columns;
      foreignKeys.push({
        constraint: row.constraint,
        table: { schema: row.schema, name: row.name },
        foreignTable: { schema: row.foreign_schema, name: row.foreign_name },
        columns: row.columns.map((c, i): [string, string] => [c, foreignColumns[i]!]),
      });
    } else if (row.kind !== 'f') {
      const key = qualifiedKey(row);
      uniqueKeys.set(key, [...(uniqueKeys.get(key) ?? []), row.columns]);
    }
  }
  // Views inherit the primary key of their base table when they carry all its columns.
  for (const [base, views] of viewsOf) {
    const pk = tables.get(base)?.primaryKey ?? [];
    for (const v of views) {
      const view = tables.get(qualifiedKey(v.view));
      if (view && view.primaryKey.length === 0 && pk.length > 0 && pk.every((c) => v.columns.has(c))) {
        view.primaryKey = pk.map((c) => v.columns.get(c)!);
      }
    }
  }

  const routines = new Map<string, Routine[]>();
  for (const raw of routineRows) {
    const routine = toRoutine(routineRow.parse(raw));
    const key = qualifiedKey(routine);
    routines.set(key, [...(routines.get(key) ?? []), routine]);
  }
  const roleSettings = new Map<string, [string, string][]>();
  for (const raw of roleRows) {
    const row = roleSettingRow.parse(raw);
    const merged = new Map([...(roleSettings.get(row.role) ?? []), ...settingPairs(row.settings)]);
    roleSettings.set(row.role, [...merged]);
  }
  return {
    schemas,
    tables,
    relationships: buildRelationships(tables, foreignKeys, uniqueKeys, viewsOf),
    routines,
    roleSettings,
    timezones: new Set(tzRows.map((r) => r.name)),
  };
}
