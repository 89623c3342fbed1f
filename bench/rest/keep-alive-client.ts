// A load generator's HTTP/1.1 client: one keep-alive connection, one request at a time, answers
// framed by Content-Length (the gateway sends it on every answer with a body). It costs a
// fraction of node:http's client, as wrk or autocannon do, so that the benchmark measures the
// server rather than its own client.
import net from 'node:net';

export interface Answer {
  status: number;
  body: Buffer;
}

const headerEnd = Buffer.from('\r\n\r\n');

/**
 * One keep-alive connection to `host:port`; `send` writes a complete, pre-encoded request. A
 * connection the server closed while idle (its keep-alive timeout) is opened again on the next send.
 */
export class KeepAliveConnection {
  private socket: net.Socket | undefined;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void; head: boolean } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** Sends `request` (a whole HTTP/1.1 message) and resolves with the answer's status and body. */
  send(request: Buffer, head = false): Promise<Answer> {
    if (this.waiting) return Promise.reject(new Error('one request at a time per connection'));
    const socket = (this.socket ??= this.connect());
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, head };
      socket.write(request);
    });
  }

  close(): void {
    this.socket?.destroy();
  }

  private connect(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    this.buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.deliver();
    });
    const fail = (error: Error) => {
      if (this.socket === socket) this.socket = undefined;
      this.waiting?.reject(error);
      this.waiting = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the server')));
    return socket;
  }

  /** Completes the waiting request once its head and Content-Length bytes of body are in. */
  private deliver(): void {
    if (!this.waiting) return;
    const end = this.buffered.indexOf(headerEnd);
    if (end < 0) return;
    const head = this.buffered.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
    const bodyless = this.waiting.head || status === 204 || status === 304;
    if (!bodyless && (length === null || chunked)) {
      this.waiting.reject(new Error(`answer without Content-Length: ${head.split('\r\n')[0]}`));
      this.waiting = undefined;
      this.socket?.destroy();
      return;
    }
    const size = bodyless ? 0 : Number(length![1]);
    const total = end + headerEnd.length + size;
    if (this.buffered.length < total) return;
    const body = this.buffered.subarray(end + headerEnd.length, total);
    this.buffered = this.buffered.subarray(total);
    const { resolve } = this.waiting;
    this.waiting = undefined;
    resolve({ status, body });
  }
}

/** A GET (or other bodiless) request, or one with a JSON body, encoded once and sent many times. */
export function encodeRequest(method: string, target: string, headers: [string, string][], body?: string): Buffer {
  const lines = [`${method} ${target} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`);
}
