// The HTTP front: routing (contract §4), CORS, JWT, profiles, Prefer, then the handler; every
// failure becomes a PostgREST error body. One log line per request.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { requestIdFrom, type Logger } from '../log.ts';
import { header, type Deps, type RequestContext } from './context.ts';
import { ApiError, pgrstError } from './errors.ts';
import { corsHeaders, preflightResponse, allowedMethods, optionsResponse } from './handlers/options.ts';
import { handleRead } from './handlers/read.ts';
import { handleRoot } from './handlers/root.ts';
import { handleRpc } from './handlers/rpc.ts';
import { handleWrite } from './handlers/write.ts';
import type { Authenticator } from './jwt.ts';
import { closest } from './plan/fuzzy.ts';
import { routinesNamed, selectRoutine } from './plan/routine-plan.ts';
import { parsePreferences } from './preferences.ts';
import { errorResponse, send, type ApiResponse } from './response.ts';
import type { SchemaCache, Table } from './schema-types.ts';
import { qualifiedKey } from './schema-types.ts';

type Route = { kind: 'root' } | { kind: 'relation'; name: string } | { kind: 'rpc'; name: string };

const relationMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const rpcMethods = ['GET', 'HEAD', 'POST', 'OPTIONS'];

function route(path: string): Route {
  const invalid = () => pgrstError('PGRST125', 'Invalid path specified in request URL');
  const segments = path.split('/').slice(1);
  let decoded: string[];
  try {
    decoded = segments.map(decodeURIComponent);
  } catch {
    throw invalid();
  }
  if (decoded.length === 1 && decoded[0] === '') return { kind: 'root' };
  if (decoded.length === 1 && decoded[0] !== '') return { kind: 'relation', name: decoded[0]! };
  if (decoded.length === 2 && decoded[0] === 'rpc' && decoded[1] !== '') return { kind: 'rpc', name: decoded[1]! };
  throw invalid();
}

function checkMethod(r: Route, method: string): void {
  if (r.kind === 'rpc' && !rpcMethods.includes(method)) {
    throw pgrstError('PGRST101', `Cannot use the ${method} method on RPC`);
  }
  if (!relationMethods.includes(method) || (r.kind === 'root' && !['GET', 'HEAD', 'OPTIONS'].includes(method))) {
    throw pgrstError('PGRST117', `Unsupported HTTP method: ${method}`);
  }
}

/** The schema from Accept-Profile (reads) or Content-Profile (writes). */
function selectSchema(
  deps: Deps,
  headers: [string, string][],
  method: string,
): { schema: string; profileUsed: boolean } {
  const name = ['GET', 'HEAD', 'OPTIONS'].includes(method) ? 'accept-profile' : 'content-profile';
  const requested = header({ headers }, name);
  const schemas = deps.config.dbSchemas;
  if (requested === undefined) return { schema: schemas[0] ?? 'public', profileUsed: false };
  if (!schemas.includes(requested)) {
    throw pgrstError(
      'PGRST106',
      `Invalid schema: ${requested}`,
      null,
      `Only the following schemas are exposed: ${schemas.join(', ')}`,
    );
  }
  return { schema: requested, profileUsed: true };
}

export function findTable(cache: SchemaCache, schema: string, name: string): Table {
  const table = cache.tables.get(qualifiedKey({ schema, name }));
  if (table) return table;
  const suggestion = closest(
    name,
    [...cache.tables.values()].filter((t) => t.schema === schema).map((t) => t.name),
  );
  throw pgrstError(
    'PGRST205',
    `Could not find the table '${schema}.${name}' in the schema cache`,
    null,
    suggestion === undefined ? null : `Perhaps you meant the table '${schema}.${suggestion}'`,
  );
}

/** What the HTTP front needs beyond the request: the body limit and whether the gateway is closing. */
export interface ListenerOptions {
  /** Largest request body accepted, in bytes; larger ones get 413. */
  maxBodyBytes: number;
  /** True once close() has begun: answers then carry `Connection: close`. */
  closing: () => boolean;
  /** Called once per response (metrics: src/metrics/rest.ts). */
  onResponse?: (method: string, url: string, status: number, seconds: number) => void;
}

/** 413 with a PostgREST error body (PostgREST itself sets no limit; PGRST102 is its body-error code). */
export function bodyTooLarge(limit: number): ApiError {
  return new ApiError(
    413,
    'PGRST102',
    'Request body too large',
    `The request body exceeds the limit of ${limit} bytes`,
    null,
    [['Connection', 'close']],
  );
}

/** The body, refused with 413 as soon as Content-Length or the bytes received exceed the limit. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw bodyTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw bodyTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Header pairs with lower-cased names, as received. */
function headerPairs(req: IncomingMessage): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
    pairs.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
  return pairs;
}

async function answer(
  deps: Deps,
  authenticator: Authenticator,
  req: IncomingMessage,
  headers: [string, string][],
  roleOut: { role?: string },
  maxBodyBytes: number,
): Promise<ApiResponse> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://localhost');
  const r = route(url.pathname);
  if (method === 'OPTIONS' && header({ headers }, 'access-control-request-method') !== undefined) {
    return preflightResponse(
      deps.config,
      header({ headers }, 'origin'),
      header({ headers }, 'access-control-request-headers'),
    );
  }
  checkMethod(r, method);
  const auth = await authenticator.authenticate(header({ headers }, 'authorization'));
  roleOut.role = auth.role;
  const { schema, profileUsed } = selectSchema(deps, headers, method);
  await deps.cacheSettled();
  const cache = deps.cache();
  const preferences = parsePreferences(
    headers.filter(([k]) => k === 'prefer').map(([, v]) => v),
    (tz) => cache.timezones.has(tz),
  );
  const body = ['GET', 'HEAD', 'OPTIONS'].includes(method) ? Buffer.alloc(0) : await readBody(req, maxBodyBytes);
  const ctx: RequestContext = {
    method,
    path: url.pathname,
    query: [...url.searchParams],
    headers,
    body,
    auth,
    schema,
    profileUsed,
    preferences,
  };
  switch (r.kind) {
    case 'root':
      return method === 'OPTIONS' ? optionsResponse(allowedMethods('root')) : handleRoot(deps, ctx);
    case 'rpc': {
      if (method !== 'OPTIONS') return handleRpc(deps, ctx, r.name);
      const routines = routinesNamed(cache, schema, r.name);
      if (routines.length === 0) selectRoutine(cache, schema, r.name, [], 'other');
      return optionsResponse(allowedMethods({ routines }));
    }
    case 'relation': {
      const table = findTable(cache, schema, r.name);
      if (method === 'OPTIONS') return optionsResponse(allowedMethods({ table }));
      if (method === 'GET' || method === 'HEAD') return handleRead(deps, ctx, table);
      return handleWrite(deps, ctx, table);
    }
  }
}

/** Headers every answer carries besides its own: CORS, `Connection: close` when closing, trace, request id. */
function commonHeaders(
  deps: Deps,
  headers: [string, string][],
  requestId: string,
  response: ApiResponse,
  closing: boolean,
): [string, string][] {
  const preflight = response.headers.some(([k]) => k === 'Access-Control-Allow-Origin');
  const cors = preflight ? [] : corsHeaders(deps.config, header({ headers }, 'origin'));
  const traceName = deps.config.serverTraceHeader?.toLowerCase();
  const trace = traceName === undefined ? undefined : header({ headers }, traceName);
  return [
    ...cors,
    // Closing: finish this request, then let the connection go (keep-alive would hold close() up).
    ...(closing && !response.headers.some(([k]) => k === 'Connection')
      ? [['Connection', 'close'] as [string, string]]
      : []),
    ...(trace === undefined ? [] : [[deps.config.serverTraceHeader!, trace] as [string, string]]),
    ...(traceName === 'x-request-id' ? [] : [['X-Request-Id', requestId] as [string, string]]),
  ];
}

/** One line per request; never the query string or headers (tokens, personal data). */
function logResponse(
  logger: Logger,
  options: ListenerOptions,
  method: string,
  url: string,
  status: number,
  started: bigint,
  role: string | undefined,
  requestId: string,
): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  options.onResponse?.(method, url, status, seconds);
  const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
  logger[level]({ method, path: url.split('?')[0], status, durationMs: seconds * 1000, role, requestId }, 'request');
}

/** The error PostgREST gives a method it does not serve: PGRST125 (path), PGRST101 (RPC) or PGRST117. */
function unsupportedMethod(method: string, target: string): ApiError {
  let path: string;
  try {
    path = new URL(target, 'http://localhost').pathname;
  } catch {
    return pgrstError('PGRST125', 'Invalid path specified in request URL');
  }
  try {
    checkMethod(route(path), method);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  return pgrstError('PGRST117', `Unsupported HTTP method: ${method}`);
}

/** A method is an RFC 9110 token; llhttp knows a fixed list of them and refuses the rest. */
const methodToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The method, target and headers of a request node:http could not parse, when its request line is whole. */
function rawRequest(
  packet: Buffer | undefined,
): { method: string; target: string; headers: [string, string][] } | undefined {
  const text = packet?.toString('latin1') ?? '';
  const [line = '', ...lines] = text.split(/\r?\n/);
  const m = /^(\S+) (\S+) HTTP\/\d\.\d$/.exec(line);
  if (!m || !methodToken.test(m[1]!)) return undefined;
  const headers: [string, string][] = [];
  for (const l of lines) {
    if (l === '') break;
    const colon = l.indexOf(':');
    if (colon > 0) headers.push([l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()]);
  }
  return { method: m[1]!, target: m[2]!, headers };
}

/** Writes a whole answer on a socket node:http does not answer on, then closes it. */
function writeRaw(socket: Duplex, response: ApiResponse): void {
  const body = response.body ?? '';
  const lines = [
    `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`,
    `Date: ${new Date().toUTCString()}`,
    ...response.headers.filter(([k]) => k.toLowerCase() !== 'connection').map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}

/** Node's own answers to requests it cannot parse (what it sends without a `clientError` listener). */
const parserErrorStatus: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/**
 * Requests that never reach the request listener: node:http's parser (llhttp) knows a fixed list of
 * methods and rejects any other (`FOO /clients`) before a handler runs, and CONNECT is handed to a
 * `connect` listener. Both get the error PostgREST gives an unsupported method (405 PGRST117, or
 * PGRST101 on /rpc), written to the socket, which is then closed (the parser cannot go on after a
 * bad request line). Other parse failures get node's bare 400 (431, 408…) as before.
 */
export function createUnparsedRequestHandlers(deps: Deps, logger: Logger, options: ListenerOptions) {
  const refuse = (socket: Duplex, method: string, target: string, headers: [string, string][]) => {
    const started = process.hrtime.bigint();
    const incomingId = header({ headers }, 'x-request-id');
    const requestId = requestIdFrom(incomingId);
    const response = errorResponse(unsupportedMethod(method, target));
    writeRaw(socket, {
      ...response,
      headers: [...response.headers, ...commonHeaders(deps, headers, requestId, response, false)],
    });
    logResponse(logger, options, method, target, response.status, started, undefined, requestId);
  };
  return {
    clientError(error: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
      // Only on a connection with no answer under way (node checks the same before its 400).
      const idle = socket.writable && (socket as { _httpMessage?: unknown })._httpMessage == null;
      const request = error.code === 'HPE_INVALID_METHOD' ? rawRequest(error.rawPacket) : undefined;
      if (idle && request) {
        refuse(socket, request.method, request.target, request.headers);
        return;
      }
      if (idle && error.code !== 'ECONNRESET') {
        const status = parserErrorStatus[error.code ?? ''] ?? 400;
        socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`, () => socket.destroy());
        return;
      }
      socket.destroy();
    },
    connect(req: IncomingMessage, socket: Duplex): void {
      refuse(socket, req.method ?? 'CONNECT', req.url ?? '/', headerPairs(req));
    },
  };
}

export function createRequestListener(
  deps: Deps,
  authenticator: Authenticator,
  logger: Logger,
  options: ListenerOptions,
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const headers = headerPairs(req);
    // The caller's X-Request-Id (when it is a sane token) or a new one: logged, answered, and seen by SQL
    // in request.headers like any other header.
    const incomingId = header({ headers }, 'x-request-id');
    const requestId = requestIdFrom(incomingId);
    if (incomingId !== requestId) headers.push(['x-request-id', requestId]);
    const roleOut: { role?: string } = {};
    const finish = (response: ApiResponse) => {
      const extra = commonHeaders(deps, headers, requestId, response, options.closing());
      send(res, { ...response, headers: [...response.headers, ...extra] }, req.method === 'HEAD');
      logResponse(
        logger,
        options,
        req.method ?? 'GET',
        req.url ?? '/',
        response.status,
        started,
        roleOut.role,
        requestId,
      );
    };
    answer(deps, authenticator, req, headers, roleOut, options.maxBodyBytes).then(finish, (error: unknown) => {
      if (error instanceof ApiError) {
        finish(errorResponse(error));
        return;
      }
      logger.error({ err: error, requestId }, 'request failed');
      finish(errorResponse(pgrstError('PGRST001', 'Database client error')));
    });
  };
}
