// EMOP frames (spec §2): 7E · L · dst(4) · src(4) · control · data · CRC-16 BE over L..data. No stuffing:
// the length byte and the CRC delimit a frame, never a search for 0x7E.
import { crc16 } from './crc.ts';
import { EmopCrcError, EmopDelimiterError, EmopLengthError, EmopValueError } from './errors.ts';

export const FRAME_DELIMITER = 0x7e;
/** Bytes in L that are not data: dst(4) + src(4) + control(1) + CRC(2) + the length byte itself. */
const HEADER_AND_CRC = 12;
const MAX_DATA_LENGTH = 0xff - HEADER_AND_CRC;

/** A device address: a device type byte and a 24-bit address (`00 0018B0`). */
export interface Address {
  deviceType: number;
  address: number;
}

export interface Frame {
  destination: Address;
  source: Address;
  /** Control bits 0-2. */
  sequence: number;
  /** Control bits 3-7: 0 = OK, else a NAK code (spec §4.2). */
  code: number;
  data: Uint8Array;
}

/** Total bytes on the wire for a frame whose length byte is `lengthByte`. */
export function wireLength(lengthByte: number): number {
  return lengthByte + 1;
}

export function encodeFrame(frame: Frame): Uint8Array {
  if (frame.data.length > MAX_DATA_LENGTH) {
    throw new EmopValueError(`data field of ${frame.data.length} bytes exceeds ${MAX_DATA_LENGTH}`);
  }
  checkRange('sequence', frame.sequence, 7);
  checkRange('NAK code', frame.code, 31);
  const bytes = new Uint8Array(frame.data.length + HEADER_AND_CRC + 1);
  bytes[0] = FRAME_DELIMITER;
  bytes[1] = frame.data.length + HEADER_AND_CRC;
  writeAddress(bytes, 2, frame.destination);
  writeAddress(bytes, 6, frame.source);
  bytes[10] = (frame.code << 3) | frame.sequence;
  bytes.set(frame.data, 11);
  const crc = crc16(bytes.subarray(1, bytes.length - 2));
  bytes[bytes.length - 2] = crc >> 8;
  bytes[bytes.length - 1] = crc & 0xff;
  return bytes;
}

/** Strict: delimiter, exact length, CRC. Addresses and sequence are returned, not judged. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes[0] !== FRAME_DELIMITER) throw new EmopDelimiterError('frame does not start with 7E', bytes);
  const lengthByte = bytes[1];
  if (lengthByte === undefined || lengthByte < HEADER_AND_CRC) {
    throw new EmopLengthError('frame too short for its header', bytes);
  }
  if (bytes.length !== wireLength(lengthByte)) {
    throw new EmopLengthError(`length byte says ${wireLength(lengthByte)} bytes, got ${bytes.length}`, bytes);
  }
  const expected = crc16(bytes.subarray(1, bytes.length - 2));
  const actual = (bytes[bytes.length - 2]! << 8) | bytes[bytes.length - 1]!;
  if (expected !== actual) throw new EmopCrcError(bytes, expected, actual);
  const control = bytes[10]!;
  return {
    destination: readAddress(bytes, 2),
    source: readAddress(bytes, 6),
    sequence: control & 0x07,
    code: control >> 3,
    data: bytes.slice(11, bytes.length - 2),
  };
}

function writeAddress(bytes: Uint8Array, offset: number, address: Address): void {
  checkRange('device type', address.deviceType, 0xff);
  checkRange('address', address.address, 0xffffff);
  bytes[offset] = address.deviceType;
  bytes[offset + 1] = address.address >> 16;
  bytes[offset + 2] = (address.address >> 8) & 0xff;
  bytes[offset + 3] = address.address & 0xff;
}

function readAddress(bytes: Uint8Array, offset: number): Address {
  return {
    deviceType: bytes[offset]!,
    address: (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!,
  };
}

function checkRange(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new EmopValueError(`${what} ${value} not in 0..${max}`);
}
