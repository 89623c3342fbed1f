// The OpenAPI (Swagger 2.0) description served at `/` (contract §10), built from the schema cache
// and the objects the current role may use.
import type { RestConfig } from '../config.ts';
import type { Column, Relationship, Routine, SchemaCache, Table } from './schema-types.ts';

const mediaTypes = [
  'application/json',
  'application/vnd.pgrst.object+json;nulls=stripped',
  'application/vnd.pgrst.object+json',
  'text/csv',
];

type JsonObject = Record<string, unknown>;

function jsonType(type: string): JsonObject {
  if (type.endsWith('[]')) return { type: 'array', items: jsonType(type.slice(0, -2)) };
  if (/^(smallint|integer|bigint)$/.test(type)) return { type: 'integer' };
  if (/^(numeric|real|double precision)/.test(type)) return { type: 'number' };
  if (type === 'boolean') return { type: 'boolean' };
  if (type === 'json' || type === 'jsonb') return {};
  return { type: 'string' };
}

function summaryAndDescription(comment: string | null): JsonObject {
  if (comment === null) return {};
  const [summary = '', ...rest] = comment.split('\n');
  const description = rest.join('\n').trim();
  return description === '' ? { summary } : { summary, description };
}

function columnProperty(table: Table, column: Column, relationships: Relationship[]): JsonObject {
  const notes: string[] = [];
  if (table.primaryKey.includes(column.name)) notes.push('Note:\nThis is a Primary Key.<pk/>');
  for (const r of relationships) {
    if (r.cardinality === 'm2o' && r.table.name === table.name && r.table.schema === table.schema) {
      const pair = r.columns.find(([c]) => c === column.name);
      if (pair)
        notes.push(
          `Note:\nThis is a Foreign Key to \`${r.foreignTable.name}.${pair[1]}\`.<fk table='${r.foreignTable.name}' column='${pair[1]}'/>`,
        );
    }
  }
  const description = [column.description, ...notes].filter((d): d is string => d !== null).join('\n\n');
  return {
    ...(column.default === null ? {} : { default: column.default }),
    ...(description === '' ? {} : { description }),
    format: column.type,
    ...jsonType(column.type),
    ...(column.enumValues.length > 0 ? { enum: column.enumValues } : {}),
  };
}

function definition(table: Table, relationships: Relationship[]): JsonObject {
  const columns = [...table.columns.values()];
  const required = columns.filter((c) => !c.nullable && c.default === null).map((c) => c.name);
  return {
    ...(table.description === null ? {} : { description: table.description }),
    properties: Object.fromEntries(columns.map((c) => [c.name, columnProperty(table, c, relationships)])),
    ...(required.length > 0 ? { required } : {}),
    type: 'object',
  };
}

const ref = (name: string) => ({ $ref: `#/parameters/${name}` });

function tablePath(table: Table): JsonObject {
  const filters = [...table.columns.keys()].map((c) => ref(`rowFilter.${table.name}.${c}`));
  const tags = [table.name];
  const doc = summaryAndDescription(table.description);
  const ok = { description: 'OK' };
  const path: JsonObject = {
    get: {
      ...doc,
      tags,
      parameters: [
        ...filters,
        ref('select'),
        ref('order'),
        ref('range'),
        ref('rangeUnit'),
        ref('offset'),
        ref('limit'),
        ref('preferCount'),
      ],
      responses: {
        '200': { description: 'OK', schema: { items: { $ref: `#/definitions/${table.name}` }, type: 'array' } },
        '206': { description: 'Partial Content' },
      },
    },
  };
  if (table.insertable) {
    path.post = {
      ...doc,
      tags,
      parameters: [ref(`body.${table.name}`), ref('select'), ref('preferPost')],
      responses: { '201': { description: 'Created' } },
    };
  }
  if (table.updatable) {
    path.patch = {
      ...doc,
      tags,
      parameters: [...filters, ref(`body.${table.name}`), ref('preferReturn')],
      responses: { '204': { description: 'No Content' } },
    };
  }
  if (table.deletable) {
    path.delete = {
      ...doc,
      tags,
      parameters: [...filters, ref('preferReturn')],
      responses: { '204': { description: 'No Content' } },
    };
  }
  return Object.keys(path).length > 0 ? path : { get: ok };
}

function rpcPath(routine: Routine): JsonObject {
  const doc = summaryAndDescription(routine.description);
  const tags = ['(rpc) ' + routine.name];
  const properties = Object.fromEntries(routine.params.map((p) => [p.name, { format: p.type, ...jsonType(p.type) }]));
  const required = routine.params.filter((p) => !p.hasDefault).map((p) => p.name);
  const post = {
    ...doc,
    tags,
    produces: [
      'application/json',
      'application/vnd.pgrst.object+json;nulls=stripped',
      'application/vnd.pgrst.object+json',
    ],
    parameters: [
      {
        in: 'body',
        name: 'args',
        required: true,
        schema: { properties, ...(required.length > 0 ? { required } : {}), type: 'object' },
      },
      ref('preferParams'),
    ],
    responses: { '200': { description: 'OK' } },
  };
  if (routine.volatility === 'v') return { post };
  const get = {
    ...doc,
    tags,
    parameters: routine.params.map((p) => ({
      format: p.type,
      in: 'query',
      name: p.name,
      required: !p.hasDefault,
      ...jsonType(p.type),
    })),
    responses: { '200': { description: 'OK' } },
  };
  return { get, post };
}

function sharedParameters(tables: Table[]): JsonObject {
  const parameters: JsonObject = {
    preferParams: {
      name: 'Prefer',
      description: 'Preference',
      required: false,
      enum: ['params=single-object'],
      in: 'header',
      type: 'string',
    },
    preferReturn: {
      name: 'Prefer',
      description: 'Preference',
      required: false,
      enum: ['return=representation', 'return=minimal', 'return=none'],
      in: 'header',
      type: 'string',
    },
    preferCount: {
      name: 'Prefer',
      description: 'Preference',
      required: false,
      enum: ['count=none'],
      in: 'header',
      type: 'string',
    },
    preferPost: {
      name: 'Prefer',
      description: 'Preference',
      required: false,
      enum: [
        'return=representation',
        'return=minimal',
        'return=none',
        'resolution=ignore-duplicates',
        'resolution=merge-duplicates',
      ],
      in: 'header',
      type: 'string',
    },
    select: { name: 'select', description: 'Filtering Columns', required: false, in: 'query', type: 'string' },
    on_conflict: { name: 'on_conflict', description: 'On Conflict', required: false, in: 'query', type: 'string' },
    order: { name: 'order', description: 'Ordering', required: false, in: 'query', type: 'string' },
    range: { name: 'Range', description: 'Limiting and Pagination', required: false, in: 'header', type: 'string' },
    rangeUnit: {
      name: 'Range-Unit',
      description: 'Limiting and Pagination',
      required: false,
      default: 'items',
      in: 'header',
      type: 'string',
    },
    offset: { name: 'offset', description: 'Limiting and Pagination', required: false, in: 'query', type: 'string' },
    limit: { name: 'limit', description: 'Limiting and Pagination', required: false, in: 'query', type: 'string' },
  };
  for (const t of tables) {
    parameters[`body.${t.name}`] = {
      name: t.name,
      description: t.name,
      required: false,
      in: 'body',
      schema: { $ref: `#/definitions/${t.name}` },
    };
    for (const c of t.columns.values()) {
      parameters[`rowFilter.${t.name}.${c.name}`] = {
        name: c.name,
        ...(c.description === null ? {} : { description: c.description }),
        required: false,
        format: c.type,
        in: 'query',
        type: 'string',
      };
    }
  }
  return parameters;
}

export interface OpenApiInput {
  cache: SchemaCache;
  schema: string;
  schemaComment: string | null;
  /** Names the role may use (undefined: everything, ignore-privileges). */
  visibleTables: Set<string> | undefined;
  visibleRoutines: Set<string> | undefined;
  config: RestConfig;
  host: string | undefined;
}

export function openApiDocument(input: OpenApiInput): JsonObject {
  const { cache, schema, config } = input;
  const tables = [...cache.tables.values()]
    .filter((t) => t.schema === schema && (input.visibleTables?.has(t.name) ?? true))
    .sort((a, b) => a.name.localeCompare(b.name));
  const routines = [...cache.routines.values()]
    .flat()
    .filter((r) => r.schema === schema && (input.visibleRoutines?.has(r.name) ?? true))
    .sort((a, b) => a.name.localeCompare(b.name));
  const [title, ...rest] = (input.schemaComment ?? '').split('\n');
  const proxy = config.openapiServerProxyUri === undefined ? undefined : new URL(config.openapiServerProxyUri);
  const paths: JsonObject = {
    '/': {
      get: {
        tags: ['Introspection'],
        summary: 'OpenAPI description (this document)',
        produces: ['application/openapi+json', 'application/json'],
        responses: { '200': { description: 'OK' } },
      },
    },
  };
  for (const t of tables) paths[`/${t.name}`] = tablePath(t);
  for (const r of routines) paths[`/rpc/${r.name}`] = rpcPath(r);
  return {
    swagger: '2.0',
    info: {
      description:
        input.schemaComment === null ? 'This is a dynamic API generated by PostgREST' : rest.join('\n').trim(),
      title: input.schemaComment === null || title === undefined || title === '' ? 'PostgREST API' : title,
      version: '13.0.8',
    },
    host: proxy ? proxy.host : (input.host ?? `0.0.0.0:${config.serverPort}`),
    basePath: proxy ? proxy.pathname : '/',
    schemes: [proxy ? proxy.protocol.replace(':', '') : 'http'],
    consumes: mediaTypes,
    produces: mediaTypes,
    paths,
    definitions: Object.fromEntries(tables.map((t) => [t.name, definition(t, cache.relationships)])),
    parameters: sharedParameters(tables),
    externalDocs: { description: 'PostgREST Documentation', url: 'https://postgrest.org/en/v13/references/api.html' },
    ...(config.openapiSecurityActive
      ? {
          security: [{ JWT: [] }],
          securityDefinitions: {
            JWT: {
              description: 'Add the token prepending "Bearer " (without quotes) to it',
              in: 'header',
              name: 'Authorization',
              type: 'apiKey',
            },
          },
        }
      : {}),
  };
}
