// RPC: POST/GET/HEAD /rpc/<function> (contract §8).
import { quoteIdent } from '../../db/client.ts';
import { header, type Deps, type RequestContext } from '../context.ts';
import { isRecord } from '../errors.ts';
import { execute, maxAffectedCheck, preferenceHeaders } from '../execute.ts';
import { negotiate } from '../media-types.ts';
import { columnsOf, planRead } from '../plan/read-plan.ts';
import {
  rawBodyTypes,
  routinesNamed,
  selectRawRoutine,
  selectRoutine,
  type RoutineCall,
} from '../plan/routine-plan.ts';
import type { Echoable } from '../preferences.ts';
import { parseQuery } from '../query-params.ts';
import type { ParsedQuery } from '../query-types.ts';
import { bodyMediaType, parseBodyValue } from '../request-body.ts';
import { applyResponseGucs, type ApiResponse } from '../response.ts';
import type { SchemaCache } from '../schema-types.ts';
import { callSql, returnsScalar } from '../sql/call-sql.ts';
import type { BodyShape } from '../sql/main-query.ts';
import { SqlParams } from '../sql/params.ts';
import { nodeSelectSql } from '../sql/read-sql.ts';
import { applyWindow, bodyShape, countParts, readOptions, readResponse } from './read.ts';

/** The arguments as one JSON text, and the routine they select. */
function resolveCall(
  cache: SchemaCache,
  ctx: RequestContext,
  name: string,
  parsed: ParsedQuery,
): { call: RoutineCall; args: string | Buffer } {
  if (ctx.method !== 'POST') {
    const args: Record<string, string | string[]> = {};
    const routines = routinesNamed(cache, ctx.schema, name);
    for (const [k, v] of parsed.arguments) {
      const variadic = routines.some((r) => r.params.some((p) => p.name === k && p.variadic));
      const previous = args[k];
      if (variadic) args[k] = [...(Array.isArray(previous) ? previous : []), v];
      else if (previous === undefined) args[k] = v;
    }
    return { call: selectRoutine(cache, ctx.schema, name, Object.keys(args), 'other'), args: JSON.stringify(args) };
  }
  const rawType = rawBodyTypes[bodyMediaType(ctx)];
  if (rawType !== undefined) {
    const call = selectRawRoutine(cache, ctx.schema, name, rawType);
    return { call, args: rawType === 'bytea' ? ctx.body : ctx.body.toString('utf8') };
  }
  const value = ctx.body.length === 0 ? {} : parseBodyValue(ctx);
  const invocation = bodyMediaType(ctx) === 'application/json' ? 'post-json' : 'other';
  if (!isRecord(value)) {
    return { call: selectRoutine(cache, ctx.schema, name, undefined, invocation), args: JSON.stringify(value) };
  }
  const keys = parsed.columns ?? Object.keys(value);
  const call = selectRoutine(cache, ctx.schema, name, keys, invocation);
  const picked = Object.fromEntries(keys.filter((k) => Object.hasOwn(value, k)).map((k) => [k, value[k]]));
  return { call, args: JSON.stringify(call.kind === 'single' ? value : picked) };
}

export async function handleRpc(deps: Deps, ctx: RequestContext, name: string): Promise<ApiResponse> {
  const cache = deps.cache();
  const parsed = parseQuery(ctx.query);
  const { call, args } = resolveCall(cache, ctx, name, parsed);
  const { routine } = call;
  const media = negotiate(header(ctx, 'accept'), ['json', 'object', 'csv'], routine.mediaType?.type);
  const params = new SqlParams();
  const source = callSql(call, args, params);
  const offset = applyWindow(deps, ctx, parsed);
  const scalar = returnsScalar(call);
  let rows: string;
  let counts: ReturnType<typeof countParts> = { total: undefined, plannedCount: undefined };
  if (scalar) {
    rows = 'SELECT pgrst_source.pgrst_scalar FROM pgrst_source';
  } else {
    const alias = quoteIdent(routine.name);
    const relation = routine.returnTable ?? { schema: routine.schema, name: routine.name };
    const columns = routine.returnColumns.length > 0 ? routine.returnColumns : columnsOf(cache, relation);
    const node = planRead(
      cache,
      { relation, columns, from: `pgrst_source AS ${alias}`, qualifier: alias },
      parsed,
      readOptions(deps),
    );
    rows = nodeSelectSql(node, params);
    counts = countParts(ctx, node, params);
  }
  const shape: BodyShape =
    media.kind === 'custom'
      ? routine.mediaType?.binary
        ? 'raw-bytes'
        : 'raw-text'
      : routine.returnKind === 'void'
        ? 'none'
        : scalar
          ? routine.returnsSet
            ? 'setof-scalar'
            : 'scalar'
          : routine.returnsSet
            ? bodyShape(media)
            : 'single';
  const hoistable = new Set(deps.config.dbHoistedTxSettings);
  const result = await execute(deps, ctx, {
    readOnly: ctx.method !== 'POST' || routine.volatility !== 'v',
    main: {
      source,
      rows,
      total: counts.total,
      shape,
      stripNulls: media.stripNulls,
      locationColumns: undefined,
      inserted: undefined,
    },
    values: params.values,
    plannedCount: counts.plannedCount,
    hoisted: routine.settings.filter(([k]) => hoistable.has(k)),
    check: maxAffectedCheck(ctx, routine.returnsSet),
    media: media.kind === 'object' && routine.returnKind !== 'void' ? media : undefined,
  });
  const echo: Echoable[] = ['count', 'tx', 'handling', 'timezone', 'maxAffected'];
  if (routine.returnKind === 'void') {
    return applyResponseGucs({ status: 204, headers: preferenceHeaders(deps, ctx, echo), body: undefined }, result.row);
  }
  return readResponse(deps, ctx, media, offset, result, echo);
}
