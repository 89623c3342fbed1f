// Choosing the function an RPC names (contract §8): overloads by argument-name set, the single
// unnamed json/jsonb parameter as a fallback; PGRST202 / PGRST203 otherwise.
import { pgrstError } from '../errors.ts';
import type { Routine, RoutineParam, SchemaCache } from '../schema-types.ts';
import { FuzzySet } from './fuzzy.ts';

export type RoutineCall =
  { kind: 'named'; routine: Routine; supplied: RoutineParam[] } | { kind: 'single'; routine: Routine };

const hasSingleUnnamed = (r: Routine, types: string[]) =>
  r.params.length === 1 && r.params[0]!.name === '' && types.includes(r.params[0]!.type);
const isSingleJson = (r: Routine) => hasSingleUnnamed(r, ['json', 'jsonb']);

/** Raw request bodies an RPC takes as its single unnamed parameter (contract §6.3). */
export const rawBodyTypes: Record<string, string> = {
  'text/plain': 'text',
  'text/xml': 'xml',
  'application/octet-stream': 'bytea',
};

/** The function taking a raw body of `type` as its single unnamed parameter. */
export function selectRawRoutine(cache: SchemaCache, schema: string, name: string, type: string): RoutineCall {
  const routine = routinesNamed(cache, schema, name).find((r) => hasSingleUnnamed(r, [type]));
  if (routine) return { kind: 'single', routine };
  const fn = `${schema}.${name}`;
  throw pgrstError(
    'PGRST202',
    `Could not find the function ${fn} in the schema cache`,
    `Searched for the function ${fn} with a single unnamed ${type} parameter, but no matches were found in the schema cache.`,
  );
}

function signature(r: Routine): string {
  return `${r.schema}.${r.name}(${r.params.map((p) => `${p.name} => ${p.type}`).join(', ')})`;
}

export function routinesNamed(cache: SchemaCache, schema: string, name: string): Routine[] {
  return cache.routines.get(`${schema}.${name}`) ?? [];
}

/**
 * How the function is called, which PostgREST's PGRST202 details tell apart: a POST with a JSON
 * body may also have meant a function taking the whole body as one unnamed json/jsonb parameter.
 */
export type Invocation = 'post-json' | 'other';

/**
 * PostgREST's noRpcHint: when functions of that name exist, the parameter list (sorted, in
 * parentheses) closest to the one given; otherwise the closest function name in the schema.
 */
function noRoutineHint(cache: SchemaCache, schema: string, name: string, args: string[]): string | null {
  const overloads = routinesNamed(cache, schema, name);
  const list = (names: string[]) => `(${[...names].sort().join(', ')})`;
  const suggestion =
    overloads.length === 0
      ? new FuzzySet(
          [...cache.routines.values()]
            .flat()
            .filter((r) => r.schema === schema)
            .map((r) => r.name),
        ).getOne(name)
      : (() => {
          const params = new FuzzySet(overloads.map((r) => list(r.params.map((p) => p.name)))).getOne(list(args));
          return params === undefined ? undefined : `${name}${params}`;
        })();
  return suggestion === undefined ? null : `Perhaps you meant to call the function ${schema}.${suggestion}`;
}

/** The overload whose parameters fit `argNames` (undefined: the body is not an object). */
export function selectRoutine(
  cache: SchemaCache,
  schema: string,
  name: string,
  argNames: string[] | undefined,
  invocation: Invocation,
): RoutineCall {
  const candidates = routinesNamed(cache, schema, name);
  const named =
    argNames === undefined
      ? []
      : candidates.filter(
          (r) =>
            !isSingleJson(r) &&
            argNames.every((a) => r.params.some((p) => p.name === a)) &&
            r.params.every((p) => p.hasDefault || argNames.includes(p.name)),
        );
  if (named.length === 1) {
    const routine = named[0]!;
    return { kind: 'named', routine, supplied: routine.params.filter((p) => argNames!.includes(p.name)) };
  }
  if (named.length > 1) {
    throw pgrstError(
      'PGRST203',
      `Could not choose the best candidate function between: ${named.map(signature).join(', ')}`,
      null,
      'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
    );
  }
  const single = candidates.filter(isSingleJson);
  if (single.length === 1) return { kind: 'single', routine: single[0]! };
  // PostgREST's wording (Error.hs, NoRpc): the argument names sorted, "parameter" or "parameters".
  const args = [...new Set(argNames ?? [])].sort();
  const fn = `${schema}.${name}`;
  const searched =
    args.length === 0 ? ' without parameters' : ` with parameter${args.length > 1 ? 's' : ''} ${args.join(', ')}`;
  throw pgrstError(
    'PGRST202',
    `Could not find the function ${fn}${args.length === 0 ? ' without parameters' : `(${args.join(', ')})`} in the schema cache`,
    `Searched for the function ${fn}${searched}${
      invocation === 'post-json' ? ' or with a single unnamed json/jsonb parameter' : ''
    }, but no matches were found in the schema cache.`,
    noRoutineHint(cache, schema, name, args),
  );
}
