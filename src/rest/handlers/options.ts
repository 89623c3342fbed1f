// OPTIONS and CORS (contract §11): Allow from the cache, preflight answers; never a transaction.
import type { RestConfig } from '../../config.ts';
import type { ApiResponse } from '../response.ts';
import type { Routine, Table } from '../schema-types.ts';

const exposedHeaders =
  'Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit';

export function allowedMethods(target: { table: Table } | { routines: Routine[] } | 'root'): string {
  if (target === 'root') return 'OPTIONS,GET,HEAD';
  if ('routines' in target) {
    return target.routines.every((r) => r.volatility === 'v') ? 'OPTIONS,POST' : 'OPTIONS,GET,HEAD,POST';
  }
  const t = target.table;
  const methods = ['OPTIONS', 'GET', 'HEAD'];
  if (t.insertable) methods.push('POST');
  if (t.insertable && t.updatable && t.primaryKey.length > 0) methods.push('PUT');
  if (t.updatable) methods.push('PATCH');
  if (t.deletable) methods.push('DELETE');
  return methods.join(',');
}

export function optionsResponse(allow: string): ApiResponse {
  return {
    status: 200,
    headers: [
      ['Access-Control-Allow-Origin', '*'],
      ['Allow', allow],
    ],
    body: '',
  };
}

function allowOrigin(config: RestConfig, origin: string): string | undefined {
  const allowed = config.serverCorsAllowedOrigins;
  if (allowed === undefined) return '*';
  return allowed.includes(origin) ? origin : undefined;
}

/** CORS headers for a request carrying `Origin` (none when the origin is not allowed). */
export function corsHeaders(config: RestConfig, origin: string | undefined): [string, string][] {
  if (origin === undefined) return [];
  const allow = allowOrigin(config, origin);
  if (allow === undefined) return [];
  return [
    ['Access-Control-Allow-Origin', allow],
    ['Access-Control-Expose-Headers', exposedHeaders],
  ];
}

/** The answer to a CORS preflight (OPTIONS with Access-Control-Request-Method). */
export function preflightResponse(
  config: RestConfig,
  origin: string | undefined,
  requestedHeaders: string | undefined,
): ApiResponse {
  const allow = origin === undefined ? '*' : allowOrigin(config, origin);
  if (allow === undefined) return { status: 200, headers: [], body: '' };
  const requested = requestedHeaders === undefined || requestedHeaders.trim() === '' ? [] : [requestedHeaders];
  return {
    status: 200,
    headers: [
      ['Access-Control-Allow-Origin', allow],
      ['Access-Control-Allow-Methods', 'GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD'],
      [
        'Access-Control-Allow-Headers',
        ['Authorization', ...requested, 'Accept', 'Accept-Language', 'Content-Language'].join(', '),
      ],
      ['Access-Control-Max-Age', '86400'],
    ],
    body: '',
  };
}
