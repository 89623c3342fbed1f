// Responses: the shape handlers return, `response.headers` / `response.status` overrides
// (contract §2.4), error bodies with Proxy-Status (§9.1), and writing to node:http.
import type { ServerResponse } from 'node:http';
import { ApiError, pgrstError } from './errors.ts';
import type { MainRow } from './sql/main-query.ts';

export interface ApiResponse {
  status: number;
  headers: [string, string][];
  body: string | Buffer | undefined;
  statusText?: string;
}

export function errorResponse(error: ApiError): ApiResponse {
  return {
    status: error.status,
    statusText: error.statusText,
    headers: [
      ['Content-Type', 'application/json; charset=utf-8'],
      ['Proxy-Status', `PostgREST; error=${error.code}`],
      ...error.headers,
    ],
    body: JSON.stringify(error.body()),
  };
}

/** Applies `response.headers` (replacing same-named headers) and `response.status` from SQL. */
export function applyResponseGucs(response: ApiResponse, row: MainRow): ApiResponse {
  let { headers, status } = response;
  if (row.response_headers !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.response_headers);
    } catch {
      parsed = undefined;
    }
    const valid =
      Array.isArray(parsed) &&
      parsed.every(
        (h) =>
          typeof h === 'object' &&
          h !== null &&
          Object.keys(h as object).length === 1 &&
          typeof Object.values(h as object)[0] === 'string',
      );
    if (!valid) {
      throw pgrstError(
        'PGRST111',
        'response.headers guc must be a JSON array composed of objects with a single key and a string value',
      );
    }
    const extra = (parsed as Record<string, string>[]).map((h) => Object.entries(h)[0]!);
    const names = new Set(extra.map(([k]) => k.toLowerCase()));
    headers = [...headers.filter(([k]) => !names.has(k.toLowerCase())), ...extra];
  }
  if (row.response_status !== null) {
    const n = Number(row.response_status);
    if (!/^\d+$/.test(row.response_status.trim()) || n < 100 || n > 599) {
      throw pgrstError('PGRST112', 'response.status guc must be a valid status code');
    }
    status = n;
  }
  return { ...response, headers, status };
}

/** Writes the response; HEAD and 204 go without body, everything else with Content-Length. */
export function send(res: ServerResponse, response: ApiResponse, head: boolean): void {
  res.statusCode = response.status;
  if (response.statusText !== undefined) res.statusMessage = response.statusText;
  const grouped = new Map<string, string[]>();
  for (const [k, v] of response.headers) grouped.set(k, [...(grouped.get(k) ?? []), v]);
  for (const [k, v] of grouped) res.setHeader(k, v.length === 1 ? v[0]! : v);
  if (response.status === 204 || response.status === 304) {
    res.removeHeader('Content-Type');
    res.end();
    return;
  }
  const body = Buffer.isBuffer(response.body) ? response.body : Buffer.from(response.body ?? '', 'utf8');
  if (head) {
    res.end();
    return;
  }
  res.setHeader('Content-Length', body.length);
  res.end(body);
}
