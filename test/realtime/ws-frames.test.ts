// The WebSocket codec: the RFC 6455 handshake example, frames of every length class, masking,
// frames split across reads, and the protocol errors a server must refuse.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  acceptKey,
  closeCodes,
  encodeFrame,
  FrameReader,
  opcodes,
  WebSocketProtocolError,
} from '../../src/realtime/ws-frames.ts';

describe('ws-frames', () => {
  it('computes the accept key of RFC 6455 §1.3', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it.each([0, 125, 126, 65535, 65536, 200_000])(
    'round-trips a masked %i-byte frame, whole or in 997-byte pieces',
    (n) => {
      const payload = randomBytes(n);
      const frame = encodeFrame(opcodes.text, payload, randomBytes(4));
      const whole = new FrameReader(true, 1 << 20).push(frame);
      const reader = new FrameReader(true, 1 << 20);
      const pieces = [];
      for (let i = 0; i < frame.length; i += 997) pieces.push(...reader.push(frame.subarray(i, i + 997)));
      for (const frames of [whole, pieces]) {
        expect(frames.map((f) => [f.fin, f.opcode, f.payload.length])).toEqual([[true, opcodes.text, n]]);
        expect(frames[0]!.payload.equals(payload)).toBe(true);
      }
    },
  );

  it('reads several frames from one chunk and keeps fin and opcode', () => {
    const a = encodeFrame(opcodes.text, Buffer.from('{"a":'), undefined, false);
    const b = encodeFrame(opcodes.continuation, Buffer.from('1}'));
    const ping = encodeFrame(opcodes.ping, Buffer.from('p'));
    expect(new FrameReader(false, 100).push(Buffer.concat([a, ping, b]))).toEqual([
      { fin: false, opcode: opcodes.text, payload: Buffer.from('{"a":') },
      { fin: true, opcode: opcodes.ping, payload: Buffer.from('p') },
      { fin: true, opcode: opcodes.continuation, payload: Buffer.from('1}') },
    ]);
  });

  const refused = (reader: FrameReader, frame: Buffer) => {
    try {
      reader.push(frame);
    } catch (error) {
      return (error as WebSocketProtocolError).code;
    }
    return undefined;
  };

  it('refuses unmasked client frames, oversized frames, long or fragmented control frames', () => {
    expect(refused(new FrameReader(true, 100), encodeFrame(opcodes.text, Buffer.from('x')))).toBe(
      closeCodes.protocolError,
    );
    expect(refused(new FrameReader(true, 100), encodeFrame(opcodes.text, randomBytes(101), randomBytes(4)))).toBe(
      closeCodes.tooBig,
    );
    expect(refused(new FrameReader(true, 1000), encodeFrame(opcodes.ping, randomBytes(126), randomBytes(4)))).toBe(
      closeCodes.protocolError,
    );
    expect(
      refused(new FrameReader(true, 100), encodeFrame(opcodes.close, Buffer.alloc(2), randomBytes(4), false)),
    ).toBe(closeCodes.protocolError);
  });
});
