// Strict decoding, object value codecs, tariff sequences and profile log layouts.
import { describe, expect, it } from 'vitest';
import { decodeDataField, encodeDataField } from '../../src/emop/data-field.ts';
import {
  EmopCrcError,
  EmopDecodeError,
  EmopDelimiterError,
  EmopFormatError,
  EmopLengthError,
  EmopPayloadError,
  EmopShortPayloadError,
  EmopValueError,
} from '../../src/emop/errors.ts';
import { decodeFrame, encodeFrame } from '../../src/emop/frame.ts';
import { fromHex, toHex } from '../../src/emop/hex.ts';
import { activeTariffObjects, futureTariffObjects, objects } from '../../src/emop/objects.ts';
import { decodeProfileStatus, encodeProfileStatus, profileLog2 } from '../../src/emop/profile-log.ts';
import { futureTariffWrites } from '../../src/emop/tariffs.ts';

const SERIAL_RESPONSE = fromHex('7E210021AE42000018B00501600100 00 454D4C32313337353830373631202020 5747');

function decodeError(fn: () => unknown): EmopDecodeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EmopDecodeError);
    return error as EmopDecodeError;
  }
  throw new Error('expected a decode error');
}

describe('strict frame decoding', () => {
  it('rejects a missing delimiter, a wrong length and a bad CRC, carrying the bytes', () => {
    const noDelimiter = Uint8Array.from([0x7f, ...SERIAL_RESPONSE.subarray(1)]);
    expect(decodeError(() => decodeFrame(noDelimiter))).toBeInstanceOf(EmopDelimiterError);

    const short = SERIAL_RESPONSE.subarray(0, SERIAL_RESPONSE.length - 1);
    const error = decodeError(() => decodeFrame(short));
    expect(error).toBeInstanceOf(EmopLengthError);
    expect(error.bytes).toEqual(short);
    expect(error.message).toContain(toHex(short));
    expect(decodeError(() => decodeFrame(fromHex('7E0B0000')))).toBeInstanceOf(EmopLengthError);
    expect(decodeError(() => decodeFrame(new Uint8Array()))).toBeInstanceOf(EmopDelimiterError);

    const corrupted = Uint8Array.from(SERIAL_RESPONSE);
    corrupted[20]! ^= 0x01;
    const crc = decodeError(() => decodeFrame(corrupted));
    expect(crc).toBeInstanceOf(EmopCrcError);
    expect(crc).toMatchObject({ actual: 0x5747 });
  });

  it('accepts 0x7E inside a frame (no byte stuffing)', () => {
    const data = encodeDataField({ format: 'object', oid: 0x7e7e7e, access: 'write', payload: Uint8Array.of(0x7e) });
    const frame = { destination: { deviceType: 0x7e, address: 0x7e7e7e }, source: { deviceType: 0, address: 1 } };
    const bytes = encodeFrame({ ...frame, sequence: 6, code: 0, data });
    expect(decodeFrame(bytes)).toEqual({ ...frame, sequence: 6, code: 0, data });
  });

  it('refuses to encode what does not fit', () => {
    const frame = { destination: { deviceType: 0, address: 0 }, source: { deviceType: 0, address: 0 }, code: 0 };
    expect(() => encodeFrame({ ...frame, sequence: 8, data: new Uint8Array() })).toThrow(EmopValueError);
    expect(() => encodeFrame({ ...frame, sequence: 0, data: new Uint8Array(244) })).toThrow(EmopValueError);
    expect(encodeFrame({ ...frame, sequence: 0, data: new Uint8Array(243) })).toHaveLength(256);
    expect(() =>
      encodeFrame({
        ...frame,
        destination: { deviceType: 0, address: 0x1000000 },
        sequence: 0,
        data: new Uint8Array(),
      }),
    ).toThrow(EmopValueError);
  });
});

describe('strict data-field decoding', () => {
  it('rejects an unknown format, a bad RW byte and a short header', () => {
    expect(decodeError(() => decodeDataField(fromHex('02 600100 00')))).toBeInstanceOf(EmopFormatError);
    expect(decodeError(() => decodeDataField(fromHex('01 600100 02')))).toBeInstanceOf(EmopFormatError);
    expect(decodeError(() => decodeDataField(fromHex('01 6001')))).toBeInstanceOf(EmopLengthError);
    expect(decodeError(() => decodeDataField(new Uint8Array()))).toBeInstanceOf(EmopLengthError);
  });

  it('decodes profile log requests with their little-endian timestamp', () => {
    expect(decodeDataField(fromHex('04 0008BB2D'))).toEqual({
      format: 'profileLog2',
      timestamp: 0x2dbb0800,
      payload: new Uint8Array(),
    });
  });
});

describe('object values', () => {
  it('decodes the spec examples', () => {
    expect(objects.signalQuality.decode(fromHex('4C'))).toEqual({ networkOperator: 2, csq: 12 });
    expect(objects.signalQuality.decode(fromHex('29'))).toEqual({ networkOperator: 1, csq: 9 });
    expect(objects.prepayBalance.decode(fromHex('30630300'))).toBe('2.22000');
    expect(objects.prepayBalance.decode(fromHex('C07A03FE'))).toBe('-333.26400');
    expect(objects.instantaneousVoltage.decode(fromHex('5209'))).toBe(2386);
    expect(objects.hardwareVersion.decode(fromHex('36437720'))).toBe('6Cw');
    expect(objects.hardwareVersion.decode(fromHex('36430000'))).toBe('6C');
    expect(objects.hardwareVersion.decode(fromHex('00000000'))).toBe('');
    expect(objects.firmwareVersion.decode(fromHex('0102'))).toBe('0102');
    expect(activeTariffObjects.thresholdMask.decode(fromHex('21'))).toBe(0x21);
    expect(toHex(futureTariffObjects.priceBlockRate(8, 1).encode('0.0765'))).toBe('E21D0000');
  });

  it('rejects short, long and invalid payloads with typed errors carrying the bytes', () => {
    const short = decodeError(() => objects.prepayBalance.decode(fromHex('E09304')));
    expect(short).toBeInstanceOf(EmopShortPayloadError);
    expect(short).toMatchObject({ expectedLength: 4, bytes: fromHex('E09304') });
    expect(decodeError(() => objects.signalQuality.decode(new Uint8Array()))).toBeInstanceOf(EmopShortPayloadError);
    expect(decodeError(() => objects.serial.decode(fromHex('454D4C')))).toBeInstanceOf(EmopShortPayloadError);
    expect(decodeError(() => objects.prepayBalance.decode(fromHex('E093040000')))).toBeInstanceOf(EmopPayloadError);
    expect(decodeError(() => objects.prepayEnabled.decode(fromHex('02')))).toBeInstanceOf(EmopPayloadError);
    expect(decodeError(() => objects.clock.decode(fromHex('170D0615000100')))).toBeInstanceOf(EmopPayloadError);
    expect(decodeError(() => objects.prepayTokenSend.decode(fromHex('41'.repeat(20))))).toBeInstanceOf(
      EmopPayloadError,
    );
    expect(decodeError(() => objects.serial.decode(fromHex('454D4C07' + '20'.repeat(12))))).toBeInstanceOf(
      EmopPayloadError,
    );
  });

  it('refuses to encode out-of-range values', () => {
    expect(() => objects.prepayBalance.encode('21474.83648')).toThrow(EmopValueError);
    expect(() => futureTariffObjects.standingCharge.encode('-0.1')).toThrow(EmopValueError);
    expect(() => futureTariffObjects.standingCharge.encode('0.123456')).toThrow(EmopValueError);
    expect(() => futureTariffObjects.standingCharge.encode('1e3')).toThrow(EmopValueError);
    expect(() => objects.serial.encode('X'.repeat(17))).toThrow(EmopValueError);
    expect(() => objects.clock.encode({ year: 1999, month: 1, day: 1, hour: 0, minute: 0, second: 0 })).toThrow(
      EmopValueError,
    );
    expect(() => futureTariffObjects.priceBlockRate(9, 1)).toThrow(EmopValueError);
    expect(() => futureTariffObjects.elementBTouRate(0)).toThrow(EmopValueError);
  });

  it('maps price block b rate r to xx = (b − 1) · 8 + r in both sets', () => {
    expect(activeTariffObjects.priceBlockRate(8, 1).oid).toBe(0xfff939);
    expect(futureTariffObjects.priceBlockRate(8, 1).oid).toBe(0xfff839);
    expect(activeTariffObjects.priceBlockRate(1, 1).oid).toBe(0xfff901);
    expect(futureTariffObjects.priceBlockRate(8, 8).oid).toBe(0xfff840);
    expect(activeTariffObjects.elementBTouRate(4).oid).toBe(0xfff704);
    expect(futureTariffObjects.elementBTouRate(1).oid).toBe(0xfff601);
    expect(activeTariffObjects.priceBlockRate(8, 1).writable).toBe(false);
    expect(futureTariffObjects.priceBlockRate(8, 1).writable).toBe(true);
  });
});

describe('future tariff write sequence', () => {
  it('is the eleven writes of spec §6 with activation time last', () => {
    const writes = futureTariffWrites({
      standingCharge: '0.5',
      unitRateElementA: '1.00000',
      unitRateElementB: '0.0765',
      emergencyCredit: '15',
      eCreditAvailability: '5',
      debtRecoveryRate: '0.1',
      activationTime: 0x2d733670,
    });
    expect(writes.map((w) => `${w.oid.toString(16).toUpperCase()}←${toHex(w.payload)}`)).toEqual([
      'FFFF21←00',
      'FFFF1F←0000000000000000000000000000',
      'FFFF4F←00',
      'FFF839←A0860100',
      'FFF601←E21D0000',
      'FFC808←60E31600',
      'FFC809←20A10700',
      'FFC80A←10270000',
      'FFC965←00000000',
      'FFFF23←50C30000',
      'FFFF24←7036732D',
    ]);
  });
});

describe('profile log 2', () => {
  const status = encodeProfileStatus({ valid: true, powerFail: true });

  it('round-trips three 22-byte single-element records', () => {
    const zeroB = { exportActiveBWh: 0, importReactiveBVarh: 0, exportReactiveBVarh: 0 };
    const codec = profileLog2('singleElement');
    const record = (timestamp: number) => ({
      timestamp,
      exportActiveAWh: 1,
      importReactiveAVarh: 2,
      exportReactiveAVarh: 3,
      voltage: 2400,
    });
    const bytes = codec.encode({
      records: [1, 2, 3].map((t) => ({ ...record(t), ...zeroB, status: decodeProfileStatus(status) })),
      trailer: new Uint8Array(),
    });
    expect(toHex(bytes.subarray(22, 44))).toBe('02000000' + '00C0' + '01000000' + '02000000' + '03000000' + '60090000');
    const page = codec.decode(bytes);
    expect(page.records).toHaveLength(3);
    expect(page.records[2]).toMatchObject({ ...record(3), exportActiveBWh: 0 });
    expect(page.records[0]!.status).toMatchObject({ valid: true, powerFail: true, reset: false });
    expect(page.trailer).toHaveLength(14);
  });

  it('reads two 34-byte twin-element records and skips empty slots', () => {
    const bytes = new Uint8Array(80);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 100, true);
    view.setUint16(4, status, true);
    view.setUint32(30, 7, true); // exportReactiveBVarh: the last field of record 1
    view.setUint32(34, 0xffffffff, true);
    const page = profileLog2('twinElement').decode(bytes);
    expect(page.records).toHaveLength(1);
    expect(page.records[0]).toMatchObject({ timestamp: 100, exportReactiveBVarh: 7 });
    expect(page.trailer).toHaveLength(12);
    expect(decodeError(() => profileLog2('twinElement').decode(new Uint8Array(79)))).toBeInstanceOf(
      EmopShortPayloadError,
    );
  });
});
