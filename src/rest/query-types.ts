// The parsed request: what the query string says, before it is checked against the schema cache.

export interface JsonPathStep {
  arrow: '->' | '->>';
  /** A key, or an array index (integers, also negative). */
  key: string | number;
}

export interface Field {
  name: string;
  jsonPath: JsonPathStep[];
}

export const simpleOperators = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'LIKE',
  ilike: 'ILIKE',
  match: '~',
  imatch: '~*',
  isdistinct: 'IS DISTINCT FROM',
  cs: '@>',
  cd: '<@',
  ov: '&&',
  sl: '<<',
  sr: '>>',
  nxr: '&<',
  nxl: '&>',
  adj: '-|-',
} as const;
export type SimpleOperator = keyof typeof simpleOperators;

/** Operators that take an `(any)` / `(all)` modifier. */
export const quantifiableOperators: readonly SimpleOperator[] = [
  'eq',
  'gt',
  'gte',
  'lt',
  'lte',
  'like',
  'ilike',
  'match',
  'imatch',
];

export const ftsOperators = {
  fts: 'to_tsquery',
  plfts: 'plainto_tsquery',
  phfts: 'phraseto_tsquery',
  wfts: 'websearch_to_tsquery',
} as const;
export type FtsOperator = keyof typeof ftsOperators;

export type IsValue = 'null' | 'not_null' | 'true' | 'false' | 'unknown';

export type OperatorExpression =
  | { kind: 'simple'; op: SimpleOperator; quantifier: 'any' | 'all' | undefined; value: string }
  | { kind: 'in'; values: string[] }
  | { kind: 'is'; value: IsValue }
  | { kind: 'fts'; op: FtsOperator; config: string | undefined; value: string };

export interface Filter {
  field: Field;
  negated: boolean;
  expression: OperatorExpression;
}

export type LogicTree =
  { kind: 'filter'; filter: Filter } | { kind: 'logic'; op: 'and' | 'or'; negated: boolean; children: LogicTree[] };

export const aggregateFunctions = ['count', 'sum', 'avg', 'max', 'min'] as const;
export type AggregateFunction = (typeof aggregateFunctions)[number];

/** A column (maybe aggregated: `amount.sum()`), or `count()` of the rows (`field` undefined). */
export interface FieldSelect {
  kind: 'field';
  field: Field | undefined;
  alias: string | undefined;
  cast: string | undefined;
  aggregate: AggregateFunction | undefined;
}

export type SelectItem =
  | { kind: 'star' }
  | FieldSelect
  | {
      kind: 'embed';
      name: string;
      alias: string | undefined;
      hint: string | undefined;
      joinType: 'inner' | 'left' | undefined;
      spread: boolean;
      select: SelectItem[];
    };

export interface OrderTerm {
  /** Set for `order=relation(column)` (ordering by a to-one embed's column). */
  relation: string | undefined;
  field: Field;
  direction: 'asc' | 'desc' | undefined;
  nulls: 'first' | 'last' | undefined;
}

/** Per embed path (`''` = the root): the options that may be prefixed with an embed path. */
export interface NodeOptions {
  filters: LogicTree[];
  order: OrderTerm[] | undefined;
  limit: number | undefined;
  offset: number | undefined;
}

export interface ParsedQuery {
  select: SelectItem[];
  columns: string[] | undefined;
  onConflict: string[] | undefined;
  /** Keyed by embed path joined with '.', `''` for the root. */
  nodes: Map<string, NodeOptions>;
  /** Parameters that are not filters: function arguments of a GET RPC (ignored elsewhere). */
  arguments: [string, string][];
}
