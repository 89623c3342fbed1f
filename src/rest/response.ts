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

/**
 * Header lines in first-appearance order: values of one spelling repeat the name, and a
 * differently spelled name replaces the earlier spelling's values (as `setHeader` would).
 */
function headerLines(headers: [string, string][], omit: string[]): string[] {
  const spellings = new Map<string, string[]>();
  for (const [k, v] of headers) {
    const values = spellings.get(k);
    if (values === undefined) spellings.set(k, [v]);
    else values.push(v);
  }
  const byName = new Map<string, [string, string[]]>();
  for (const [k, values] of spellings) {
    const name = k.toLowerCase();
    if (!omit.includes(name)) byName.set(name, [k, values]);
  }
  const lines: string[] = [];
  for (const [k, values] of byName.values()) for (const v of values) lines.push(k, v);
  return lines;
}

/**
 * Writes the response with one writeHead and one end (a string body goes out in the same write as
 * the head); HEAD and 204 go without body, everything else with Content-Length.
 */
export function send(res: ServerResponse, response: ApiResponse, head: boolean): void {
  const bodyless = response.status === 204 || response.status === 304;
  const length = !bodyless && !head;
  const lines = headerLines(response.headers, bodyless ? ['content-type'] : length ? ['content-length'] : []);
  const body = response.body ?? '';
  if (length) lines.push('Content-Length', String(Buffer.byteLength(body)));
  if (response.statusText === undefined) res.writeHead(response.status, lines);
  else res.writeHead(response.status, response.statusText, lines);
  res.end(bodyless || head ? undefined : body);
}
