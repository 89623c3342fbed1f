// The WebSocket wire format (RFC 6455 §5): the opening handshake's accept key, and frames —
// encoded (masked when a client sends them) and decoded from a byte stream. No extensions.
import { createHash } from 'node:crypto';

export const opcodes = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** Close codes used here (RFC 6455 §7.4; 4000–4999 are the application's). */
export const closeCodes = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  tooBig: 1009,
  /** The token expired or was refused while the connection was open. */
  unauthorized: 4001,
  /** The client did not keep up (back-pressure). */
  slowClient: 4002,
  /** A re-read failed (database unavailable): reconnect. */
  unavailable: 4003,
} as const;

const handshakeGuid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + handshakeGuid)
    .digest('base64');
}

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** A frame that breaks the protocol: the connection is closed with `code`. */
export class WebSocketProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'WebSocketProtocolError';
  }
}

/** One frame; `mask` (4 bytes) is required from clients and forbidden from servers. */
export function encodeFrame(opcode: number, payload: Buffer, mask?: Buffer, fin = true): Buffer {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = (mask ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) header.writeUInt16BE(length, 2);
  if (extended === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!mask) return Buffer.concat([header, payload]);
  mask.copy(header, 2 + extended);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
  return Buffer.concat([header, masked]);
}

/** The payload of a close frame: the code and a UTF-8 reason (at most 123 bytes). */
export function closePayload(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

/**
 * Splits a byte stream into frames. `masked` says what the peer must do (clients mask, servers do
 * not); frames longer than `maxPayload` are refused with 1009.
 */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  /** Chunks received after `buffer`, joined only once the next frame can be complete. */
  private chunks: Buffer[] = [];
  private received = 0;
  /** Bytes the next frame needs at least (its header, then all of it). */
  private needed = 2;

  constructor(
    private readonly masked: boolean,
    private readonly maxPayload: number,
  ) {}

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.received < this.needed) return [];
    this.buffer = Buffer.concat([this.buffer, ...this.chunks]);
    this.chunks = [];
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (frame === undefined) {
        this.received = this.buffer.length;
        return frames;
      }
      frames.push(frame);
    }
  }

  private next(): Frame | undefined {
    const b = this.buffer;
    this.needed = 2;
    if (b.length < 2) return undefined;
    const fin = (b[0]! & 0x80) !== 0;
    if ((b[0]! & 0x70) !== 0) throw new WebSocketProtocolError(closeCodes.protocolError, 'reserved bits set');
    const opcode = b[0]! & 0x0f;
    const masked = (b[1]! & 0x80) !== 0;
    if (masked !== this.masked) {
      throw new WebSocketProtocolError(closeCodes.protocolError, masked ? 'unexpected mask' : 'frame not masked');
    }
    let length = b[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      this.needed = 4;
      if (b.length < 4) return undefined;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      this.needed = 10;
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(this.maxPayload)) throw new WebSocketProtocolError(closeCodes.tooBig, 'frame too large');
      length = Number(big);
      offset = 10;
    }
    if (length > this.maxPayload) throw new WebSocketProtocolError(closeCodes.tooBig, 'frame too large');
    if (opcode >= 0x8 && (length > 125 || !fin)) {
      throw new WebSocketProtocolError(closeCodes.protocolError, 'bad control frame');
    }
    const maskAt = offset;
    if (masked) offset += 4;
    this.needed = offset + length;
    if (b.length < this.needed) return undefined;
    const payload = Buffer.from(b.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= b[maskAt + (i % 4)]!;
    this.buffer = b.subarray(offset + length);
    return { fin, opcode, payload };
  }
}
