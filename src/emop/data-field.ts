// The data field (spec §4): a record-format byte, then for format 01 an object id (u24 BE), an RW byte and
// a payload; for the profile logs (03, 04) an EMOP-epoch timestamp (u32 LE) and a payload.
import { EmopFormatError, EmopLengthError, EmopValueError } from './errors.ts';

const RecordFormat = { object: 0x01, profileLog1: 0x03, profileLog2: 0x04 } as const;
export type ProfileLogFormat = 'profileLog1' | 'profileLog2';

export type Access = 'read' | 'write';

export type DataField =
  | { format: 'object'; oid: number; access: Access; payload: Uint8Array }
  | { format: ProfileLogFormat; timestamp: number; payload: Uint8Array };

const ACCESS_BYTE: Record<Access, number> = { read: 0x00, write: 0x01 };
const HEADER_LENGTH = 5;

export function encodeDataField(field: DataField): Uint8Array {
  const bytes = new Uint8Array(HEADER_LENGTH + field.payload.length);
  const view = new DataView(bytes.buffer);
  bytes[0] = RecordFormat[field.format];
  if (field.format === 'object') {
    if (!Number.isInteger(field.oid) || field.oid < 0 || field.oid > 0xffffff) {
      throw new EmopValueError(`object id ${field.oid} is not a u24`);
    }
    bytes[1] = field.oid >> 16;
    bytes[2] = (field.oid >> 8) & 0xff;
    bytes[3] = field.oid & 0xff;
    bytes[4] = ACCESS_BYTE[field.access];
  } else {
    view.setUint32(1, field.timestamp, true);
  }
  bytes.set(field.payload, HEADER_LENGTH);
  return bytes;
}

export function decodeDataField(bytes: Uint8Array): DataField {
  const formatByte = bytes[0];
  if (formatByte === undefined) throw new EmopLengthError('empty data field', bytes);
  const format = formatName(formatByte);
  if (format === undefined) throw new EmopFormatError('unknown record format', bytes);
  if (bytes.length < HEADER_LENGTH) throw new EmopLengthError('data field shorter than its header', bytes);
  const payload = bytes.slice(HEADER_LENGTH);
  if (format !== 'object') {
    return { format, timestamp: new DataView(bytes.buffer, bytes.byteOffset).getUint32(1, true), payload };
  }
  const accessByte = bytes[4];
  const access = accessByte === ACCESS_BYTE.read ? 'read' : accessByte === ACCESS_BYTE.write ? 'write' : undefined;
  if (access === undefined) throw new EmopFormatError('RW byte is neither read (00) nor write (01)', bytes);
  return { format, oid: (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!, access, payload };
}

function formatName(byte: number): DataField['format'] | undefined {
  return (Object.keys(RecordFormat) as DataField['format'][]).find((name) => RecordFormat[name] === byte);
}

/** '80 08 00' style, for messages and logs. */
export function formatOid(oid: number): string {
  return oid.toString(16).toUpperCase().padStart(6, '0');
}
