// Requests to one meter while its queue slot (and lock) is held: framing, retries with backoff, the gap
// between requests, NAK and response checks, and the meter's clock zone.
import type { EmopLogger as Logger } from './log.ts';
import { delay } from './abort.ts';
import { decodeDataField, encodeDataField, formatOid, type DataField, type ProfileLogFormat } from './data-field.ts';
import { EmopNakError, EmopUnexpectedResponseError } from './errors.ts';
import { decodeFrame, encodeFrame, type Address } from './frame.ts';
import type { RequestSpacing } from './meter-queue.ts';
import { daylightSavingsFlagObject, type ObjectCodec } from './objects.ts';
import { backoffMs, isRetryable, type RetryOptions } from './retry.ts';
import { exchange } from './transport.ts';
import { meterTimeZone, type MeterTimeZone } from './units.ts';

export interface MeterTarget {
  host: string;
  /** Default 8080. */
  port?: number;
  /** Identifies the meter for queueing, spacing and locking; default `host:port`. Use the serial when known. */
  key?: string;
  /** Destination address; default `00 000000`, which production meters accept as a wildcard. */
  address?: Address;
  /** The meter's daylight-savings-correction flag when known (e.g. from the registry). */
  daylightSavings?: boolean;
}

export const DEFAULT_METER_PORT = 8080;

export function meterKey(meter: MeterTarget): string {
  return meter.key ?? `${meter.host}:${meter.port ?? DEFAULT_METER_PORT}`;
}

export interface SessionSettings {
  connectTimeoutMs: number;
  readTimeoutMs: number;
  retry: RetryOptions;
  source: Address;
  sequence: number;
  /** Id of the DST flag object, read when the target does not say; without it the clock is taken as UTC. */
  daylightSavingsFlagOid: number | undefined;
  spacing: RequestSpacing;
  logger: Logger | undefined;
}

export class MeterSession {
  private zone: MeterTimeZone | undefined;

  constructor(
    readonly meter: MeterTarget,
    private readonly settings: SessionSettings,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async read<T>(object: ObjectCodec<T>): Promise<T> {
    const response = await this.request({
      format: 'object',
      oid: object.oid,
      access: 'read',
      payload: new Uint8Array(),
    });
    return object.decode(response.payload);
  }

  /**
   * Writes a value. The acknowledgement's payload is not checked (no capture exists). A write that must not
   * be repeated (a top-up token) passes `idempotent: false` and is resent only when it cannot have arrived.
   */
  async write<T>(object: ObjectCodec<T>, value: T, { idempotent = true } = {}): Promise<void> {
    await this.writeBytes(object.oid, object.encode(value), idempotent);
  }

  async writeBytes(oid: number, payload: Uint8Array, idempotent = true): Promise<void> {
    await this.request({ format: 'object', oid, access: 'write', payload }, idempotent);
  }

  /** The payload after the echoed timestamp (which is not checked: the records carry their own times). */
  async profileLog(format: ProfileLogFormat, timestamp: number): Promise<Uint8Array> {
    return (await this.request({ format, timestamp, payload: new Uint8Array() })).payload;
  }

  /** Europe/London when the meter's DST flag is set, else UTC (read once per session when not given). */
  async timeZone(): Promise<MeterTimeZone> {
    if (this.zone) return this.zone;
    const { daylightSavingsFlagOid } = this.settings;
    const flag =
      this.meter.daylightSavings ??
      (daylightSavingsFlagOid !== undefined && (await this.read(daylightSavingsFlagObject(daylightSavingsFlagOid))));
    this.zone = meterTimeZone(flag);
    return this.zone;
  }

  private async request(field: DataField, idempotent = true): Promise<DataField> {
    const { retry, logger } = this.settings;
    const frame = encodeFrame({
      destination: this.meter.address ?? { deviceType: 0, address: 0 },
      source: this.settings.source,
      sequence: this.settings.sequence,
      code: 0,
      data: encodeDataField(field),
    });
    for (let attempt = 1; ; attempt++) {
      try {
        return answerTo(field, await this.exchangeSpaced(frame));
      } catch (error) {
        if (attempt >= retry.attempts || !isRetryable(error, idempotent)) throw error;
        const waitMs = backoffMs(retry, attempt);
        logger?.warn(
          { meter: meterKey(this.meter), request: describe(field), attempt, waitMs, err: error },
          'emop retry',
        );
        await delay(waitMs, this.signal);
      }
    }
  }

  private async exchangeSpaced(frame: Uint8Array): Promise<Uint8Array> {
    const key = meterKey(this.meter);
    await this.settings.spacing.waitTurn(key, this.signal);
    try {
      return await exchange(frame, {
        host: this.meter.host,
        port: this.meter.port ?? DEFAULT_METER_PORT,
        connectTimeoutMs: this.settings.connectTimeoutMs,
        readTimeoutMs: this.settings.readTimeoutMs,
        signal: this.signal,
      });
    } finally {
      this.settings.spacing.ended(key);
    }
  }
}

/** Decodes a response and checks that it answers `request`: no NAK, same format, object id and access. */
function answerTo(request: DataField, bytes: Uint8Array): DataField {
  const frame = decodeFrame(bytes);
  if (frame.code !== 0) throw new EmopNakError(frame.code, bytes);
  const response = decodeDataField(frame.data);
  const matches =
    response.format === request.format &&
    (response.format !== 'object' ||
      (request.format === 'object' && response.oid === request.oid && response.access === request.access));
  if (!matches) throw new EmopUnexpectedResponseError(`response does not answer ${describe(request)}`, bytes);
  return response;
}

function describe(field: DataField): string {
  return field.format === 'object' ? `${field.access} ${formatOid(field.oid)}` : `${field.format} @${field.timestamp}`;
}
