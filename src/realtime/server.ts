// `flows realtime`: an HTTP server streaming changes of watched tables over Server-Sent Events
// (`GET /subscribe/<schema>/<relation>?<filters>`) and WebSocket (`/ws`), with `/live` and `/ready`.
// It logs in as the authenticator with the REST layer's PGRST_* settings and reuses the gateway's
// JWT checks, schema cache, query parser, planner and transaction (docs/realtime.md).
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RealtimeConfig, RestConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Deps } from '../rest/context.ts';
import { ApiError, pgrstError } from '../rest/errors.ts';
import { authenticatorPool, closeServer, listen, urlOf } from '../rest/gateway.ts';
import { corsHeaders } from '../rest/handlers/options.ts';
import { createAuthenticator, type AuthResult } from '../rest/jwt.ts';
import { errorResponse, send } from '../rest/response.ts';
import { SchemaCacheHolder } from '../rest/schema-listener.ts';
import { ChangeListener } from './changes.ts';
import { badMessage } from './errors.ts';
import { handleClientMessage, queryPairs } from './protocol.ts';
import { Session } from './session.ts';
import { subscribe } from './subscription.ts';
import { openEventStream } from './sse.ts';
import { handshakeProblem, WebSocketConnection } from './websocket.ts';
import { closeCodes } from './ws-frames.ts';

/** An extra HTTP route (e.g. `/metrics`), answered before the built-in ones. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface RealtimeOptions {
  /** Extra routes by path. */
  routes?: Record<string, RouteHandler>;
}

export interface RealtimeStats {
  connections: number;
  subscriptions: number;
  /** Clients dropped for back-pressure since start. */
  dropped: number;
  listening: boolean;
}

export interface RealtimeServer {
  url: string;
  stats(): RealtimeStats;
  /**
   * Graceful shutdown (once; later calls share it): tells every client the server is going away
   * (an error event, WebSocket close 1001), stops listening, then closes the database side.
   */
  close(): Promise<void>;
}

export async function startRealtime(
  rest: RestConfig,
  config: RealtimeConfig,
  logger: Logger,
  options: RealtimeOptions = {},
): Promise<RealtimeServer> {
  const { pool, end: endPool } = authenticatorPool(rest, logger);
  const holder = new SchemaCacheHolder(rest, pool, logger);
  try {
    await holder.start();
  } catch (error) {
    await endPool();
    throw error;
  }
  const deps: Deps = { config: rest, pool, cache: () => holder.current(), cacheSettled: () => holder.settled() };
  const authenticator = createAuthenticator(rest);
  const sessions = new Set<Session>();
  let dropped = 0;
  let closing = false;
  const sessionContext = { deps, config, logger, onDropped: () => (dropped += 1) };

  const changes = new ChangeListener({
    dbUri: rest.dbUri,
    logger,
    onChange: (change) => {
      for (const session of sessions) session.offer(change);
    },
    // Changes may have been missed: clients reconnect and read the current state.
    onLost: () => {
      const error = pgrstError('PGRST000', 'Database connection error. Retrying the connection.');
      for (const session of sessions) session.close(closeCodes.unavailable, error);
    },
  });
  await changes.start();

  const authenticate = (token: string | undefined, authorization: string | undefined): Promise<AuthResult> =>
    authenticator.authenticate(token !== undefined ? `Bearer ${token}` : authorization);

  const track = (session: Session, onClosed: (cb: () => void) => void) => {
    sessions.add(session);
    onClosed(() => sessions.delete(session));
  };

  /** `GET /subscribe/<schema>/<relation>?<filters>&select=…&token=…`: one subscription as an event stream. */
  const serveEvents = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const cors = corsHeaders(rest, req.headers.origin);
    const invalid = () =>
      pgrstError('PGRST125', 'Invalid path specified in request URL', null, 'Use /subscribe/<schema>/<table>');
    let segments: string[];
    try {
      segments = url.pathname.split('/').slice(2).map(decodeURIComponent);
    } catch {
      throw invalid();
    }
    if (segments.length !== 2 || segments.some((s) => s === '')) throw invalid();
    const auth = await authenticate(url.searchParams.get('token') ?? undefined, req.headers.authorization);
    const [schema, name] = segments as [string, string];
    // Checked before the stream opens, so that a bad subscription is an HTTP error as in PostgREST.
    const subscription = await subscribe(deps, auth, { id: name, schema, name, query: queryPairs(url.search) });
    const stream = openEventStream(res, cors);
    const session = new Session(sessionContext, stream);
    track(session, (cb) => stream.onClosed(cb));
    session.identify(auth);
    session.adopt(subscription);
    stream.send('subscribed', JSON.stringify({ type: 'subscribed', id: subscription.id, table: subscription.label }));
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (error: ApiError) => {
      const body = JSON.stringify(error.body());
      socket.end(
        `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws' || closing) {
      refuse(pgrstError('PGRST125', 'Invalid path specified in request URL', null, 'WebSocket connections use /ws'));
      return;
    }
    const problem = handshakeProblem(req);
    if (problem !== undefined) {
      refuse(badMessage('Not a WebSocket handshake', problem));
      return;
    }
    const token = url.searchParams.get('token') ?? undefined;
    const identified =
      token !== undefined || req.headers.authorization !== undefined
        ? authenticate(token, req.headers.authorization)
        : Promise.resolve(undefined);
    identified.then(
      (auth) => {
        const ws = new WebSocketConnection(req, socket);
        const session = new Session(sessionContext, ws);
        track(session, (cb) => ws.onClosed(cb));
        if (auth) session.identify(auth);
        // Messages are handled one at a time, in order.
        let queue = Promise.resolve();
        ws.start(head, (text) => {
          queue = queue
            .then(() =>
              handleClientMessage(
                { session, ws, schemas: rest.dbSchemas, authenticate: (t) => authenticate(t, undefined) },
                text,
              ),
            )
            .catch((error: unknown) => {
              logger.error({ err: error }, 'realtime message failed');
              session.close(closeCodes.unavailable, new ApiError(503, 'PGRST001', 'Database client error'));
            });
        });
      },
      (error: unknown) => {
        if (error instanceof ApiError) refuse(error);
        else socket.destroy();
      },
    );
  };

  const routes: Record<string, RouteHandler> = {
    '/live': (_req, res) => {
      res.statusCode = 200;
      res.end();
    },
    '/ready': (_req, res) => {
      let ready = changes.listening && !closing;
      try {
        holder.current();
      } catch {
        ready = false;
      }
      res.statusCode = ready ? 200 : 503;
      res.end();
    },
    ...options.routes,
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes[url.pathname];
    const fail = (error: unknown) => {
      if (!(error instanceof ApiError)) logger.error({ err: error }, 'realtime request failed');
      const apiError = error instanceof ApiError ? error : pgrstError('PGRST001', 'Database client error');
      const response = errorResponse(apiError);
      send(res, { ...response, headers: [...response.headers, ...corsHeaders(rest, req.headers.origin)] }, false);
    };
    if (route !== undefined) return route(req, res);
    if (req.method === 'GET' && url.pathname.startsWith('/subscribe/') && !closing) {
      serveEvents(req, res, url).catch(fail);
      return;
    }
    fail(pgrstError('PGRST125', 'Invalid path specified in request URL'));
  });
  server.on('upgrade', upgrade);
  try {
    await listen(server, config.port, config.host);
  } catch (error) {
    await changes.stop();
    await holder.stop();
    await endPool();
    throw error;
  }
  const url = urlOf(server);
  logger.info({ url }, 'realtime listening');
  let closed: Promise<void> | undefined;
  return {
    url,
    stats: () => ({
      connections: sessions.size,
      subscriptions: [...sessions].reduce((n, s) => n + s.subscriptionCount, 0),
      dropped,
      listening: changes.listening,
    }),
    close() {
      closed ??= (async () => {
        closing = true;
        const goingAway = new ApiError(503, 'PGRST000', 'Server shutting down', null, 'Reconnect shortly');
        for (const session of sessions) session.close(closeCodes.goingAway, goingAway);
        await changes.stop();
        await closeServer(server);
        await holder.stop();
        await endPool();
      })();
      return closed;
    },
  };
}
