// Errors as PostgREST reports them (contract §9): one JSON shape, the SQLSTATE → HTTP table,
// the PGRSTxxx catalogue, PTxxx statuses and `RAISE SQLSTATE 'PGRST'` with a JSON message.
import type { DatabaseError } from 'pg';

/** `details` is a string, or for ambiguous embeds (PGRST201) a list of candidates. */
export type ErrorDetails = string | null | Record<string, unknown>[];

export interface ErrorBody {
  code: string;
  details: ErrorDetails;
  hint: string | null;
  message: string;
}

/** An error answered to the client; `status` and `headers` complete the JSON body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetails = null,
    readonly hint: string | null = null,
    readonly headers: [string, string][] = [],
    readonly statusText: string | undefined = undefined,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The body, keys in PostgREST's (sorted) order. */
  body(): ErrorBody {
    return { code: this.code, details: this.details, hint: this.hint, message: this.message };
  }
}

/** Status of every PGRST code the gateway raises (contract §9.4). */
const pgrstStatus = {
  PGRST000: 503,
  PGRST001: 503,
  PGRST002: 503,
  PGRST003: 504,
  PGRST100: 400,
  PGRST101: 405,
  PGRST102: 400,
  PGRST103: 416,
  PGRST105: 405,
  PGRST106: 406,
  PGRST107: 406,
  PGRST108: 400,
  PGRST111: 500,
  PGRST112: 500,
  PGRST114: 400,
  PGRST115: 400,
  PGRST116: 406,
  PGRST117: 405,
  PGRST118: 400,
  PGRST120: 400,
  PGRST121: 500,
  PGRST122: 400,
  PGRST123: 400,
  PGRST124: 400,
  PGRST125: 404,
  PGRST126: 404,
  PGRST127: 400,
  PGRST128: 400,
  PGRST200: 400,
  PGRST201: 300,
  PGRST202: 404,
  PGRST203: 300,
  PGRST204: 400,
  PGRST205: 404,
  PGRST300: 500,
  PGRST301: 401,
  PGRST302: 401,
  PGRST303: 401,
} as const;
export type PgrstCode = keyof typeof pgrstStatus;

/** A PostgREST-defined error (PGRSTxxx) with its catalogue status. */
export function pgrstError(
  code: PgrstCode,
  message: string,
  details: ErrorDetails = null,
  hint: string | null = null,
  headers: [string, string][] = [],
): ApiError {
  return new ApiError(pgrstStatus[code], code, message, details, hint, headers);
}

/** JWT failures (PGRST301/303) carry the message in WWW-Authenticate. */
export function jwtError(code: 'PGRST301' | 'PGRST303', message: string): ApiError {
  const description = message.replace(/["\\]/g, '\\$&');
  return pgrstError(code, message, null, null, [
    ['WWW-Authenticate', `Bearer error="invalid_token", error_description="${description}"`],
  ]);
}

/** HTTP status for a SQLSTATE (contract §9.2). */
export function statusForSqlState(code: string, message: string, authenticated: boolean): number {
  const ptStatus = /^PT(\d{3})$/.exec(code);
  if (ptStatus) return Number(ptStatus[1]);
  if (code === '42501') return authenticated ? 403 : 401;
  if (code === '21000') return message.endsWith('requires a WHERE clause') ? 400 : 500;
  if (code === '22023') return message.startsWith('role') && message.endsWith('does not exist') ? 401 : 400;
  if (code === '42883') return message.startsWith('function xmlagg(') ? 406 : 404;
  if (code === '57P01') return 503;
  if (code === 'P0001') return 400;
  const exact: Record<string, number> = {
    '23503': 409,
    '23505': 409,
    '25006': 405,
    '42P01': 404,
    '42P17': 500,
    '53400': 500,
  };
  const known = exact[code];
  if (known !== undefined) return known;
  const byClass: [string[], number][] = [
    [['08', '53'], 503],
    [['09', '25', '2D', '38', '39', '3B', '40', '54', '55', '57', '58', 'F0', 'HV', 'XX', 'P0'], 500],
    [['0L', '0P', '28'], 403],
  ];
  const klass = code.slice(0, 2);
  for (const [classes, status] of byClass) if (classes.includes(klass)) return status;
  return 400;
}

/** A `RAISE SQLSTATE 'PGRST'` error: JSON message (body) and JSON detail (status, headers). */
function fromRaisedPgrst(error: DatabaseError): ApiError {
  const invalid = (why: string) =>
    pgrstError(
      'PGRST121',
      "Could not parse JSON in the RAISE SQLSTATE 'PGRST' error",
      why,
      "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'. DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.",
    );
  let body: unknown;
  let detail: unknown;
  try {
    body = JSON.parse(error.message);
    detail = JSON.parse(error.detail ?? '');
  } catch {
    return invalid('Invalid JSON value for MESSAGE or DETAIL');
  }
  if (!isRecord(body) || typeof body.code !== 'string' || typeof body.message !== 'string') {
    return invalid(`Invalid JSON value for MESSAGE: '${error.message}'`);
  }
  if (!isRecord(detail) || typeof detail.status !== 'number' || !isRecord(detail.headers)) {
    return invalid(`Invalid JSON value for DETAIL: '${error.detail ?? ''}'`);
  }
  const headers = Object.entries(detail.headers).map(([k, v]): [string, string] => [
    k,
    typeof v === 'string' ? v : JSON.stringify(v),
  ]);
  return new ApiError(
    detail.status,
    body.code,
    body.message,
    typeof body.details === 'string' ? body.details : null,
    typeof body.hint === 'string' ? body.hint : null,
    headers,
    typeof detail.status_text === 'string' ? detail.status_text : undefined,
  );
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for errors that come from the server with a SQLSTATE (pg.DatabaseError). */
export function isDatabaseError(error: unknown): error is DatabaseError {
  return error instanceof Error && typeof (error as Partial<DatabaseError>).code === 'string' && 'severity' in error;
}

/** Maps a database error to the client's answer. */
export function fromDatabaseError(error: DatabaseError, authenticated: boolean): ApiError {
  const code = error.code ?? 'XX000';
  if (code === 'PGRST') return fromRaisedPgrst(error);
  const status = statusForSqlState(code, error.message, authenticated);
  // As PostgREST (Error.hs, `headers` of PgError): every database error answered with 401 (42501 as
  // anonymous, a token's role that does not exist, RAISE SQLSTATE 'PT401') asks for a bearer token.
  const headers: [string, string][] = status === 401 ? [['WWW-Authenticate', 'Bearer']] : [];
  if (status === 503) headers.push(['Retry-After', '0']);
  return new ApiError(status, code, error.message, error.detail ?? null, error.hint ?? null, headers);
}
