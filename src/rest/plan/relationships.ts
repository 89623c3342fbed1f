// Finding the relationship an embed names (contract §5.5), as PostgREST's Plan.hs `findRel` does:
// by table name, FK constraint or single FK column, narrowed by a hint; PGRST200 when none,
// PGRST201 (300) when several, with PostgREST's details, hints and candidate order (Error.hs).
import { quoteIdent } from '../../db/client.ts';
import { pgrstError } from '../errors.ts';
import type { QualifiedName, Relationship, SchemaCache } from '../schema-types.ts';
import { qualifiedKey } from '../schema-types.ts';
import { FuzzySet } from './fuzzy.ts';

const sameName = (a: QualifiedName, b: QualifiedName) => a.schema === b.schema && a.name === b.name;

const cardinalityText = { m2o: 'many-to-one', o2m: 'one-to-many', o2o: 'one-to-one', m2m: 'many-to-many' } as const;

function describe(rel: Relationship): Record<string, unknown> {
  const cols = (pairs: [string, string][], side: 0 | 1) => pairs.map((p) => p[side]).join(', ');
  const relationship = rel.junction
    ? `${rel.junction.table.name} using ${rel.junction.sourceConstraint}(${cols(rel.junction.sourceColumns, 0)}) and ${rel.junction.targetConstraint}(${cols(rel.junction.targetColumns, 0)})`
    : `${rel.constraint} using ${rel.table.name}(${cols(rel.columns, 0)}) and ${rel.foreignTable.name}(${cols(rel.columns, 1)})`;
  return {
    cardinality: cardinalityText[rel.cardinality],
    embedding: `${rel.table.name} with ${rel.foreignTable.name}`,
    relationship,
  };
}

/** The pair of a single-column foreign key; composite keys cannot be named by a column. */
const singleColumn = (rel: Relationship): [string, string] | undefined =>
  rel.junction === undefined && rel.columns.length === 1 ? rel.columns[0] : undefined;
/** `client_id`: the (only) column on the relationship's own side. */
const matchFkColumn = (rel: Relationship, name: string) => singleColumn(rel)?.[0] === name;
/** `id`: the (only) column on the foreign side. */
const matchFkRefColumn = (rel: Relationship, name: string) => singleColumn(rel)?.[1] === name;
const matchConstraint = (rel: Relationship, name: string) => rel.junction === undefined && rel.constraint === name;
const matchJunction = (rel: Relationship, name: string) => rel.junction?.table.name === name;

/** Whether `rel` is what `target!hint` names, from PostgREST's findRel. */
function matches(cache: SchemaCache, rel: Relationship, target: string, hint: string | undefined): boolean {
  const toTarget = rel.foreignTable.name === target;
  if (sameName(rel.table, rel.foreignTable)) {
    // A self-relationship: the table name gives the one-to-many side (`children:family(*)`), the
    // column the many-to-one side (`parent(*)`); a hint names the referencing column of the
    // one-to-many side (`family!parent(*)`).
    if (hint === undefined) {
      return (toTarget && rel.cardinality === 'o2m') || (matchFkColumn(rel, target) && rel.cardinality === 'm2o');
    }
    return toTarget && rel.cardinality === 'o2m' && matchFkRefColumn(rel, hint);
  }
  if (hint === undefined) {
    // A constraint or column as the target means the table, not views over it.
    const toView = cache.tables.get(qualifiedKey(rel.foreignTable))?.isView ?? false;
    return toTarget || (!toView && (matchConstraint(rel, target) || matchFkColumn(rel, target)));
  }
  return (
    toTarget &&
    (matchConstraint(rel, hint) || matchFkColumn(rel, hint) || matchFkRefColumn(rel, hint) || matchJunction(rel, hint))
  );
}

const cardinalityOrder = { o2m: 0, m2o: 1, o2o: 2, m2m: 3 } as const;
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** PostgREST's order of relationships (derived Ord: foreign table, self, cardinality, key). */
function compareRelationships(a: Relationship, b: Relationship): number {
  const keys = (r: Relationship): (string | number)[] => [
    r.foreignTable.schema,
    r.foreignTable.name,
    sameName(r.table, r.foreignTable) ? 1 : 0,
    cardinalityOrder[r.cardinality],
    ...(r.junction
      ? [r.junction.table.schema, r.junction.table.name, r.junction.sourceConstraint, r.junction.targetConstraint]
      : [r.constraint]),
  ];
  const ka = keys(a);
  const kb = keys(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const x = ka[i]!;
    const y = kb[i]!;
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : compareText(String(x), String(y));
    if (order !== 0) return order;
  }
  return 0;
}

/** The relationship from `parent` that `target` (table, FK column or constraint) names. */
export function findRelationship(
  cache: SchemaCache,
  parent: QualifiedName,
  target: string,
  hint: string | undefined,
): Relationship {
  const fromParent = cache.relationships.filter((r) => sameName(r.table, parent));
  const candidates = fromParent.filter((r) => matches(cache, r, target, hint)).sort(compareRelationships);
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) return notFound(cache, parent, target, hint);
  const nameOf = (r: Relationship) => (r.junction ? r.junction.table.name : r.constraint);
  throw pgrstError(
    'PGRST201',
    `Could not embed because more than one relationship was found for '${parent.name}' and '${target}'`,
    candidates.map(describe),
    `Try changing '${target}' to one of the following: ${candidates
      .map((r) => `'${r.foreignTable.name}!${nameOf(r)}'`)
      .join(', ')}. Find the desired relationship in the 'details' key.`,
  );
}

/**
 * PostgREST's noRelBetweenHint: a close name among the parent's related tables (never the target
 * itself), or, when the parent has no relationships, a close name among the tables that have.
 */
function noRelationshipHint(cache: SchemaCache, parent: QualifiedName, target: string): string | null {
  const fromParent = cache.relationships.filter((r) => sameName(r.table, parent));
  if (fromParent.length > 0) {
    const children = new FuzzySet(fromParent.map((r) => r.foreignTable.name));
    const suggestion = children.get(target).find(([score]) => score < 1)?.[1];
    return suggestion === undefined ? null : `Perhaps you meant '${suggestion}' instead of '${target}'.`;
  }
  const parents = new FuzzySet(
    cache.relationships.filter((r) => r.table.schema === parent.schema).map((r) => r.table.name),
  );
  const suggestion = parents.getOne(parent.name);
  return suggestion === undefined ? null : `Perhaps you meant '${suggestion}' instead of '${parent.name}'.`;
}

function notFound(cache: SchemaCache, parent: QualifiedName, target: string, hint: string | undefined): never {
  throw pgrstError(
    'PGRST200',
    `Could not find a relationship between '${parent.name}' and '${target}' in the schema cache`,
    hint === undefined
      ? `Searched for a foreign key relationship between '${parent.name}' and '${target}' in the schema '${parent.schema}', but no matches were found.`
      : `Searched for a foreign key relationship between '${parent.name}' and '${target}' using the hint '${hint}' in the schema '${parent.schema}', but no matches were found.`,
    noRelationshipHint(cache, parent, target),
  );
}

/** True when the embed yields one object (or null) rather than an array. */
export const isToOne = (rel: Relationship): boolean => rel.cardinality === 'm2o' || rel.cardinality === 'o2o';

/** Join conditions linking the child (and junction) to the parent. */
export function joinConditions(
  rel: Relationship,
  parentQ: string,
  childQ: string,
  junctionQ: string | undefined,
): string[] {
  const col = (q: string, c: string) => `${q}.${quoteIdent(c)}`;
  if (rel.junction && junctionQ !== undefined) {
    return [
      ...rel.junction.sourceColumns.map(([j, p]) => `${col(junctionQ, j)} = ${col(parentQ, p)}`),
      ...rel.junction.targetColumns.map(([j, c]) => `${col(junctionQ, j)} = ${col(childQ, c)}`),
    ];
  }
  return rel.columns.map(([p, c]) => `${col(childQ, c)} = ${col(parentQ, p)}`);
}
