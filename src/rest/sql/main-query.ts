// The single-row main query (contract §2.4): total, page count, body, Location keys and the
// response GUCs read back, all in one row.
import { quoteIdent } from '../../db/client.ts';

/** `raw-text` / `raw-bytes`: the first scalar as is (media-type handlers). */
export type BodyShape = 'array' | 'single' | 'scalar' | 'setof-scalar' | 'csv' | 'raw-text' | 'raw-bytes' | 'none';

export interface MainQuery {
  /** Body of the `pgrst_source` CTE (a mutation or function call), if any. */
  source: string | undefined;
  /** The SELECT producing the response rows. */
  rows: string;
  /** SQL of the total count, when counted in the query. */
  total: string | undefined;
  shape: BodyShape;
  stripNulls: boolean;
  /** Primary-key columns reported for `Location`. */
  locationColumns: string[] | undefined;
  /** SQL counting the rows an upsert inserted (rather than updated), when that matters. */
  inserted: string | undefined;
}

function bodySql(shape: BodyShape, stripNulls: boolean): string {
  const strip = (json: string) => (stripNulls ? `json_strip_nulls(${json})` : json);
  switch (shape) {
    case 'array':
      return `coalesce(${strip('json_agg(_postgrest_t)')}, '[]')::text`;
    case 'single':
      return `coalesce((${strip('json_agg(_postgrest_t)->0')})::text, 'null')`;
    case 'scalar':
      return `coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')`;
    case 'setof-scalar':
      return `coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text`;
    case 'csv':
      return (
        `coalesce((SELECT string_agg(k, ',') FROM json_object_keys((array_agg(row_to_json(_postgrest_t)))[1]) AS k) || chr(10), '') || ` +
        `coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), chr(10)), '')`
      );
    case 'raw-text':
      return '(array_agg(_postgrest_t.pgrst_scalar))[1]::text';
    case 'raw-bytes':
    case 'none':
      return 'NULL::text';
  }
}

export interface MainRow {
  total_result_set: string | null;
  page_total: string;
  body: string | null;
  /** The body of `raw-bytes` answers. */
  bytes: Buffer | null;
  location: string | null;
  response_headers: string | null;
  response_status: string | null;
  inserted: string | null;
}

export function mainQuerySql(q: MainQuery): string {
  const cte = q.source === undefined ? '' : `WITH pgrst_source AS (${q.source}) `;
  const location =
    q.locationColumns === undefined || q.locationColumns.length === 0
      ? 'NULL::text'
      : `(SELECT json_agg(json_build_array(${q.locationColumns.map((c) => `${quoteIdent(c)}::text`).join(', ')}))::text FROM pgrst_source)`;
  const inserted = q.inserted ?? 'NULL::bigint';
  return (
    `${cte}SELECT ${q.total === undefined ? 'NULL::bigint' : `(${q.total})`} AS total_result_set, ` +
    `pg_catalog.count(_postgrest_t) AS page_total, ${bodySql(q.shape, q.stripNulls)} AS body, ` +
    `${q.shape === 'raw-bytes' ? '(array_agg(_postgrest_t.pgrst_scalar))[1]::bytea' : 'NULL::bytea'} AS bytes, ${location} AS location, ` +
    `nullif(current_setting('response.headers', true), '') AS response_headers, ` +
    `nullif(current_setting('response.status', true), '') AS response_status, ${inserted} AS inserted ` +
    `FROM (${q.rows}) _postgrest_t`
  );
}
