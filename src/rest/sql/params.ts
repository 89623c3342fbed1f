// Bind parameters and the few SQL text pieces derived from client input (quoted identifiers and
// cast types): values never enter SQL text.
import { quoteIdent } from '../../db/client.ts';
import { pgrstError } from '../errors.ts';

/** Collects bind parameters; `add` returns the placeholder. */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** `"schema"."name"` of a relation or function. */
export function qualifiedIdent(q: { schema: string; name: string }): string {
  return `${quoteIdent(q.schema)}.${quoteIdent(q.name)}`;
}

/** SQL-standard type spellings mapped to catalog names, so that a cast type can be quoted. */
const typeAliases: Record<string, string> = {
  int: 'int4',
  integer: 'int4',
  smallint: 'int2',
  bigint: 'int8',
  real: 'float4',
  float: 'float8',
  'double precision': 'float8',
  decimal: 'numeric',
  boolean: 'bool',
  'character varying': 'varchar',
  character: 'bpchar',
  char: 'bpchar',
  'timestamp with time zone': 'timestamptz',
  'timestamp without time zone': 'timestamp',
  'time with time zone': 'timetz',
  'time without time zone': 'time',
};

/** A cast target from `select=col::type`: a (possibly array) type name, quoted. */
export function castType(type: string): string {
  const m = /^([A-Za-z_][A-Za-z0-9_ ]*?)\s*((?:\[\])*)$/.exec(type.trim());
  if (!m)
    throw pgrstError(
      'PGRST100',
      `"failed to parse select parameter (${type})" (line 1, column 1)`,
      'unexpected cast type',
    );
  const name = m[1]!.toLowerCase().replace(/\s+/g, ' ');
  return quoteIdent(typeAliases[name] ?? name) + (m[2] ?? '');
}

/** A PostgreSQL array literal (`{"a","b"}`) of text elements. */
export function arrayLiteral(values: string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}
