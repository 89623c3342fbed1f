// SQL for field references, filters, logic trees and ORDER BY terms. Identifiers are quoted,
// values are bind parameters, JSON path keys too.
import { quoteIdent } from '../../db/client.ts';
import { pgrstError } from '../errors.ts';
import {
  ftsOperators,
  simpleOperators,
  type Field,
  type Filter,
  type LogicTree,
  type OrderTerm,
} from '../query-types.ts';
import type { Column } from '../schema-types.ts';
import { arrayLiteral, type SqlParams } from './params.ts';

/** `qualifier."col"->'a'->>0`. */
export function fieldSql(qualifier: string, field: Field, params: SqlParams): string {
  let sql = `${qualifier}.${quoteIdent(field.name)}`;
  for (const step of field.jsonPath) {
    const key = typeof step.key === 'number' ? String(step.key) : `${params.add(step.key)}::text`;
    sql += `${step.arrow}${key}`;
  }
  return sql;
}

/** Where a filter is evaluated: the qualifier, the columns (for FTS) and embed null checks. */
export interface FilterScope {
  qualifier: string;
  column(name: string): Column | undefined;
  /** SQL testing that the embed named `name` is null, when `name` is an embed of this node. */
  embedIsNull(name: string): string | undefined;
}

function filterSql(filter: Filter, scope: FilterScope, params: SqlParams): string {
  const { field, expression } = filter;
  const embedNull = field.jsonPath.length === 0 ? scope.embedIsNull(field.name) : undefined;
  if (embedNull !== undefined) {
    if (expression.kind !== 'is' || (expression.value !== 'null' && expression.value !== 'not_null')) {
      throw pgrstError(
        'PGRST120',
        "Bad operator on the 'is' embedded resource filter",
        'Only is null or not is null filters are allowed on embedded resources',
      );
    }
    const isNull = (expression.value === 'null') !== filter.negated;
    return isNull ? embedNull : `NOT ${embedNull}`;
  }
  const lhs = fieldSql(scope.qualifier, field, params);
  let sql: string;
  switch (expression.kind) {
    case 'simple': {
      const operator = simpleOperators[expression.op];
      const likeValue = (v: string) =>
        expression.op === 'like' || expression.op === 'ilike' ? v.replace(/\*/g, '%') : v;
      sql =
        expression.quantifier === undefined
          ? `${lhs} ${operator} ${params.add(likeValue(expression.value))}`
          : `${lhs} ${operator} ${expression.quantifier.toUpperCase()}(${params.add(likeValue(expression.value))})`;
      break;
    }
    case 'in':
      sql = `${lhs} = ANY (${params.add(arrayLiteral(expression.values))})`;
      break;
    case 'is':
      sql = `${lhs} IS ${expression.value === 'not_null' ? 'NOT NULL' : expression.value.toUpperCase()}`;
      break;
    case 'fts': {
      const config = expression.config === undefined ? '' : `${params.add(expression.config)}::regconfig, `;
      const column = field.jsonPath.length === 0 ? scope.column(field.name) : undefined;
      const vector = column !== undefined && column.baseType !== 'tsvector' ? `to_tsvector(${config}${lhs})` : lhs;
      sql = `${vector} @@ ${ftsOperators[expression.op]}(${config}${params.add(expression.value)}::text)`;
      break;
    }
  }
  return filter.negated ? `NOT ${sql}` : sql;
}

export function logicSql(tree: LogicTree, scope: FilterScope, params: SqlParams): string {
  if (tree.kind === 'filter') return filterSql(tree.filter, scope, params);
  const inner = tree.children.map((c) => logicSql(c, scope, params)).join(tree.op === 'and' ? ' AND ' : ' OR ');
  return `${tree.negated ? 'NOT ' : ''}(${inner})`;
}

/** One ORDER BY term over `lhs` (a field or a related to-one column). */
export function orderTermSql(lhs: string, term: OrderTerm): string {
  const direction = term.direction === undefined ? '' : ` ${term.direction.toUpperCase()}`;
  const nulls = term.nulls === undefined ? '' : ` NULLS ${term.nulls.toUpperCase()}`;
  return `${lhs}${direction}${nulls}`;
}
