// Profile log payloads (spec §5.7): 80 bytes after the echoed timestamp. Log 1 holds 14-byte records of
// cumulative import per element; log 2 holds export, reactive and voltage in 22-byte (single element) or
// 34-byte (twin element) records whose field order beyond timestamp and status is inferred.
import { EmopValueError } from './errors.ts';
import { strictCodec, type ValueCodec } from './values.ts';

const PROFILE_LOG_PAYLOAD_LENGTH = 80;
export const PROFILE_INTERVAL_SECONDS = 1800;
const EMPTY_TIMESTAMPS = new Set([0, 0xffffffff]);

/** Status word as a u16 LE: byte 0 bit 0 = reset; byte 1 bit 7..3 = valid, power fail, minor/major time error, comms error. */
export interface ProfileStatus {
  raw: number;
  valid: boolean;
  reset: boolean;
  powerFail: boolean;
  minorTimeError: boolean;
  majorTimeError: boolean;
  commsError: boolean;
}

const STATUS_BITS = {
  reset: 0x0001,
  commsError: 0x0800,
  majorTimeError: 0x1000,
  minorTimeError: 0x2000,
  powerFail: 0x4000,
  valid: 0x8000,
} as const;

export function decodeProfileStatus(raw: number): ProfileStatus {
  const bit = (mask: number) => (raw & mask) !== 0;
  return {
    raw,
    valid: bit(STATUS_BITS.valid),
    reset: bit(STATUS_BITS.reset),
    powerFail: bit(STATUS_BITS.powerFail),
    minorTimeError: bit(STATUS_BITS.minorTimeError),
    majorTimeError: bit(STATUS_BITS.majorTimeError),
    commsError: bit(STATUS_BITS.commsError),
  };
}

export function encodeProfileStatus(flags: Partial<Omit<ProfileStatus, 'raw'>>): number {
  return (Object.keys(STATUS_BITS) as (keyof typeof STATUS_BITS)[]).reduce(
    (raw, name) => (flags[name] ? raw | STATUS_BITS[name] : raw),
    0,
  );
}

interface RecordLayout<F extends string> {
  size: number;
  count: number;
  /** u32 LE fields after timestamp (4) and status (2). */
  fields: readonly F[];
}

export type ProfileRecord<F extends string> = { timestamp: number; status: ProfileStatus } & Record<F, number>;

export interface ProfileLogPage<F extends string> {
  /** Records in payload order; empty slots (timestamp 0 or FFFFFFFF) are left out. */
  records: ProfileRecord<F>[];
  /** Bytes after the last record slot (log 1: 10 bytes whose meaning is unknown). */
  trailer: Uint8Array;
}

function profileLogCodec<F extends string>(layout: RecordLayout<F>): ValueCodec<ProfileLogPage<F>> {
  const slotsEnd = layout.size * layout.count;
  return {
    length: PROFILE_LOG_PAYLOAD_LENGTH,
    decode(payload) {
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const records: ProfileRecord<F>[] = [];
      for (let offset = 0; offset < slotsEnd; offset += layout.size) {
        const timestamp = view.getUint32(offset, true);
        if (EMPTY_TIMESTAMPS.has(timestamp)) continue;
        const values = layout.fields.map((field, i) => [field, view.getUint32(offset + 6 + i * 4, true)]);
        records.push({
          timestamp,
          status: decodeProfileStatus(view.getUint16(offset + 4, true)),
          ...(Object.fromEntries(values) as Record<F, number>),
        });
      }
      return { records, trailer: payload.slice(slotsEnd) };
    },
    encode(page, what) {
      if (page.records.length > layout.count) {
        throw new EmopValueError(`${what}: at most ${layout.count} records, got ${page.records.length}`);
      }
      const payload = new Uint8Array(PROFILE_LOG_PAYLOAD_LENGTH);
      const view = new DataView(payload.buffer);
      page.records.forEach((record, index) => {
        const offset = index * layout.size;
        view.setUint32(offset, record.timestamp, true);
        view.setUint16(offset + 4, record.status.raw, true);
        layout.fields.forEach((field, i) => view.setUint32(offset + 6 + i * 4, record[field], true));
      });
      payload.set(page.trailer.subarray(0, PROFILE_LOG_PAYLOAD_LENGTH - slotsEnd), slotsEnd);
      return payload;
    },
  };
}

export type ProfileLog1Field = 'importAWh' | 'importBWh';
export type ProfileLog1Record = ProfileRecord<ProfileLog1Field>;

/** Up to 5 records of 14 bytes (the later docstring says 4; both are read), then a 10-byte trailer. */
export const profileLog1 = strictCodec(
  profileLogCodec<ProfileLog1Field>({ size: 14, count: 5, fields: ['importAWh', 'importBWh'] }),
  'profile log 1',
);

export type ProfileLog2Layout = 'singleElement' | 'twinElement';
export type ProfileLog2Field =
  | 'exportActiveAWh'
  | 'importReactiveAVarh'
  | 'exportReactiveAVarh'
  | 'voltage'
  | 'exportActiveBWh'
  | 'importReactiveBVarh'
  | 'exportReactiveBVarh';
export type ProfileLog2Record = ProfileRecord<ProfileLog2Field>;

const singleElementFields = ['exportActiveAWh', 'importReactiveAVarh', 'exportReactiveAVarh', 'voltage'] as const;
const twinElementFields = [
  ...singleElementFields,
  'exportActiveBWh',
  'importReactiveBVarh',
  'exportReactiveBVarh',
] as const;

/** Single element: 3 × 22-byte records; twin element: 2 × 34-byte records. Twin fields are 0 on single meters. */
export function profileLog2(layout: ProfileLog2Layout) {
  const fields: readonly ProfileLog2Field[] = layout === 'twinElement' ? twinElementFields : singleElementFields;
  const codec = profileLogCodec<ProfileLog2Field>({
    size: 6 + fields.length * 4,
    count: layout === 'twinElement' ? 2 : 3,
    fields,
  });
  return strictCodec<ProfileLogPage<ProfileLog2Field>>(
    {
      ...codec,
      decode(payload, what) {
        const page = codec.decode(payload, what);
        const zeros = Object.fromEntries(twinElementFields.map((field) => [field, 0]));
        return { ...page, records: page.records.map((record) => ({ ...zeros, ...record })) };
      },
    },
    `profile log 2 (${layout})`,
  );
}
