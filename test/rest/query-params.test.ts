// The query-string parser on its own (contract §5.1–5.6): what each parameter becomes.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/rest/errors.ts';
import { parseLogicTree, parseOrder, parseQuery, parseSelect } from '../../src/rest/query-params.ts';

const field = (name: string, jsonPath: { arrow: '->' | '->>'; key: string | number }[] = []) => ({ name, jsonPath });

describe('select', () => {
  it('parses fields, aliases, casts, JSON paths and quoted names', () => {
    expect(parseSelect('id, label:name ,price::text,data->a->>0,"my, col",w:data->-1::int')).toEqual([
      { kind: 'field', field: field('id'), alias: undefined, cast: undefined, aggregate: undefined },
      { kind: 'field', field: field('name'), alias: 'label', cast: undefined, aggregate: undefined },
      { kind: 'field', field: field('price'), alias: undefined, cast: 'text', aggregate: undefined },
      {
        kind: 'field',
        field: field('data', [
          { arrow: '->', key: 'a' },
          { arrow: '->>', key: 0 },
        ]),
        alias: undefined,
        cast: undefined,
      },
      { kind: 'field', field: field('my, col'), alias: undefined, cast: undefined, aggregate: undefined },
      {
        kind: 'field',
        field: field('data', [{ arrow: '->', key: -1 }]),
        alias: 'w',
        cast: 'int',
        aggregate: undefined,
      },
    ]);
  });

  it('parses embeds with aliases, hints, join types, spreads and nesting', () => {
    expect(parseSelect('*,owner:users!sender_id!inner(name,tasks(*)),...clients(n:name),empty()')).toEqual([
      { kind: 'star' },
      {
        kind: 'embed',
        name: 'users',
        alias: 'owner',
        hint: 'sender_id',
        joinType: 'inner',
        spread: false,
        select: [
          { kind: 'field', field: field('name'), alias: undefined, cast: undefined, aggregate: undefined },
          {
            kind: 'embed',
            name: 'tasks',
            alias: undefined,
            hint: undefined,
            joinType: undefined,
            spread: false,
            select: [{ kind: 'star' }],
          },
        ],
      },
      {
        kind: 'embed',
        name: 'clients',
        alias: undefined,
        hint: undefined,
        joinType: undefined,
        spread: true,
        select: [{ kind: 'field', field: field('name'), alias: 'n', cast: undefined, aggregate: undefined }],
      },
      {
        kind: 'embed',
        name: 'empty',
        alias: undefined,
        hint: undefined,
        joinType: undefined,
        spread: false,
        select: [],
      },
    ]);
  });

  it('parses aggregates and rejects unbalanced parentheses', () => {
    expect(parseSelect('total:amount.sum()::int,count()')).toEqual([
      { kind: 'field', field: field('amount'), alias: 'total', cast: 'int', aggregate: 'sum' },
      { kind: 'field', field: undefined, alias: undefined, cast: undefined, aggregate: 'count' },
    ]);
    expect(() => parseSelect('amount.median()')).toThrow(ApiError);
    expect(() => parseSelect('id,clients(name')).toThrow(ApiError);
  });
});

describe('order and logic trees', () => {
  it('parses directions, nulls placement and related columns', () => {
    expect(parseOrder('a,b.desc,c.asc.nullslast,d.nullsfirst,clients(name).desc,data->>x')).toEqual([
      { relation: undefined, field: field('a'), direction: undefined, nulls: undefined },
      { relation: undefined, field: field('b'), direction: 'desc', nulls: undefined },
      { relation: undefined, field: field('c'), direction: 'asc', nulls: 'last' },
      { relation: undefined, field: field('d'), direction: undefined, nulls: 'first' },
      { relation: 'clients', field: field('name'), direction: 'desc', nulls: undefined },
      {
        relation: undefined,
        field: field('data', [{ arrow: '->>', key: 'x' }]),
        direction: undefined,
        nulls: undefined,
      },
    ]);
  });

  it('parses nested trees with quoted values, lists and arrays', () => {
    expect(parseLogicTree('or', false, '(a.eq."x,y",and(b.in.(1,"2,3"),c.not.cs.{1,2}),d.is.null)')).toEqual({
      kind: 'logic',
      op: 'or',
      negated: false,
      children: [
        {
          kind: 'filter',
          filter: {
            field: field('a'),
            negated: false,
            expression: { kind: 'simple', op: 'eq', quantifier: undefined, value: 'x,y' },
          },
        },
        {
          kind: 'logic',
          op: 'and',
          negated: false,
          children: [
            {
              kind: 'filter',
              filter: { field: field('b'), negated: false, expression: { kind: 'in', values: ['1', '2,3'] } },
            },
            {
              kind: 'filter',
              filter: {
                field: field('c'),
                negated: true,
                expression: { kind: 'simple', op: 'cs', quantifier: undefined, value: '{1,2}' },
              },
            },
          ],
        },
        { kind: 'filter', filter: { field: field('d'), negated: false, expression: { kind: 'is', value: 'null' } } },
      ],
    });
  });
});

describe('the query string', () => {
  it('sorts parameters into select, per-embed options, filters and function arguments', () => {
    const parsed = parseQuery([
      ['select', 'id,tasks(id)'],
      ['id', 'gt.1'],
      ['tasks.order', 'id.desc'],
      ['tasks.limit', '2'],
      ['tasks.not.or', '(id.eq.1,id.eq.2)'],
      ['a', '1'],
      ['limit', 'x'],
      ['columns', '"a",b'],
      ['on_conflict', 'a'],
    ]);
    expect(parsed.arguments).toEqual([['a', '1']]);
    expect(parsed.columns).toEqual(['a', 'b']);
    expect(parsed.onConflict).toEqual(['a']);
    expect(parsed.nodes.get('')).toMatchObject({ limit: undefined, filters: [{ kind: 'filter' }] });
    expect(parsed.nodes.get('tasks')).toMatchObject({
      limit: 2,
      order: [{ direction: 'desc' }],
      filters: [{ kind: 'logic', op: 'or', negated: true }],
    });
  });

  it('reports a parse error as PGRST100 with the position', () => {
    try {
      parseQuery([['id', 'eq(some).1']]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).body()).toMatchObject({
        code: 'PGRST100',
        message: '"failed to parse filter (eq(some).1)" (line 1, column 1)',
      });
    }
  });

  it.each([
    // Parsec's messages for PostgREST's list parser: `(` elements separated by `,` then `)`.
    ['in.(abc', 8, 'unexpected end of input expecting "," or ")"'],
    ['in.("abc', 9, 'unexpected end of input expecting "," or ")"'],
    ['in.(a,b', 8, 'unexpected end of input expecting "," or ")"'],
    ['in.abc', 4, 'unexpected "a" expecting "("'],
    ['in.', 4, 'unexpected end of input expecting "("'],
    ['not.in.(1', 10, 'unexpected end of input expecting "," or ")"'],
  ])('reports %s as PostgREST does', (value, column, details) => {
    try {
      parseQuery([['register_id', value]]);
      expect.unreachable();
    } catch (error) {
      expect((error as ApiError).body()).toEqual({
        code: 'PGRST100',
        details,
        hint: null,
        message: `"failed to parse filter (${value})" (line 1, column ${column})`,
      });
    }
  });

  it('parses in-lists as PostgREST does: blanks around the parentheses, quoted elements', () => {
    const parsed = parseQuery([['id', 'in. ( 1,"2,3",4 ) ']]);
    expect(parsed.nodes.get('')?.filters).toMatchObject([
      { kind: 'filter', filter: { expression: { kind: 'in', values: ['1', '2,3', '4 '] } } },
    ]);
  });
});
