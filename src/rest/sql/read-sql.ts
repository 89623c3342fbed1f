// SQL for a read plan: the SELECT of one node with its embeds as LATERAL subqueries (json_agg for
// to-many, row_to_json for to-one), and the COUNT query over the same filters.
import { quoteIdent } from '../../db/client.ts';
import { pgrstError } from '../errors.ts';
import type { FieldSelect, OrderTerm } from '../query-types.ts';
import type { EmbedNode, FieldItem, ReadNode } from '../plan/read-plan.ts';
import { joinConditions } from '../plan/relationships.ts';
import { fieldSql, logicSql, orderTermSql, type FilterScope } from './filters.ts';
import { castType, qualifiedIdent, type SqlParams } from './params.ts';

/** The output name of a field: its alias, else the aggregate, else the last JSON path key, else the column. */
function fieldOutputName(item: FieldSelect): string {
  if (item.alias !== undefined) return item.alias;
  if (item.aggregate !== undefined || item.field === undefined) return item.aggregate ?? 'count';
  const lastKey = item.field.jsonPath[item.field.jsonPath.length - 1]?.key;
  return lastKey === undefined ? item.field.name : String(lastKey);
}

/** The keys a node's rows carry (spread embeds contribute theirs). */
function outputNames(node: ReadNode): string[] {
  const fields = node.fields.flatMap((f) => {
    if (f.kind === 'field') return [fieldOutputName(f)];
    if (node.columns === undefined) {
      throw pgrstError(
        'PGRST127',
        'Feature not implemented',
        "Spreading '*' of a relation with unknown columns is not supported",
      );
    }
    return node.columns.map((c) => c.name);
  });
  const embeds = node.embeds
    .filter((e) => e.selected)
    .flatMap((e) => (e.spread ? outputNames(e.node) : [e.outputName]));
  return [...fields, ...embeds];
}

interface SelectPart {
  sql: string;
  aggregated: boolean;
}

function fieldItemSql(node: ReadNode, item: FieldItem, params: SqlParams): SelectPart[] {
  if (item.kind === 'star') {
    const all =
      node.columns === undefined
        ? [`${node.qualifier}.*`]
        : node.columns.map((c) => `${node.qualifier}.${quoteIdent(c.name)}`);
    return all.map((sql) => ({ sql, aggregated: false }));
  }
  const { field, cast, aggregate } = item;
  let sql = field === undefined ? '*' : fieldSql(node.qualifier, field, params);
  if (aggregate !== undefined) sql = `pg_catalog.${aggregate}(${sql})`;
  if (cast !== undefined) sql = `CAST(${sql} AS ${castType(cast)})`;
  const renamed =
    item.alias !== undefined || aggregate !== undefined || cast !== undefined || (field?.jsonPath.length ?? 0) > 0;
  return [
    { sql: renamed ? `${sql} AS ${quoteIdent(fieldOutputName(item))}` : sql, aggregated: aggregate !== undefined },
  ];
}

function embedItemSql(embed: EmbedNode): string[] {
  if (!embed.selected) return [];
  const agg = embed.aggAlias;
  if (embed.toOne) return [embed.spread ? `${agg}.*` : `row_to_json(${agg}.*) AS ${quoteIdent(embed.outputName)}`];
  if (embed.spread) {
    // A to-many spread (v13): one array per column of the embed.
    return outputNames(embed.node).map((n) => `COALESCE(${agg}.${quoteIdent(n)}, '[]') AS ${quoteIdent(n)}`);
  }
  return [`COALESCE(${agg}.${agg}, '[]') AS ${quoteIdent(embed.outputName)}`];
}

function embedJoinSql(embed: EmbedNode, params: SqlParams): string {
  const agg = embed.aggAlias;
  const join = embed.joinType === 'inner' ? 'INNER JOIN LATERAL' : 'LEFT JOIN LATERAL';
  const sub = nodeSelectSql(embed.node, params);
  if (embed.toOne) return `${join} (${sub}) AS ${agg} ON TRUE`;
  if (embed.spread) {
    const columns = outputNames(embed.node).map((n) => `json_agg(${agg}.${quoteIdent(n)}) AS ${quoteIdent(n)}`);
    // No row when nothing matches, so that !inner drops the parent and the COALESCE gives [].
    return `${join} (SELECT ${columns.join(', ')} FROM (${sub}) AS ${agg} HAVING pg_catalog.count(*) > 0) AS ${agg} ON TRUE`;
  }
  const on = embed.joinType === 'inner' ? `${agg}.${agg} IS NOT NULL` : 'TRUE';
  return `${join} (SELECT json_agg(${agg}) AS ${agg} FROM (${sub}) AS ${agg}) AS ${agg} ON ${on}`;
}

function scopeOf(node: ReadNode): FilterScope {
  return {
    qualifier: node.qualifier,
    column: (name) => node.columns?.find((c) => c.name === name),
    embedIsNull: (name) => {
      const embed = node.embeds.find((e) => e.outputName === name);
      if (!embed) return undefined;
      return embed.toOne || embed.spread
        ? `${embed.aggAlias} IS NOT DISTINCT FROM NULL`
        : `${embed.aggAlias}.${embed.aggAlias} IS NULL`;
    },
  };
}

function orderSql(node: ReadNode, terms: OrderTerm[], params: SqlParams): string {
  const parts = terms.map((term) => {
    if (term.relation === undefined) return orderTermSql(fieldSql(node.qualifier, term.field, params), term);
    const embed = node.embeds.find(
      (e) => e.outputName === term.relation || e.relationship.foreignTable.name === term.relation,
    );
    if (!embed || !embed.toOne) {
      throw pgrstError(
        'PGRST118',
        `A related order on '${term.relation}' is not possible`,
        `'${node.relation.name}' and '${term.relation}' do not form a many-to-one or one-to-one relationship`,
      );
    }
    const child = embed.relationship.foreignTable;
    const alias = quoteIdent('pgrst_order');
    const conds = joinConditions(embed.relationship, node.qualifier, alias, undefined);
    const lhs = `(SELECT ${fieldSql(alias, term.field, params)} FROM ${qualifiedIdent(child)} AS ${alias} WHERE ${conds.join(' AND ')})`;
    return orderTermSql(lhs, term);
  });
  return parts.length === 0 ? '' : ` ORDER BY ${parts.join(', ')}`;
}

/** FROM, the given lateral joins and WHERE of a node. */
function fromWhereSql(node: ReadNode, params: SqlParams, joins: string[]): string {
  const conditions = [...node.options.filters.map((f) => logicSql(f, scopeOf(node), params)), ...node.joinConditions];
  const where = conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
  return `FROM ${node.from.join(', ')}${joins.map((j) => ` ${j}`).join('')}${where}`;
}

function limitOffsetSql(limit: number | undefined, offset: number | undefined): string {
  return `${limit === undefined ? '' : ` LIMIT ${limit}`}${offset === undefined || offset === 0 ? '' : ` OFFSET ${offset}`}`;
}

/**
 * GROUP BY for aggregates (by position, so that JSON-path parameters need not repeat): every
 * selected column that is not aggregated.
 */
function groupBySql(node: ReadNode, fields: SelectPart[]): string {
  if (!fields.some((f) => f.aggregated)) return '';
  if (node.embeds.some((e) => e.selected)) {
    throw pgrstError(
      'PGRST127',
      'Feature not implemented',
      'Aggregates beside embedded resources are not supported by this gateway',
    );
  }
  const positions = fields.flatMap((f, i) => (f.aggregated ? [] : [String(i + 1)]));
  return positions.length === 0 ? '' : ` GROUP BY ${positions.join(', ')}`;
}

/** The SELECT of a node (embedded nodes included), with its own order, limit and offset. */
export function nodeSelectSql(node: ReadNode, params: SqlParams): string {
  const fields = node.fields.flatMap((f) => fieldItemSql(node, f, params));
  const items = [...fields.map((f) => f.sql), ...node.embeds.flatMap(embedItemSql)];
  const joins = node.embeds.map((e) => embedJoinSql(e, params));
  const order = orderSql(node, node.options.order ?? [], params);
  return `SELECT ${items.join(', ')} ${fromWhereSql(node, params, joins)}${groupBySql(node, fields)}${order}${limitOffsetSql(node.options.limit, node.options.offset)}`;
}

/** Rows the root node matches, ignoring limit and offset (`!inner` embeds and embed null filters count). */
export function countSql(node: ReadNode, params: SqlParams): string {
  const needsJoins = node.embeds.some((e) => e.joinType === 'inner') || node.options.filters.length > 0;
  const joins = needsJoins ? node.embeds.map((e) => embedJoinSql(e, params)) : [];
  return `SELECT pg_catalog.count(*) FROM (SELECT 1 ${fromWhereSql(node, params, joins)}) AS pgrst_count`;
}
