// Every worked example and captured frame of spec §8, byte for byte, through the frame, data-field and
// object codecs together.
import { describe, expect, it } from 'vitest';
import { decodeDataField, encodeDataField, type DataField } from '../../src/emop/data-field.ts';
import { decodeFrame, encodeFrame, type Address } from '../../src/emop/frame.ts';
import { fromHex, toHex } from '../../src/emop/hex.ts';
import { futureTariffObjects, objects, type ObjectCodec } from '../../src/emop/objects.ts';
import { profileLog1 } from '../../src/emop/profile-log.ts';
import { emopSecondsToWallClock } from '../../src/emop/units.ts';

const pythonClient: Address = { deviceType: 0x00, address: 0x21ae42 };
const wildcard: Address = { deviceType: 0x00, address: 0 };
const meter: Address = { deviceType: 0x00, address: 0x0018b0 };
const javaClient: Address = { deviceType: 0xc0, address: 0x6f0093 };
const repoDestination: Address = { deviceType: 0x01, address: 0xffffff };
const repoSource: Address = { deviceType: 0xc0, address: 0x123456 };

function frame(destination: Address, source: Address, control: number, field: DataField): string {
  return toHex(
    encodeFrame({ destination, source, sequence: control & 7, code: control >> 3, data: encodeDataField(field) }),
  );
}

const read = (oid: number): DataField => ({ format: 'object', oid, access: 'read', payload: new Uint8Array() });
const write = (oid: number, payload: Uint8Array): DataField => ({ format: 'object', oid, access: 'write', payload });
const answer = <T>(object: ObjectCodec<T>, value: T): DataField => ({
  format: 'object',
  oid: object.oid,
  access: 'read',
  payload: object.encode(value),
});

/** Decodes a response frame and its object value. */
function decodeAnswer<T>(hex: string, object: ObjectCodec<T>): T {
  const field = decodeDataField(decodeFrame(fromHex(hex)).data);
  if (field.format !== 'object') throw new Error('not an object response');
  expect(field.oid).toBe(object.oid);
  return object.decode(field.payload);
}

const hex = (text: string) => toHex(fromHex(text));

describe('spec §8 worked examples', () => {
  it('1. serial read', () => {
    expect(frame(wildcard, pythonClient, 0x05, read(objects.serial.oid))).toBe(
      hex('7E 11 00000000 0021AE42 05 01 600100 00 C02F'),
    );
    expect(frame(wildcard, { deviceType: 0x80, address: 0xd1c248 }, 0x00, read(objects.serial.oid))).toBe(
      '7E110000000080D1C2480001600100001C32',
    );
    const response = '7E 21 0021AE42 000018B0 05 01 600100 00 454D4C32313337353830373631202020 5747';
    expect(frame(pythonClient, meter, 0x05, answer(objects.serial, 'EML2137580761'))).toBe(hex(response));
    expect(decodeAnswer(response, objects.serial)).toBe('EML2137580761');
  });

  it('2. clock read', () => {
    expect(frame(wildcard, pythonClient, 0x05, read(objects.clock.oid))).toBe(
      hex('7E 11 00000000 0021AE42 05 01 800800 00 DA54'),
    );
    const response = '7E 18 0021AE42 000018B0 05 01 800800 00 17080615000100 8D2D';
    const wall = { year: 2023, month: 8, day: 6, hour: 21, minute: 0, second: 1 };
    expect(decodeAnswer(response, objects.clock)).toEqual(wall);
    expect(frame(pythonClient, meter, 0x05, answer(objects.clock, wall))).toBe(hex(response));
  });

  it('3. prepay balance', () => {
    expect(frame(wildcard, pythonClient, 0x05, read(objects.prepayBalance.oid))).toBe(
      hex('7E 11 00000000 0021AE42 05 01 FFC802 00 0C5A'),
    );
    const response = '7E 15 0021AE42 000018B0 05 01 FFC802 00 E0930400 21E1';
    expect(decodeAnswer(response, objects.prepayBalance)).toBe('3.00000');
    expect(frame(pythonClient, meter, 0x05, answer(objects.prepayBalance, '3.00000'))).toBe(hex(response));
  });

  it('4. element A', () => {
    expect(frame(wildcard, pythonClient, 0x05, read(objects.elementA.oid))).toBe(
      hex('7E 11 00000000 0021AE42 05 01 FFFFFC 00 7CA1'),
    );
    const response = '7E 21 0021AE42 000018B0 05 01 FFFFFC 00 4E61BC00 87D61200 47940300 07870000 BAE5';
    const registers = {
      importActiveWh: 12345678,
      exportActiveWh: 1234567,
      importReactiveVarh: 234567,
      exportReactiveVarh: 34567,
    };
    expect(decodeAnswer(response, objects.elementA)).toEqual(registers);
    expect(frame(pythonClient, meter, 0x05, answer(objects.elementA, registers))).toBe(hex(response));
  });

  it('5. CSQ', () => {
    expect(frame(wildcard, pythonClient, 0x05, read(objects.signalQuality.oid))).toBe(
      hex('7E 11 00000000 0021AE42 05 01 FFFD1D 00 3142'),
    );
    const response = '7E 12 0021AE42 000018B0 05 01 FFFD1D 00 30 1ECA';
    expect(decodeAnswer(response, objects.signalQuality)).toEqual({ networkOperator: 1, csq: 16 });
    expect(frame(pythonClient, meter, 0x05, answer(objects.signalQuality, { networkOperator: 1, csq: 16 }))).toBe(
      hex(response),
    );
  });

  it('6. profile log 1', () => {
    const requested = 0x2dbb0800;
    expect(emopSecondsToWallClock(requested)).toEqual({ year: 2024, month: 4, day: 24, hour: 0, minute: 0, second: 0 });
    expect(
      frame(wildcard, pythonClient, 0x05, { format: 'profileLog1', timestamp: requested, payload: new Uint8Array() }),
    ).toBe(hex('7E 11 00000000 0021AE42 05 03 0008BB2D 74D7'));

    const record = (ts: string, status: string) => `${ts} ${status} F0060000 45070000`;
    const payload =
      record('60D0B02D', '0100') +
      record('68D7B02D', '0080') +
      record('70DEB02D', '0080') +
      record('78E5B02D', '0080') +
      record('80ECB02D', '0080') +
      '34000000000000000000';
    const response = `7E 61 0021AE42 000018B0 05 03 0008BB2D ${payload} 866C`;
    const field = decodeDataField(decodeFrame(fromHex(response)).data);
    expect(field).toMatchObject({ format: 'profileLog1', timestamp: requested });
    const page = profileLog1.decode(field.payload);
    expect(page.records.map((r) => emopSecondsToWallClock(r.timestamp))).toEqual(
      ['06:00', '06:30', '07:00', '07:30', '08:00'].map((t) => ({
        year: 2024,
        month: 4,
        day: 16,
        hour: Number(t.slice(0, 2)),
        minute: Number(t.slice(3)),
        second: 0,
      })),
    );
    expect(page.records.map((r) => [r.importAWh, r.importBWh, r.status.valid, r.status.reset])).toEqual([
      [1776, 1861, false, true],
      [1776, 1861, true, false],
      [1776, 1861, true, false],
      [1776, 1861, true, false],
      [1776, 1861, true, false],
    ]);
    expect(toHex(page.trailer)).toBe('34000000000000000000');
    expect(toHex(profileLog1.encode(page))).toBe(hex(payload));
  });

  it('7. captured firmware and hardware exchanges', () => {
    expect(frame(wildcard, javaClient, 0x01, read(objects.firmwareVersion.oid))).toBe(
      hex('7E 11 00000000 C06F0093 01 01 000201 00 AE4A'),
    );
    expect(decodeAnswer('7E 15 C06F0093 000018B0 01 01 000201 00 33303230 9DBD', objects.firmwareVersion)).toBe('3020');
    expect(frame(meter, javaClient, 0x01, read(objects.hardwareVersion.oid))).toBe(
      '7E11000018B0C06F0093010160800000CB86',
    );
    expect(decodeAnswer('7E15C06F0093000018B001016080000031000000E3D6', objects.hardwareVersion)).toBe('1');
    expect(frame(javaClient, meter, 0x01, answer(objects.hardwareVersion, '1'))).toBe(
      '7E15C06F0093000018B001016080000031000000E3D6',
    );
  });

  it('8. captured NAK (code 5, sequence 1)', () => {
    expect(frame(meter, javaClient, 0x01, read(0x800309))).toBe('7E11000018B0C06F009301018003090097FE');
    const nak = decodeFrame(fromHex('7E11C06F0093000018B0290180030900F8A2'));
    expect(nak).toMatchObject({ destination: javaClient, source: meter, sequence: 1, code: 5 });
    expect(decodeDataField(nak.data)).toEqual(read(0x800309));
  });

  it('9. writes', () => {
    expect(
      frame(
        repoDestination,
        repoSource,
        0x01,
        write(objects.prepayTokenSend.oid, objects.prepayTokenSend.encode('71466394621589161020')),
      ),
    ).toBe(hex('7E 25 01FFFFFF C0123456 01 01 FFC803 01 3731343636333934363231353839313631303230 0830'));
    expect(frame(repoDestination, repoSource, 0x05, write(0xffff0b, Uint8Array.of(1)))).toBe(
      hex('7E 12 01FFFFFF C0123456 05 01 FFFF0B 01 01 69C6'),
    );
    const activation = futureTariffObjects.activationTime;
    expect(frame(wildcard, pythonClient, 0x05, write(activation.oid, activation.encode(0x2d733670)))).toBe(
      hex('7E 15 00000000 0021AE42 05 01 FFFF24 01 7036732D 51E6'),
    );
    expect(emopSecondsToWallClock(0x2d733670)).toEqual({
      year: 2024,
      month: 2,
      day: 29,
      hour: 12,
      minute: 34,
      second: 56,
    });
    const sunday = { year: 2025, month: 1, day: 26, hour: 14, minute: 30, second: 45 };
    expect(frame(wildcard, pythonClient, 0x05, write(objects.clock.oid, objects.clock.encode(sunday)))).toBe(
      hex('7E 18 00000000 0021AE42 05 01 800800 01 19011A0E1E2D00 21DC'),
    );
    expect(frame(pythonClient, meter, 0x05, write(objects.prepayTokenSend.oid, new Uint8Array()))).toBe(
      hex('7E 11 0021AE42 000018B0 05 01 FFC803 01 4F82'),
    );
  });

  it('10. the NAK a simulator sends for an unknown object', () => {
    expect(frame(pythonClient, meter, 0x2d, read(0x800309))).toBe(hex('7E 11 0021AE42 000018B0 2D 01 800309 00 C8BF'));
  });
});
