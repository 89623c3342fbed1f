// Finding the relationship an embed names (contract §5.5): by table name, FK column or constraint,
// narrowed by a hint; PGRST200 when none, PGRST201 (300) when several.
import { quoteIdent } from '../../db/client.ts';
import { pgrstError } from '../errors.ts';
import type { QualifiedName, Relationship, SchemaCache } from '../schema-types.ts';
import { qualifiedKey } from '../schema-types.ts';
import { closest } from './fuzzy.ts';

const sameName = (a: QualifiedName, b: QualifiedName) => a.schema === b.schema && a.name === b.name;

const cardinalityText = { m2o: 'many-to-one', o2m: 'one-to-many', o2o: 'one-to-one', m2m: 'many-to-many' } as const;

function describe(rel: Relationship): Record<string, unknown> {
  const cols = (pairs: [string, string][], side: 0 | 1) => pairs.map((p) => p[side]).join(', ');
  const relationship = rel.junction
    ? `${rel.junction.table.schema}.${rel.junction.table.name} using ${rel.junction.sourceConstraint}(${cols(rel.junction.sourceColumns, 0)}) and ${rel.junction.targetConstraint}(${cols(rel.junction.targetColumns, 0)})`
    : `${rel.constraint} using ${rel.table.name}(${cols(rel.columns, 0)}) and ${rel.foreignTable.name}(${cols(rel.columns, 1)})`;
  return {
    cardinality: cardinalityText[rel.cardinality],
    embedding: `${rel.table.name} with ${rel.foreignTable.name}`,
    relationship,
  };
}

/** The hint names the constraint, one of the FK columns, or the junction table. */
function matchesHint(rel: Relationship, hint: string): boolean {
  if (rel.junction) {
    return (
      rel.junction.table.name === hint ||
      rel.junction.sourceConstraint === hint ||
      rel.junction.targetConstraint === hint
    );
  }
  return rel.constraint === hint || rel.columns.some(([own, other]) => own === hint || other === hint);
}

/** The relationship from `parent` that `target` (table, FK column or constraint) names. */
export function findRelationship(
  cache: SchemaCache,
  parent: QualifiedName,
  target: string,
  hint: string | undefined,
): Relationship {
  const fromParent = cache.relationships.filter((r) => sameName(r.table, parent));
  let candidates = fromParent.filter((r) => r.foreignTable.name === target);
  if (candidates.length === 0) {
    // `client_id(*)` or `fk_name(*)`: a to-one relationship named by its column or constraint.
    candidates = fromParent.filter(
      (r) =>
        (r.cardinality === 'm2o' || r.cardinality === 'o2o') &&
        !r.junction &&
        (r.constraint === target || (r.columns.length === 1 && r.columns[0]![0] === target)),
    );
    // The same key also reaches the views over the referenced table: the table itself is meant.
    const toTables = candidates.filter((r) => cache.tables.get(qualifiedKey(r.foreignTable))?.isView === false);
    if (toTables.length > 0) candidates = toTables;
  }
  if (hint !== undefined) candidates = candidates.filter((r) => matchesHint(r, hint) || r.foreignTable.name === hint);
  if (candidates.length === 1) return candidates[0]!;
  const nameOf = (r: Relationship) => (r.junction ? r.junction.table.name : r.constraint);
  candidates.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  if (candidates.length === 0) {
    const suggestion = closest(
      target,
      fromParent.map((r) => r.foreignTable.name),
    );
    return notFound(parent, target, hint, suggestion);
  }
  throw pgrstError(
    'PGRST201',
    `Could not embed because more than one relationship was found for '${parent.name}' and '${target}'`,
    candidates.map(describe),
    `Try changing '${target}' to one of the following: ${candidates
      .map((r) => `'${target}!${nameOf(r)}'`)
      .join(', ')}. Find the desired relationship in the 'details' key.`,
  );
}

function notFound(
  parent: QualifiedName,
  target: string,
  hint: string | undefined,
  suggestion: string | undefined,
): never {
  throw pgrstError(
    'PGRST200',
    `Could not find a relationship between '${parent.name}' and '${target}' in the schema cache`,
    hint === undefined
      ? `Searched for a foreign key relationship between '${parent.name}' and '${target}' in the schema '${parent.schema}', but no matches were found.`
      : `Searched for a foreign key relationship between '${parent.name}' and '${target}' using the hint '${hint}' in the schema '${parent.schema}', but no matches were found.`,
    suggestion === undefined ? null : `Perhaps you meant '${suggestion}' instead of '${target}'.`,
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
