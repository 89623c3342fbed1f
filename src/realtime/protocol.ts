// The WebSocket protocol (docs/realtime.md): client messages `subscribe`, `unsubscribe` and `auth`,
// answered with `subscribed`, `unsubscribed`, `authenticated` or an `error` naming the subscription.
import { z } from 'zod';
import { ApiError } from '../rest/errors.ts';
import type { AuthResult } from '../rest/jwt.ts';
import { badMessage } from './errors.ts';
import type { Session } from './session.ts';
import { errorMessage, type Transport } from './transport.ts';

const clientMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('subscribe'),
    id: z.string().min(1).max(200).optional(),
    table: z.string().min(1),
    filter: z.string().optional(),
    token: z.string().optional(),
  }),
  z.object({ type: z.literal('unsubscribe'), id: z.string().min(1) }),
  z.object({ type: z.literal('auth'), token: z.string() }),
]);

/** `schema.name` (quoted names allowed: `"my.schema"."t"`), or a bare name in the first exposed schema. */
function splitRelation(label: string, schemas: string[]): { schema: string; name: string } {
  const m = /^(?:("(?:[^"]|"")+"|[^".]+)\.)?("(?:[^"]|"")+"|[^".]+)$/.exec(label);
  if (!m) throw badMessage(`'${label}' is not a table name`, 'Expected schema.table');
  const unquote = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s);
  return { schema: m[1] === undefined ? (schemas[0] ?? 'public') : unquote(m[1]), name: unquote(m[2]!) };
}

/** A query string (`a=eq.1&select=x`) as pairs, minus the token. */
export function queryPairs(text: string): [string, string][] {
  return [...new URLSearchParams(text)].filter(([k]) => k !== 'token');
}

export interface ProtocolContext {
  session: Session;
  ws: Transport;
  /** The exposed schemas (a bare table name means the first). */
  schemas: string[];
  /** The identity of a token (none: the anonymous role, or PGRST302 when there is none). */
  authenticate(token: string | undefined): Promise<AuthResult>;
}

/** Handles one text message; errors of the request are answered, others thrown. */
export async function handleClientMessage(ctx: ProtocolContext, text: string): Promise<void> {
  const { session, ws, schemas, authenticate } = ctx;
  let parsed: z.infer<typeof clientMessage>;
  try {
    parsed = clientMessage.parse(JSON.parse(text));
  } catch (error) {
    const details = error instanceof z.ZodError ? z.prettifyError(error) : (error as Error).message;
    ws.send('error', errorMessage(badMessage('Invalid message', details)));
    return;
  }
  const id = parsed.type === 'auth' ? undefined : parsed.type === 'subscribe' ? (parsed.id ?? parsed.table) : parsed.id;
  try {
    if (parsed.type === 'auth' || (parsed.type === 'subscribe' && parsed.token !== undefined)) {
      session.identify(await authenticate(parsed.token));
      if (parsed.type === 'auth') ws.send('authenticated', JSON.stringify({ type: 'authenticated' }));
    }
    if (parsed.type === 'subscribe') {
      if (!session.identified) session.identify(await authenticate(undefined));
      const relation = splitRelation(parsed.table, schemas);
      const subscription = await session.subscribe({
        id: id ?? parsed.table,
        ...relation,
        query: queryPairs(parsed.filter ?? ''),
      });
      ws.send('subscribed', JSON.stringify({ type: 'subscribed', id: subscription.id, table: subscription.label }));
    } else if (parsed.type === 'unsubscribe') {
      if (!session.unsubscribe(parsed.id)) throw badMessage(`No subscription '${parsed.id}'`);
      ws.send('unsubscribed', JSON.stringify({ type: 'unsubscribed', id: parsed.id }));
    }
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    ws.send('error', errorMessage(error, id));
  }
}
