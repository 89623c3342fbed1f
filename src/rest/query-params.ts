// Parser of PostgREST's query string grammar (contract §5.1–5.7): filters and operator
// expressions, logic trees, `select`, `order`, `limit`/`offset`, `columns`, `on_conflict`.
// Everything it produces is data; nothing from here reaches SQL text except through the planner.
import { pgrstError, type ApiError } from './errors.ts';
import {
  aggregateFunctions,
  ftsOperators,
  quantifiableOperators,
  simpleOperators,
  type AggregateFunction,
  type Field,
  type Filter,
  type FtsOperator,
  type IsValue,
  type JsonPathStep,
  type LogicTree,
  type NodeOptions,
  type OperatorExpression,
  type OrderTerm,
  type ParsedQuery,
  type SelectItem,
  type SimpleOperator,
} from './query-types.ts';

/** A parse failure, reported like PostgREST's parser (message names the input and the column). */
function parseError(what: string, input: string, position: number, expected: string): ApiError {
  const unexpected =
    position < input.length ? `unexpected ${JSON.stringify(input[position])}` : 'unexpected end of input';
  return pgrstError(
    'PGRST100',
    `"failed to parse ${what} (${input})" (line 1, column ${position + 1})`,
    `${unexpected} expecting ${expected}`,
  );
}

/** A character cursor over one parameter value. */
class Cursor {
  pos = 0;
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(n = 1): string {
    return this.text.slice(this.pos, this.pos + n);
  }
  eat(s: string): boolean {
    if (this.text.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }
  expect(s: string): void {
    if (!this.eat(s)) throw this.fail(JSON.stringify(s));
  }
  fail(expected: string): ApiError {
    return parseError(this.what, this.text, this.pos, expected);
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === '\n') this.pos += 1;
  }
  /** A double-quoted string with `\"` and `\\` escapes; the cursor is on the opening quote. */
  quoted(): string {
    this.expect('"');
    let out = '';
    while (!this.done && this.peek() !== '"') {
      if (this.peek() === '\\' && this.pos + 1 < this.text.length) this.pos += 1;
      out += this.peek();
      this.pos += 1;
    }
    this.expect('"');
    return out;
  }
  /** A name: quoted, or the characters up to one of `stops` or `->`. */
  name(stops: string): string {
    const start = this.pos;
    let name: string;
    if (this.peek() === '"') {
      name = this.quoted();
    } else {
      while (!this.done && !stops.includes(this.peek()) && this.peek(2) !== '->' && this.peek(2) !== '::')
        this.pos += 1;
      name = this.text.slice(start, this.pos).trim();
    }
    // PostgreSQL identifiers cannot hold NUL (it would cut the statement short).
    const nul = name.indexOf('\u0000');
    if (nul >= 0) {
      this.pos = start + nul;
      throw this.fail('a name without NUL characters');
    }
    if (name === '') throw this.fail('a name');
    return name;
  }
  /** A JSON path: `->key`, `->>key`, `->0`, `->-1`, chained. */
  jsonPath(stops: string): JsonPathStep[] {
    const steps: JsonPathStep[] = [];
    for (;;) {
      const arrow = this.eat('->>') ? '->>' : this.eat('->') ? '->' : undefined;
      if (arrow === undefined) return steps;
      const key = this.name(stops);
      steps.push({ arrow, key: /^-?\d+$/.test(key) ? Number(key) : key });
    }
  }
  field(stops: string): Field {
    const name = this.name(stops);
    return { name, jsonPath: this.jsonPath(stops) };
  }
}

// ---------------------------------------------------------------------------------------------
// Operator expressions

const isValues: readonly IsValue[] = ['null', 'not_null', 'true', 'false', 'unknown'];

/** A `"…"` element (backslash escapes any character) starting at `pos`; undefined when unclosed. */
function quotedElement(text: string, pos: number): { value: string; end: number } | undefined {
  if (text[pos] !== '"') return undefined;
  let value = '';
  let i = pos + 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === '\\') {
      if (i + 1 >= text.length) return undefined;
      i += 1;
    }
    value += text[i];
    i += 1;
  }
  return i < text.length ? { value, end: i + 1 } : undefined;
}

/**
 * The `in` list starting at `start` of `text`, as PostgREST's pListVal reads it: blanks, `(`,
 * blanks, elements separated by `,`, `)`, blanks. An element is a double-quoted string when a `,`
 * or `)` follows its closing quote, otherwise everything up to the next `,` or `)`. Errors carry
 * Parsec's position and wording, e.g. `unexpected end of input expecting "," or ")"` for `(a,b`.
 * `()` is the empty list (it matches nothing).
 */
function parseInList(text: string, start: number, what: string): string[] {
  let pos = start;
  const fail = (expected: string) => parseError(what, text, pos, expected);
  const blanks = () => {
    while (text[pos] === ' ' || text[pos] === '\t') pos += 1;
  };
  blanks();
  if (text[pos] !== '(') throw fail('"("');
  pos += 1;
  blanks();
  const listStart = pos;
  const values: string[] = [];
  for (;;) {
    const quoted = quotedElement(text, pos);
    if (quoted && (quoted.end >= text.length || text[quoted.end] === ',' || text[quoted.end] === ')')) {
      values.push(quoted.value);
      pos = quoted.end;
    } else {
      const elementStart = pos;
      while (pos < text.length && text[pos] !== ',' && text[pos] !== ')') pos += 1;
      values.push(text.slice(elementStart, pos));
    }
    if (text[pos] !== ',') break;
    pos += 1;
  }
  if (text[pos] !== ')') throw fail('"," or ")"');
  const empty = pos === listStart;
  pos += 1;
  blanks();
  // PostgREST ignores whatever follows the list; the gateway refuses it.
  if (pos < text.length) throw fail('end of input');
  return empty ? [] : values;
}

/** Parses `[not.]op[(modifier)].value`; PGRST100 when `text` is not an operator expression. */
export function parseOperatorExpression(
  text: string,
  what = 'filter',
): { negated: boolean; expression: OperatorExpression } {
  let rest = text;
  let negated = false;
  if (rest.startsWith('not.')) {
    negated = true;
    rest = rest.slice(4);
  }
  const m = /^([a-z]+)(?:\(([^)]*)\))?\./.exec(rest);
  const fail = () => parseError(what, text, negated ? 4 : 0, 'operator (eq, gt, ...) or "not"');
  if (!m) throw fail();
  const op = m[1]!;
  const modifier = m[2];
  const value = rest.slice(m[0].length);
  if (Object.hasOwn(simpleOperators, op)) {
    const simple = op as SimpleOperator;
    if (modifier !== undefined) {
      if ((modifier !== 'any' && modifier !== 'all') || !quantifiableOperators.includes(simple)) throw fail();
      return { negated, expression: { kind: 'simple', op: simple, quantifier: modifier, value } };
    }
    return { negated, expression: { kind: 'simple', op: simple, quantifier: undefined, value } };
  }
  if (Object.hasOwn(ftsOperators, op)) {
    return { negated, expression: { kind: 'fts', op: op as FtsOperator, config: modifier, value } };
  }
  if (modifier !== undefined) throw fail();
  if (op === 'in') {
    return { negated, expression: { kind: 'in', values: parseInList(text, text.length - value.length, what) } };
  }
  if (op === 'is') {
    const v = value.toLowerCase() as IsValue;
    if (!isValues.includes(v)) {
      throw parseError(what, text, text.length - value.length, 'null or trilean value (unknown, true, false)');
    }
    return { negated, expression: { kind: 'is', value: v } };
  }
  throw fail();
}

// ---------------------------------------------------------------------------------------------
// Logic trees: `(a.eq.1,or(b.gt.2,c.is.null))`

/** Reads a logic-tree value up to the next top-level `,` or `)`, honouring quotes, `{}` and `()`. */
function logicValue(cursor: Cursor): string {
  let out = '';
  let depth = 0;
  while (!cursor.done) {
    const c = cursor.peek();
    if (c === '"' && depth === 0) {
      out += cursor.quoted();
      continue;
    }
    if (depth === 0 && (c === ',' || c === ')')) break;
    if (c === '(' || c === '{') depth += 1;
    if (c === ')' || c === '}') depth -= 1;
    out += c;
    cursor.pos += 1;
  }
  return out;
}

function logicChildren(cursor: Cursor): LogicTree[] {
  cursor.expect('(');
  const children: LogicTree[] = [];
  do {
    cursor.skipSpaces();
    children.push(logicItem(cursor));
    cursor.skipSpaces();
  } while (cursor.eat(','));
  cursor.expect(')');
  return children;
}

function logicItem(cursor: Cursor): LogicTree {
  const negated = cursor.eat('not.');
  for (const op of ['and', 'or'] as const) {
    if (cursor.peek(op.length + 1) === `${op}(`) {
      cursor.pos += op.length;
      return { kind: 'logic', op, negated, children: logicChildren(cursor) };
    }
  }
  if (negated) cursor.pos -= 4;
  const field = cursor.field('.,()');
  cursor.expect('.');
  const start = cursor.pos;
  const raw = cursor.text.slice(start);
  // The operator part is plain text; only the value may be quoted.
  const opMatch = /^(not\.)?([a-z]+)(\([^)]*\))?\./.exec(raw);
  if (!opMatch) throw cursor.fail('operator (eq, gt, ...)');
  cursor.pos += opMatch[0].length;
  const value = opMatch[2] === 'in' && cursor.peek() === '(' ? inListText(cursor) : logicValue(cursor);
  const parsed = parseOperatorExpression(opMatch[0] + value, cursor.what);
  return { kind: 'filter', filter: { field, negated: parsed.negated, expression: parsed.expression } };
}

/** `in.(…)` inside a logic tree: kept whole (quotes included) for the list parser. */
function inListText(cursor: Cursor): string {
  const start = cursor.pos;
  let inQuotes = false;
  while (!cursor.done) {
    const c = cursor.peek();
    cursor.pos += 1;
    if (c === '\\' && inQuotes) cursor.pos += 1;
    else if (c === '"') inQuotes = !inQuotes;
    else if (c === ')' && !inQuotes) return cursor.text.slice(start, cursor.pos);
  }
  throw cursor.fail('")"');
}

export function parseLogicTree(op: 'and' | 'or', negated: boolean, value: string): LogicTree {
  const cursor = new Cursor(value, 'logic tree');
  const children = logicChildren(cursor);
  if (!cursor.done) throw cursor.fail('end of input');
  return { kind: 'logic', op, negated, children };
}

// ---------------------------------------------------------------------------------------------
// select

function selectItems(cursor: Cursor, nested: boolean): SelectItem[] {
  const items: SelectItem[] = [];
  cursor.skipSpaces();
  if (nested && cursor.peek() === ')') return items;
  if (cursor.done) return items;
  do {
    cursor.skipSpaces();
    items.push(selectItem(cursor));
    cursor.skipSpaces();
  } while (cursor.eat(','));
  return items;
}

/** `::type` after a field or an aggregate. */
function castSuffix(cursor: Cursor): string | undefined {
  if (!cursor.eat('::')) return undefined;
  const start = cursor.pos;
  while (!cursor.done && cursor.peek() !== ',' && cursor.peek() !== ')') cursor.pos += 1;
  const cast = cursor.text.slice(start, cursor.pos).trim();
  if (cast === '') throw cursor.fail('a type name');
  return cast;
}

function selectItem(cursor: Cursor): SelectItem {
  if (cursor.eat('*')) return { kind: 'star' };
  const spread = cursor.eat('...');
  const first = cursor.name(',()!:.');
  let alias: string | undefined;
  let name = first;
  if (cursor.peek() === ':' && cursor.peek(2) !== '::') {
    cursor.pos += 1;
    alias = first;
    cursor.skipSpaces();
    name = cursor.name(',()!:.');
  }
  if (name === 'count' && cursor.eat('()')) {
    return { kind: 'field', field: undefined, alias, cast: castSuffix(cursor), aggregate: 'count' };
  }
  if (cursor.peek() === '!' || cursor.peek() === '(') {
    let hint: string | undefined;
    let joinType: 'inner' | 'left' | undefined;
    while (cursor.eat('!')) {
      const word = cursor.name(',()!:.');
      if (word === 'inner' || word === 'left') joinType = word;
      else hint = word;
    }
    cursor.expect('(');
    const select = selectItems(cursor, true);
    cursor.expect(')');
    return { kind: 'embed', name, alias, hint, joinType, spread, select };
  }
  if (spread) throw cursor.fail('"("');
  const jsonPath = cursor.jsonPath(',()!:.');
  let aggregate: AggregateFunction | undefined;
  if (cursor.peek() === '.') {
    const m = /^\.([a-z]+)\(\)/.exec(cursor.text.slice(cursor.pos));
    aggregate = aggregateFunctions.find((f) => f === m?.[1]);
    if (!m || aggregate === undefined) throw cursor.fail('an aggregate (count(), sum(), avg(), max(), min())');
    cursor.pos += m[0].length;
  }
  return { kind: 'field', field: { name, jsonPath }, alias, cast: castSuffix(cursor), aggregate };
}

export function parseSelect(value: string): SelectItem[] {
  const cursor = new Cursor(value, 'select parameter');
  const items = selectItems(cursor, false);
  if (!cursor.done) throw cursor.fail('"," or end of input');
  return items;
}

// ---------------------------------------------------------------------------------------------
// order

export function parseOrder(value: string): OrderTerm[] {
  const cursor = new Cursor(value, 'order');
  const terms: OrderTerm[] = [];
  do {
    cursor.skipSpaces();
    let relation: string | undefined;
    let field = cursor.field('.,()');
    if (cursor.eat('(')) {
      relation = field.name;
      field = cursor.field('.,()');
      cursor.expect(')');
    }
    let direction: OrderTerm['direction'];
    let nulls: OrderTerm['nulls'];
    while (cursor.eat('.')) {
      if (direction === undefined && nulls === undefined && (cursor.eat('asc') || cursor.eat('desc'))) {
        direction = cursor.text.slice(cursor.pos - 4, cursor.pos) === 'desc' ? 'desc' : 'asc';
      } else if (nulls === undefined && cursor.eat('nullsfirst')) nulls = 'first';
      else if (nulls === undefined && cursor.eat('nullslast')) nulls = 'last';
      else throw cursor.fail('"asc", "desc", "nullsfirst" or "nullslast"');
    }
    terms.push({ relation, field, direction, nulls });
  } while (cursor.eat(','));
  if (!cursor.done) throw cursor.fail('"," or end of input');
  return terms;
}

/** `a,b` or `"a","b"` (columns=, on_conflict=). */
export function parseNameList(value: string, what: string): string[] {
  const cursor = new Cursor(value, what);
  const names: string[] = [];
  do {
    cursor.skipSpaces();
    names.push(cursor.name(','));
    cursor.skipSpaces();
  } while (cursor.eat(','));
  if (!cursor.done) throw cursor.fail('"," or end of input');
  return names;
}

// ---------------------------------------------------------------------------------------------
// The whole query string

/** `limit`/`offset`: non-numbers are ignored (as PostgREST does); a negative limit is a 416. */
function rangeParameter(value: string, what: 'limit' | 'offset'): number | undefined {
  if (!/^-?\d+$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  if (n >= 0) return n;
  if (what === 'limit') {
    throw pgrstError('PGRST103', 'Requested range not satisfiable', 'Limit should be greater than or equal to zero.');
  }
  throw parseError(what, value, 0, 'a non-negative number');
}

const operatorNames = new Set<string>([...Object.keys(simpleOperators), ...Object.keys(ftsOperators), 'in', 'is']);

/**
 * PostgREST's rule: a parameter is a filter when its key has an embed path or its value starts
 * with an operator (`not.…` included); anything else is a function argument (ignored on tables).
 */
function isFilter(key: string, value: string): boolean {
  if (key.includes('.')) return true;
  const head = value.split('.')[0] ?? '';
  if (head === 'not' && value.includes('.')) return true;
  return operatorNames.has(head.replace(/\(.*$/, ''));
}

/** Splits a parameter key into its embed path and last name (quoted segments may hold dots). */
function splitKey(key: string): string[] {
  const cursor = new Cursor(key, 'tree path');
  const parts: string[] = [];
  while (!cursor.done) {
    if (cursor.peek() === '"') {
      const start = cursor.pos;
      cursor.quoted();
      // Keep a JSON path after a quoted name attached to it.
      while (!cursor.done && cursor.peek() !== '.') cursor.pos += 1;
      parts.push(key.slice(start, cursor.pos));
    } else {
      const start = cursor.pos;
      while (!cursor.done && cursor.peek() !== '.' && cursor.peek(2) !== '->') cursor.pos += 1;
      if (cursor.peek(2) === '->') cursor.pos = key.length;
      parts.push(key.slice(start, cursor.pos));
    }
    cursor.eat('.');
  }
  return parts;
}

const emptyNode = (): NodeOptions => ({ filters: [], order: undefined, limit: undefined, offset: undefined });

/** Parses the query string (contract §5.1). */
export function parseQuery(params: [string, string][]): ParsedQuery {
  const result: ParsedQuery = {
    select: [{ kind: 'star' }],
    columns: undefined,
    onConflict: undefined,
    nodes: new Map(),
    arguments: [],
  };
  const node = (path: string[]): NodeOptions => {
    const key = path.join('.');
    let n = result.nodes.get(key);
    if (!n) {
      n = emptyNode();
      result.nodes.set(key, n);
    }
    return n;
  };
  node([]);
  for (const [key, value] of params) {
    if (key === 'select') {
      const items = parseSelect(value);
      result.select = items.length === 0 ? [{ kind: 'star' }] : items;
      continue;
    }
    if (key === 'columns') {
      result.columns = parseNameList(value, 'columns parameter');
      continue;
    }
    if (key === 'on_conflict') {
      result.onConflict = parseNameList(value, 'on_conflict parameter');
      continue;
    }
    const parts = splitKey(key);
    const last = parts[parts.length - 1] ?? '';
    const beforeLast = parts[parts.length - 2];
    if (last === 'or' || last === 'and') {
      const negated = beforeLast === 'not';
      const path = parts.slice(0, negated ? -2 : -1);
      node(path).filters.push(parseLogicTree(last, negated, value));
      continue;
    }
    const path = parts.slice(0, -1);
    if (last === 'order') {
      node(path).order = parseOrder(value);
    } else if (last === 'limit' || last === 'offset') {
      node(path)[last] = rangeParameter(value, last);
    } else if (!isFilter(key, value)) {
      result.arguments.push([key, value]);
    } else {
      const cursor = new Cursor(last, 'tree path');
      const field = cursor.field('');
      const { negated, expression } = parseOperatorExpression(value);
      const filter: Filter = { field, negated, expression };
      node(path).filters.push({ kind: 'filter', filter });
    }
  }
  return result;
}
