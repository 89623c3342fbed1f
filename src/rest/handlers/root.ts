// GET/HEAD `/`: the OpenAPI document (contract §10), listing what the role may use in
// follow-privileges mode; 404 PGRST126 when disabled.
import { z } from 'zod';
import { header, type Deps, type RequestContext } from '../context.ts';
import { pgrstError } from '../errors.ts';
import { contentTypeHeaders, readRowsAsJson } from '../execute.ts';
import { negotiate } from '../media-types.ts';
import { openApiDocument } from '../openapi.ts';
import type { ApiResponse } from '../response.ts';
import { SqlParams } from '../sql/params.ts';

const visibleSql = (schema: string) => `
SELECT 'schema' AS kind, obj_description(n.oid, 'pg_namespace') AS name FROM pg_namespace n WHERE n.nspname = ${schema}
UNION ALL
SELECT 'table', c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND (has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE') OR has_table_privilege(c.oid, 'DELETE'))
UNION ALL
SELECT 'function', p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ${schema} AND has_function_privilege(p.oid, 'EXECUTE')`;

const visibleRows = z.array(z.object({ kind: z.enum(['schema', 'table', 'function']), name: z.string().nullable() }));

export async function handleRoot(deps: Deps, ctx: RequestContext): Promise<ApiResponse> {
  if (deps.config.openapiMode === 'disabled') throw pgrstError('PGRST126', 'Root endpoint metadata is disabled');
  negotiate(header(ctx, 'accept'), ['openapi', 'json']);
  const params = new SqlParams();
  const rows = visibleSql(params.add(ctx.schema));
  const visible = visibleRows.parse(JSON.parse(await readRowsAsJson(deps, ctx, rows, params.values)));
  const names = (kind: string) => new Set(visible.filter((v) => v.kind === kind).map((v) => v.name ?? ''));
  const follow = deps.config.openapiMode === 'follow-privileges';
  const document = openApiDocument({
    cache: deps.cache(),
    schema: ctx.schema,
    schemaComment: visible.find((v) => v.kind === 'schema')?.name ?? null,
    visibleTables: follow ? names('table') : undefined,
    visibleRoutines: follow ? names('function') : undefined,
    config: deps.config,
    host: header(ctx, 'host'),
  });
  return {
    status: 200,
    headers: contentTypeHeaders(deps, ctx, 'application/openapi+json; charset=utf-8'),
    body: JSON.stringify(document),
  };
}
