import { describe, expect, it } from 'vitest';
import { crc16 } from '../../src/emop/crc.ts';
import { fromHex } from '../../src/emop/hex.ts';

describe('crc16 (CRC-16/CCITT-FALSE)', () => {
  it('has the catalogue check value', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x29b1);
  });

  it('shows §3 example 3 as printed (addresses swapped) does not give F8A2', () => {
    expect(crc16(fromHex('11 00 00 18 B0 C0 6F 00 93 29 01 80 03 09 00'))).not.toBe(0xf8a2);
  });

  it.each([
    ['serial-read request', '11 00 00 00 00 00 21 AE 42 05 01 60 01 00 00', 0xc02f],
    ['captured response', '15 C0 6F 00 93 00 00 18 B0 01 01 00 02 01 00 33 30 32 30', 0x9dbd],
    // §3 prints this one with destination and source swapped; the captured frame (§8 ex. 8) has dst C06F0093.
    ['captured NAK', '11 C0 6F 00 93 00 00 18 B0 29 01 80 03 09 00', 0xf8a2],
    [
      'token write',
      '25 01 FF FF FF C0 12 34 56 01 01 FF C8 03 01' + Buffer.from('71466394621589161020').toString('hex'),
      0x0830,
    ],
  ])('matches spec §3 worked example: %s', (_name, hex, crc) => {
    expect(crc16(fromHex(hex))).toBe(crc);
  });
});
