// INSERT / UPDATE / DELETE / upsert statements (contract §7): the payload travels as one JSON
// parameter and is typed by json_to_record(set) with the column types from the schema cache.
import { quoteIdent } from '../../db/client.ts';
import type { Column, Table } from '../schema-types.ts';
import { qualifiedIdent, type SqlParams } from './params.ts';

/** `"a" integer, "b" text` for json_to_record(set). */
const recordDefinition = (columns: Column[]) => columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');

export interface InsertSpec {
  table: Table;
  columns: Column[];
  /** JSON array of objects. */
  payload: string;
  /** Absent keys take the column default instead of NULL. */
  applyDefaults: boolean;
  onConflict: { columns: string[]; action: 'merge' | 'ignore' } | undefined;
  /** Adds `pgrst_inserted` (true for inserted rows, false for updated ones; tables only). */
  reportInserted: boolean;
}

function returning(table: Table, reportInserted: boolean): string {
  return `RETURNING ${qualifiedIdent(table)}.*${reportInserted ? `, (${qualifiedIdent(table)}.xmax = 0) AS pgrst_inserted` : ''}`;
}

export function insertSql(spec: InsertSpec, params: SqlParams): string {
  const { table, columns } = spec;
  const payload = params.add(spec.payload);
  const values = columns.map((c) => {
    const value = `pgrst_body.${quoteIdent(c.name)}`;
    if (!spec.applyDefaults) return value;
    return `CASE WHEN pgrst_raw.j::jsonb ? ${params.add(c.name)}::text THEN ${value} ELSE ${c.default ?? 'NULL'} END`;
  });
  const target = columns.length === 0 ? '' : `(${columns.map((c) => quoteIdent(c.name)).join(', ')})`;
  const body =
    columns.length === 0
      ? `FROM json_array_elements(${payload}::json) AS pgrst_raw(j)`
      : `FROM json_array_elements(${payload}::json) AS pgrst_raw(j), LATERAL json_to_record(pgrst_raw.j) AS pgrst_body(${recordDefinition(columns)})`;
  let conflict = '';
  if (spec.onConflict) {
    const target = `ON CONFLICT (${spec.onConflict.columns.map(quoteIdent).join(', ')})`;
    conflict =
      spec.onConflict.action === 'ignore' || columns.length === 0
        ? ` ${target} DO NOTHING`
        : ` ${target} DO UPDATE SET ${columns.map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`).join(', ')}`;
  }
  return `INSERT INTO ${qualifiedIdent(table)}${target} SELECT ${values.join(', ')} ${body}${conflict} ${returning(table, spec.reportInserted)}`;
}

/** Counts the rows of an upsert that were inserted, from `pgrst_inserted` (see `reportInserted`). */
export const insertedRowsSql = '(SELECT pg_catalog.count(*) FROM pgrst_source WHERE pgrst_inserted)';

/**
 * 1 when no row matches `where` before the statement ran (the statement's snapshot does not see
 * its own changes), else 0: whether a single-row upsert inserts. Works on views too.
 */
export function insertsRowSql(table: Table, where: string[]): string {
  return `(SELECT CASE WHEN EXISTS (SELECT 1 FROM ${qualifiedIdent(table)} WHERE ${where.join(' AND ')}) THEN 0 ELSE 1 END)`;
}

export interface UpdateSpec {
  table: Table;
  /** Payload columns; those in `useDefault` are set to DEFAULT. */
  columns: Column[];
  useDefault: Set<string>;
  /** JSON object. */
  payload: string;
  where: string[];
}

export function updateSql(spec: UpdateSpec, params: SqlParams): string {
  const { table, columns } = spec;
  if (columns.length === 0) {
    // Nothing to set: no rows, but the filters' parameters still appear in the statement.
    return `SELECT ${qualifiedIdent(table)}.* FROM ${qualifiedIdent(table)} WHERE ${['false', ...spec.where].join(' AND ')}`;
  }
  const where = spec.where.length === 0 ? '' : ` WHERE ${spec.where.join(' AND ')}`;
  const sets = columns.map(
    (c) => `${quoteIdent(c.name)} = ${spec.useDefault.has(c.name) ? 'DEFAULT' : `pgrst_body.${quoteIdent(c.name)}`}`,
  );
  return (
    `UPDATE ${qualifiedIdent(table)} SET ${sets.join(', ')} ` +
    `FROM json_to_record(${params.add(spec.payload)}::json) AS pgrst_body(${recordDefinition(columns)})` +
    `${where} ${returning(table, false)}`
  );
}

export function deleteSql(table: Table, where: string[]): string {
  const condition = where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`;
  return `DELETE FROM ${qualifiedIdent(table)}${condition} ${returning(table, false)}`;
}
