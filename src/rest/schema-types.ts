// The schema cache's model: what the gateway knows about the exposed schemas (contract §10).

export interface QualifiedName {
  schema: string;
  name: string;
}

export interface Column {
  name: string;
  /** `format_type()` text, e.g. `integer`, `character varying(20)`, `public.mood`. */
  type: string;
  /** Base type name (domains resolved), e.g. `int4`, `tsvector`, `json`. */
  baseType: string;
  nullable: boolean;
  /** Default expression (catalog text), null when none. */
  default: string | null;
  description: string | null;
  enumValues: string[];
}

export interface Table extends QualifiedName {
  isView: boolean;
  description: string | null;
  insertable: boolean;
  updatable: boolean;
  deletable: boolean;
  primaryKey: string[];
  columns: Map<string, Column>;
}

export type Cardinality = 'm2o' | 'o2m' | 'o2o' | 'm2m';

export interface Junction {
  table: QualifiedName;
  /** FK from the junction to the origin table: [junction column, origin column] pairs. */
  sourceConstraint: string;
  sourceColumns: [string, string][];
  /** FK from the junction to the target table: [junction column, target column] pairs. */
  targetConstraint: string;
  targetColumns: [string, string][];
}

export interface Relationship {
  table: QualifiedName;
  foreignTable: QualifiedName;
  cardinality: Cardinality;
  constraint: string;
  /** [table column, foreign table column] pairs (empty for m2m: see `junction`). */
  columns: [string, string][];
  junction: Junction | undefined;
}

export interface RoutineParam {
  name: string;
  type: string;
  hasDefault: boolean;
  variadic: boolean;
}

export type ReturnKind = 'scalar' | 'composite' | 'void';

export interface Routine extends QualifiedName {
  description: string | null;
  params: RoutineParam[];
  returnsSet: boolean;
  returnKind: ReturnKind;
  /** `format_type()` of the return type. */
  returnType: string;
  /** Set when the return type is a media-type handler domain (e.g. `"application/pdf"`). */
  mediaType: { type: string; binary: boolean } | undefined;
  /** Columns of a composite result (named OUT/TABLE params or the composite type's attributes). */
  returnColumns: Column[];
  /** The exposed table or view whose row type the function returns, when it does. */
  returnTable: QualifiedName | undefined;
  volatility: 'v' | 's' | 'i';
  /** `SET name = value` options of the function. */
  settings: [string, string][];
}

export interface SchemaCache {
  schemas: string[];
  tables: Map<string, Table>;
  relationships: Relationship[];
  routines: Map<string, Routine[]>;
  /** `ALTER ROLE … SET` settings per role (database-specific ones override global ones). */
  roleSettings: Map<string, [string, string][]>;
  timezones: Set<string>;
}

export const qualifiedKey = (q: QualifiedName): string => `${q.schema}.${q.name}`;
