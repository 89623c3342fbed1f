// The read plan: the parsed `select` tree resolved against the schema cache — embeds bound to
// relationships, per-node filters, order and limits attached, SQL aliases assigned.
import { quoteIdent } from '../../db/client.ts';
import { pgrstError } from '../errors.ts';
import type { FieldSelect, NodeOptions, ParsedQuery, SelectItem } from '../query-types.ts';
import type { Column, QualifiedName, Relationship, SchemaCache } from '../schema-types.ts';
import { qualifiedKey } from '../schema-types.ts';
import { qualifiedIdent } from '../sql/params.ts';
import { findRelationship, isToOne, joinConditions } from './relationships.ts';

export type FieldItem = { kind: 'star' } | FieldSelect;

export interface EmbedNode {
  outputName: string;
  relationship: Relationship;
  toOne: boolean;
  joinType: 'inner' | 'left';
  spread: boolean;
  /** False for `tasks()`: joined (and filterable) but not output. */
  selected: boolean;
  /** Alias of the lateral subquery. */
  aggAlias: string;
  node: ReadNode;
}

export interface ReadNode {
  relation: QualifiedName;
  /** Columns of the relation, when known (`*` expands to them). */
  columns: Column[] | undefined;
  /** FROM items (the relation, and a junction table for many-to-many). */
  from: string[];
  qualifier: string;
  fields: FieldItem[];
  embeds: EmbedNode[];
  options: NodeOptions;
  /** Conditions linking an embedded node to its parent. */
  joinConditions: string[];
}

export interface RootSource {
  relation: QualifiedName;
  columns: Column[] | undefined;
  from: string;
  qualifier: string;
}

/** Hands out unique SQL aliases within one statement. */
class Aliases {
  private n = 0;
  next(base: string): string {
    this.n += 1;
    return quoteIdent(`${base}_${this.n}`);
  }
}

const emptyOptions = (): NodeOptions => ({ filters: [], order: undefined, limit: undefined, offset: undefined });

export const columnsOf = (cache: SchemaCache, q: QualifiedName): Column[] | undefined => {
  const table = cache.tables.get(qualifiedKey(q));
  return table ? [...table.columns.values()] : undefined;
};

interface BuildContext {
  cache: SchemaCache;
  parsed: ParsedQuery;
  aliases: Aliases;
  usedPaths: Set<string>;
  options: ReadOptions;
}

export interface ReadOptions {
  /** db-max-rows: caps to-many embeds (the root is capped by the caller's window). */
  maxRows: number | undefined;
  /** db-aggregates-enabled. */
  aggregates: boolean;
}

function buildNode(
  ctx: BuildContext,
  source: RootSource,
  items: SelectItem[],
  path: string[],
  joinConds: string[],
  extraFrom: string[],
): ReadNode {
  const key = path.join('.');
  ctx.usedPaths.add(key);
  const options = ctx.parsed.nodes.get(key) ?? emptyOptions();
  const node: ReadNode = {
    relation: source.relation,
    columns: source.columns,
    from: [source.from, ...extraFrom],
    qualifier: source.qualifier,
    fields: [],
    embeds: [],
    options,
    joinConditions: joinConds,
  };
  for (const item of items) {
    if (item.kind !== 'embed') {
      if (item.kind === 'field' && item.aggregate !== undefined && !ctx.options.aggregates) {
        throw pgrstError('PGRST123', 'Use of aggregate functions is not allowed');
      }
      node.fields.push(item);
      continue;
    }
    const relationship = findRelationship(ctx.cache, source.relation, item.name, item.hint);
    const toOne = isToOne(relationship);
    if (item.spread && !toOne) {
      throw pgrstError(
        'PGRST127',
        'Feature not implemented',
        'Spreading a to-many embed is not supported by this gateway',
      );
    }
    const child = relationship.foreignTable;
    const childAlias = ctx.aliases.next(child.name);
    const junction = relationship.junction;
    const junctionAlias = junction ? ctx.aliases.next(junction.table.name) : undefined;
    const outputName = item.alias ?? item.name;
    const childPath = [...path, outputName];
    const childNode = buildNode(
      ctx,
      {
        relation: child,
        columns: columnsOf(ctx.cache, child),
        from: `${qualifiedIdent(child)} AS ${childAlias}`,
        qualifier: childAlias,
      },
      item.select,
      // Filters may name the embed by its alias or by its relation name.
      ctx.parsed.nodes.has(childPath.join('.')) ? childPath : [...path, item.name],
      joinConditions(relationship, source.qualifier, childAlias, junctionAlias),
      junction && junctionAlias ? [`${qualifiedIdent(junction.table)} AS ${junctionAlias}`] : [],
    );
    const { maxRows } = ctx.options;
    if (!toOne && maxRows !== undefined) {
      childNode.options = { ...childNode.options, limit: Math.min(childNode.options.limit ?? maxRows, maxRows) };
    }
    node.embeds.push({
      outputName,
      relationship,
      toOne,
      joinType: item.joinType ?? 'left',
      spread: item.spread,
      selected: !(item.select.length === 0),
      aggAlias: ctx.aliases.next(`${source.relation.name}_${child.name}`),
      node: childNode,
    });
  }
  return node;
}

/** Resolves the select tree of `parsed` over `source` (the root relation or `pgrst_source`). */
export function planRead(cache: SchemaCache, source: RootSource, parsed: ParsedQuery, options: ReadOptions): ReadNode {
  const ctx: BuildContext = { cache, parsed, aliases: new Aliases(), usedPaths: new Set(), options };
  const root = buildNode(ctx, source, parsed.select, [], [], []);
  for (const [key, options] of parsed.nodes) {
    const used =
      options.filters.length > 0 ||
      options.order !== undefined ||
      options.limit !== undefined ||
      options.offset !== undefined;
    if (used && !ctx.usedPaths.has(key)) {
      const name = key.split('.').pop() ?? key;
      throw pgrstError(
        'PGRST108',
        `'${name}' is not an embedded resource in this request`,
        null,
        `Verify that '${name}' is included in the 'select' query parameter.`,
      );
    }
  }
  return root;
}
