// A minimal RFC 6455 server connection over an upgraded socket: the handshake answer, text
// messages (fragmented or not), ping/pong keep-alive and the closing handshake. No extensions,
// no binary messages (closed with 1003).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApiError } from '../rest/errors.ts';
import { errorMessage, type Transport } from './transport.ts';
import {
  acceptKey,
  closeCodes,
  closePayload,
  encodeFrame,
  FrameReader,
  opcodes,
  WebSocketProtocolError,
  type Frame,
} from './ws-frames.ts';

/** Largest message a client may send (subscribe messages are small). */
export const maxClientMessageBytes = 64 * 1024;

/** Why an upgrade request is not a WebSocket handshake; undefined when it is one. */
export function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'WebSocket handshakes use GET';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Upgrade: websocket expected';
  if (req.headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version: 13 expected';
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || Buffer.from(key, 'base64').length !== 16) return 'Sec-WebSocket-Key missing';
  return undefined;
}

export class WebSocketConnection implements Transport {
  private readonly reader = new FrameReader(true, maxClientMessageBytes);
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private alive = true;
  private closing = false;
  private ended = false;
  private readonly callbacks: (() => void)[] = [];
  private onMessage: (text: string) => void = () => undefined;

  /** Completes the handshake on `socket` (the upgrade's). */
  constructor(
    req: IncomingMessage,
    private readonly socket: Duplex,
  ) {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
    );
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.ended = true;
      for (const callback of this.callbacks.splice(0)) callback();
    });
  }

  /** Reads frames, from the bytes that came with the upgrade (`head`) on; text messages go to `onMessage`. */
  start(head: Buffer, onMessage: (text: string) => void): void {
    this.onMessage = onMessage;
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    if (head.length > 0) this.receive(head);
  }

  private receive(chunk: Buffer): void {
    if (this.ended) return;
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof WebSocketProtocolError)) throw error;
      this.closeFrame(error.code, error.message);
      return;
    }
    for (const frame of frames) this.handle(frame);
  }

  private handle(frame: Frame): void {
    this.alive = true;
    switch (frame.opcode) {
      case opcodes.ping:
        this.write(encodeFrame(opcodes.pong, frame.payload));
        return;
      case opcodes.pong:
        return;
      case opcodes.close: {
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : closeCodes.normal;
        this.closeFrame(code, '');
        return;
      }
      case opcodes.binary:
        this.closeFrame(closeCodes.unsupportedData, 'text messages only');
        return;
      case opcodes.text:
      case opcodes.continuation: {
        if ((frame.opcode === opcodes.text) !== (this.fragments.length === 0)) {
          this.closeFrame(closeCodes.protocolError, 'unexpected continuation');
          return;
        }
        this.fragments.push(frame.payload);
        this.fragmentBytes += frame.payload.length;
        if (this.fragmentBytes > maxClientMessageBytes) {
          this.closeFrame(closeCodes.tooBig, 'message too large');
          return;
        }
        if (!frame.fin) return;
        const text = Buffer.concat(this.fragments).toString('utf8');
        this.fragments = [];
        this.fragmentBytes = 0;
        if (!this.closing) this.onMessage(text);
        return;
      }
      default:
        this.closeFrame(closeCodes.protocolError, 'unknown opcode');
    }
  }

  private write(frame: Buffer): void {
    if (!this.ended && !this.socket.writableEnded) this.socket.write(frame);
  }

  /** Sends a close frame (once) and ends the socket; a peer that does not read is cut off after 1 s. */
  private closeFrame(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.write(encodeFrame(opcodes.close, closePayload(code, reason)));
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  send(_type: string, json: string): void {
    if (!this.closing) this.write(encodeFrame(opcodes.text, Buffer.from(json, 'utf8')));
  }

  buffered(): number {
    return this.socket.writableLength;
  }

  heartbeat(): boolean {
    if (this.closing) return false;
    if (!this.alive) {
      // No frame at all since the last ping: the peer is gone.
      this.socket.destroy();
      return false;
    }
    this.alive = false;
    this.write(encodeFrame(opcodes.ping, Buffer.alloc(0)));
    return true;
  }

  close(code: number, error?: ApiError): void {
    if (error && !this.closing) this.write(encodeFrame(opcodes.text, Buffer.from(errorMessage(error), 'utf8')));
    this.closeFrame(code, error?.message ?? '');
  }

  onClosed(callback: () => void): void {
    if (this.ended) callback();
    else this.callbacks.push(callback);
  }
}
