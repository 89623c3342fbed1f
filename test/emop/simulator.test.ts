// The simulator answers the spec's frames byte for byte, serves several requests on one connection and
// NAKs what it cannot do.
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeDataField } from '../../src/emop/data-field.ts';
import { encodeFrame } from '../../src/emop/frame.ts';
import { fromHex, toHex } from '../../src/emop/hex.ts';
import { objects } from '../../src/emop/objects.ts';
import type { Simulator } from '../../src/emop/simulator/index.ts';
import { simulate } from './helpers.ts';

const SERIAL = 'EML2137580761';
/** 2023-08-06 21:00:01 UTC: the clock of spec §8 example 2. */
const CLOCK = Date.UTC(2023, 7, 6, 21, 0, 1);

async function specMeter(): Promise<Simulator> {
  return simulate({
    now: () => CLOCK,
    meters: [{ serial: SERIAL, address: 0x0018b0, balance: '3.00000', hardwareVersion: '1' }],
    redeemToken: () => '1.00000',
  });
}

/** Writes `request` on one connection and collects `length` bytes of answers. */
async function raw(sim: Simulator, request: string | Uint8Array, length: number): Promise<string> {
  const { host, port } = sim.meter(SERIAL).info;
  const socket = connect({ host, port });
  await once(socket, 'connect');
  socket.write(typeof request === 'string' ? fromHex(request) : request);
  let received = Buffer.alloc(0);
  while (received.length < length) received = Buffer.concat([received, (await once(socket, 'data'))[0] as Buffer]);
  socket.destroy();
  return toHex(received);
}

const hex = (text: string) => toHex(fromHex(text));

describe('simulator', () => {
  it.each([
    [
      'serial read (§8 ex. 1)',
      '7E 11 00000000 0021AE42 05 01 600100 00 C02F',
      '7E 21 0021AE42 000018B0 05 01 600100 00 454D4C32313337353830373631202020 5747',
    ],
    [
      'clock read (§8 ex. 2)',
      '7E 11 00000000 0021AE42 05 01 800800 00 DA54',
      '7E 18 0021AE42 000018B0 05 01 800800 00 17080615000100 8D2D',
    ],
    [
      'prepay balance (§8 ex. 3)',
      '7E 11 00000000 0021AE42 05 01 FFC802 00 0C5A',
      '7E 15 0021AE42 000018B0 05 01 FFC802 00 E0930400 21E1',
    ],
    [
      'CSQ (§8 ex. 5)',
      '7E 11 00000000 0021AE42 05 01 FFFD1D 00 3142',
      '7E 12 0021AE42 000018B0 05 01 FFFD1D 00 30 1ECA',
    ],
    [
      'captured firmware (§8 ex. 7)',
      '7E 11 00000000 C06F0093 01 01 000201 00 AE4A',
      '7E 15 C06F0093 000018B0 01 01 000201 00 33303230 9DBD',
    ],
    [
      'captured hardware (§8 ex. 7)',
      '7E11000018B0C06F0093010160800000CB86',
      '7E15C06F0093000018B001016080000031000000E3D6',
    ],
    ['captured NAK (§8 ex. 8)', '7E11000018B0C06F009301018003090097FE', '7E11C06F0093000018B0290180030900F8A2'],
    [
      'NAK for an unknown object (§8 ex. 10)',
      '7E 11 00000000 0021AE42 05 01 800309 00 903D',
      '7E 11 0021AE42 000018B0 2D 01 800309 00 C8BF',
    ],
  ])('answers %s byte for byte', async (_name, request, response) => {
    const sim = await specMeter();
    expect(await raw(sim, request, fromHex(response).length)).toBe(hex(response));
  });

  it('acknowledges an accepted token write with the expected empty echo (§8 ex. 9)', async () => {
    const sim = await specMeter();
    const request = encodeFrame({
      destination: { deviceType: 0, address: 0 },
      source: { deviceType: 0, address: 0x21ae42 },
      sequence: 5,
      code: 0,
      data: encodeDataField({
        format: 'object',
        oid: objects.prepayTokenSend.oid,
        access: 'write',
        payload: objects.prepayTokenSend.encode('71466394621589161020'),
      }),
    });
    expect(await raw(sim, request, 18)).toBe(hex('7E 11 0021AE42 000018B0 05 01 FFC803 01 4F82'));
    expect(sim.meter(SERIAL).model.balance).toBe('4.00000');
  });

  it('serves several requests on one connection, skipping garbage before a frame', async () => {
    const sim = await specMeter();
    const requests =
      'AA BB 7E 11 00000000 0021AE42 05 01 FFFD1D 00 3142' + '7E 11 00000000 0021AE42 05 01 FFC802 00 0C5A';
    expect(await raw(sim, requests, 19 + 22)).toBe(
      hex('7E 12 0021AE42 000018B0 05 01 FFFD1D 00 30 1ECA' + '7E 15 0021AE42 000018B0 05 01 FFC802 00 E0930400 21E1'),
    );
    expect(sim.meter(SERIAL).requests.map((r) => r.connection)).toEqual([1, 1]);
  });

  it('NAKs a bad CRC (1), a bad data field (2), a wrong-length write (3) and a write to a read-only object (6)', async () => {
    const sim = await specMeter();
    const frame = (data: string) =>
      encodeFrame({
        destination: { deviceType: 0, address: 0 },
        source: { deviceType: 0, address: 0x21ae42 },
        sequence: 5,
        code: 0,
        data: fromHex(data),
      });
    const codeOf = async (request: Uint8Array) => fromHex(await raw(sim, request, 18))[10]! >> 3;
    const badCrc = frame('01 FFFD1D 00');
    badCrc[badCrc.length - 1]! ^= 0xff;
    expect(await codeOf(badCrc)).toBe(1);
    expect(await codeOf(frame('09 FFFD1D 00'))).toBe(2);
    expect(await codeOf(frame('01 FFFF0D 01 0101'))).toBe(3);
    expect(await codeOf(frame('01 FFC802 01 00000000'))).toBe(6);
  });
});
