// Test clients of the realtime service over real sockets: an SSE reader (node:http) and a WebSocket
// client speaking RFC 6455 with masked frames (src/realtime/ws-frames.ts). Both collect messages
// and let a test await the one it expects.
import { randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { acceptKey, closePayload, encodeFrame, FrameReader, opcodes } from '../../../src/realtime/ws-frames.ts';

export interface Message {
  type: string;
  [key: string]: unknown;
}

/** Messages in arrival order, and waiting for one. */
class Inbox {
  readonly messages: Message[] = [];
  private waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];

  add(message: Message): void {
    this.messages.push(message);
    for (const w of this.waiters.filter((w) => w.match(message))) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(message);
    }
  }

  /** The first message (already received or coming) that matches, within `timeoutMs`. */
  next(match: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    const found = this.messages.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      const done = (m: Message) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ match, resolve: done });
    });
  }
}

export const ofType =
  (type: string, id?: string) =>
  (m: Message): boolean =>
    m.type === type && (id === undefined || m.id === id);

export interface SseClient extends Inbox {
  response: IncomingMessage;
  /** Keep-alive comments received. */
  comments: number;
  ended: Promise<void>;
  close(): void;
}

/** Opens `GET <url>`; resolves with the response (whatever its status) and, for 200, the event reader. */
export function openSse(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; client: SseClient }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const inbox = new Inbox();
      const client = Object.assign(inbox, {
        response: res,
        comments: 0,
        ended: new Promise<void>((r) => res.once('close', () => r())),
        close: () => req.destroy(),
      }) as SseClient;
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, client }));
        return;
      }
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) {
            client.comments += 1;
            continue;
          }
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          client.add(JSON.parse(data) as Message);
        }
      });
      res.on('error', () => undefined);
      resolve({ status: 200, body: '', client });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface WsClient extends Inbox {
  socket: Socket;
  pings: number;
  /** Payloads of the server's pongs. */
  pongs: string[];
  /** The server's close frame (code and reason), once the connection has ended. */
  closed: Promise<{ code: number | undefined; reason: string }>;
  send(message: unknown): void;
  close(): void;
}

/** Connects to `/ws` (with extra request headers); rejects with the HTTP answer when not upgraded. */
export function openWebSocket(
  baseUrl: string,
  path = '/ws',
  headers: Record<string, string> = {},
  options: { answerPings?: boolean } = {},
): Promise<WsClient> {
  const { hostname, port } = new URL(baseUrl);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra.join('')}\r\n`,
    );
    let head = Buffer.alloc(0);
    let closeFrame: { code: number | undefined; reason: string } = { code: undefined, reason: '' };
    const reader = new FrameReader(false, 64 * 1024 * 1024);
    const inbox = new Inbox();
    const client = Object.assign(inbox, {
      socket,
      pings: 0,
      pongs: [] as string[],
      closed: new Promise<{ code: number | undefined; reason: string }>((r) =>
        socket.once('close', () => r(closeFrame)),
      ),
      send: (message: unknown) =>
        socket.write(encodeFrame(opcodes.text, Buffer.from(JSON.stringify(message)), randomBytes(4))),
      close: () => {
        socket.write(encodeFrame(opcodes.close, closePayload(1000, ''), randomBytes(4)));
        socket.end();
      },
    }) as WsClient;
    const onFrames = (data: Buffer) => {
      for (const frame of reader.push(data)) {
        if (frame.opcode === opcodes.text) client.add(JSON.parse(frame.payload.toString('utf8')) as Message);
        if (frame.opcode === opcodes.ping) {
          client.pings += 1;
          if (options.answerPings !== false) socket.write(encodeFrame(opcodes.pong, frame.payload, randomBytes(4)));
        }
        if (frame.opcode === opcodes.pong) client.pongs.push(frame.payload.toString('utf8'));
        if (frame.opcode === opcodes.close) {
          closeFrame = {
            code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined,
            reason: frame.payload.subarray(2).toString('utf8'),
          };
        }
      }
    };
    const onHandshake = (data: Buffer) => {
      head = Buffer.concat([head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const response = head.subarray(0, end).toString('latin1');
      socket.off('data', onHandshake);
      if (!response.startsWith('HTTP/1.1 101') || !response.includes(`Sec-WebSocket-Accept: ${acceptKey(key)}`)) {
        socket.once('close', () => reject(new Error(head.toString('utf8'))));
        socket.on('data', (d: Buffer) => (head = Buffer.concat([head, d])));
        return;
      }
      socket.on('data', onFrames);
      resolve(client);
      const rest = head.subarray(end + 4);
      if (rest.length > 0) onFrames(rest);
    };
    socket.on('data', onHandshake);
    socket.on('error', () => undefined);
  });
}
