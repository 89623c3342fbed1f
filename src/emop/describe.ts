// A frame as JSON for people (`flows emop decode <hex>`): header fields, the data field, and the value decoded
// with the object's codec when the object id is one the spec pins down. Strict: a frame that does not decode
// throws the codec's typed error.
import { decodeDataField, formatOid } from './data-field.ts';
import { NAK_CODE_NAMES } from './errors.ts';
import { decodeFrame } from './frame.ts';
import { fromHex, toHex } from './hex.ts';
import {
  activeTariffObjects,
  ELEMENT_B_TOU_RATES,
  futureTariffObjects,
  objects,
  PRICE_BLOCKS,
  RATES_PER_BLOCK,
} from './objects.ts';
import { profileLog1, profileLog2 } from './profile-log.ts';
import { emopSecondsToWallClock } from './units.ts';

/** What describing needs of an object codec. */
interface Decoder {
  name: string;
  oid: number;
  decode(payload: Uint8Array): unknown;
}

const isDecoder = (value: unknown): value is Decoder => typeof value === 'object' && value !== null && 'oid' in value;

const knownObjects: Map<number, Decoder> = (() => {
  const all: Decoder[] = [
    ...(Object.values(objects) as unknown[]).filter(isDecoder),
    ...(Object.values(activeTariffObjects) as unknown[]).filter(isDecoder),
    ...(Object.values(futureTariffObjects) as unknown[]).filter(isDecoder),
  ];
  for (const set of [activeTariffObjects, futureTariffObjects]) {
    for (let b = 1; b <= PRICE_BLOCKS; b++)
      for (let r = 1; r <= RATES_PER_BLOCK; r++) all.push(set.priceBlockRate(b, r));
    for (let r = 1; r <= ELEMENT_B_TOU_RATES; r++) all.push(set.elementBTouRate(r));
  }
  return new Map(all.map((o) => [o.oid, o]));
})();

function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))) as unknown;
}

export function describeFrame(
  hex: string,
  layout: 'singleElement' | 'twinElement' = 'singleElement',
): Record<string, unknown> {
  const bytes = fromHex(hex);
  const frame = decodeFrame(bytes);
  const field = decodeDataField(frame.data);
  const header = {
    length: bytes[1],
    destination: { deviceType: frame.destination.deviceType, address: formatOid(frame.destination.address) },
    source: { deviceType: frame.source.deviceType, address: formatOid(frame.source.address) },
    sequence: frame.sequence,
    code: frame.code,
    ...(frame.code !== 0 && { nak: NAK_CODE_NAMES[frame.code] ?? 'unknown code' }),
  };
  if (field.format === 'object') {
    const object = knownObjects.get(field.oid);
    const value =
      object && field.payload.length > 0 && frame.code === 0 ? jsonSafe(object.decode(field.payload)) : undefined;
    return {
      ...header,
      format: 'object',
      oid: formatOid(field.oid),
      object: object?.name ?? null,
      access: field.access,
      payload: toHex(field.payload),
      ...(value !== undefined && { value }),
    };
  }
  const base = {
    ...header,
    format: field.format,
    timestamp: field.timestamp,
    time: emopSecondsToWallClock(field.timestamp),
    payload: toHex(field.payload),
  };
  if (field.payload.length === 0) return base;
  // A profile log 2 frame does not say whether the meter has one element or two: read as `layout`.
  const page =
    field.format === 'profileLog1' ? profileLog1.decode(field.payload) : profileLog2(layout).decode(field.payload);
  return {
    ...base,
    ...(field.format === 'profileLog2' && { layout }),
    records: jsonSafe(page.records.map((r) => ({ ...r, time: emopSecondsToWallClock(r.timestamp) }))),
    trailer: toHex(page.trailer),
  };
}
