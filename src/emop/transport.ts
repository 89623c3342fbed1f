// One EMOP exchange over TCP, as real meters expect: connect, send one request frame, read until the
// length byte's `L + 1` bytes have arrived, close. Connect and read timeouts; an AbortSignal ends it early.
import { Socket } from 'node:net';
import { abortedError, throwIfAborted } from './abort.ts';
import { EmopConnectionError, EmopDelimiterError, EmopTimeoutError, type EmopError } from './errors.ts';
import { FRAME_DELIMITER, wireLength } from './frame.ts';

export interface ExchangeOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** From the request being written until the whole response has arrived. */
  readTimeoutMs: number;
  signal?: AbortSignal;
}

/** Resolves with exactly one response frame's bytes (not yet decoded). */
export function exchange(request: Uint8Array, options: ExchangeOptions): Promise<Uint8Array> {
  throwIfAborted(options.signal);
  return new Promise<Uint8Array>((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (error: EmopError | undefined, frame?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(frame!);
    };
    const onAbort = () => finish(abortedError(options.signal!));
    const arm = (phase: 'connect' | 'read', ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new EmopTimeoutError(phase, ms, Uint8Array.from(received))), ms);
    };

    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received[0] !== FRAME_DELIMITER) {
        finish(new EmopDelimiterError('response does not start with 7E', Uint8Array.from(received)));
        return;
      }
      const lengthByte = received[1];
      if (lengthByte !== undefined && received.length >= wireLength(lengthByte)) {
        finish(undefined, Uint8Array.from(received.subarray(0, wireLength(lengthByte))));
      }
    });
    socket.on('error', (error) =>
      finish(new EmopConnectionError(error.message, connected, Uint8Array.from(received), { cause: error })),
    );
    socket.on('close', () =>
      finish(
        new EmopConnectionError('connection closed before a whole response', connected, Uint8Array.from(received)),
      ),
    );
    arm('connect', options.connectTimeoutMs);
    socket.connect({ host: options.host, port: options.port }, () => {
      connected = true;
      arm('read', options.readTimeoutMs);
      socket.write(request);
    });
  });
}
