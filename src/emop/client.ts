// The EMOP client: the operations of the `emop` CLI over one-request-per-connection TCP, each run with the
// meter held exclusively (in-process queue, then the injectable cross-process lock) and requests spaced.
import type { EmopLogger as Logger } from './log.ts';
import type { Address } from './frame.ts';
import { EmopValueError } from './errors.ts';
import { inProcessOnly, processMeterQueue, RequestSpacing, type MeterLock } from './meter-queue.ts';
import { objects, type ElementRegisters, type SignalQuality } from './objects.ts';
import {
  PROFILE_INTERVAL_SECONDS,
  profileLog1,
  profileLog2,
  type ProfileLog1Field,
  type ProfileLog2Field,
  type ProfileLog2Layout,
  type ProfileLogPage,
  type ProfileRecord,
} from './profile-log.ts';
import type { RetryOptions } from './retry.ts';
import { MeterSession, meterKey, type MeterTarget, type SessionSettings } from './session.ts';
import {
  futureTariffWrites,
  readActiveTariffs,
  readFutureTariffs,
  type ActiveTariffs,
  type FutureTariffs,
  type FutureTariffWrite,
} from './tariffs.ts';
import {
  compareMoney,
  emopSecondsToInstant,
  instantToEmopSeconds,
  instantToWallClock,
  wallClockToInstant,
  type MeterTimeZone,
  type Money,
  type WallClock,
} from './units.ts';

export interface EmopClientOptions {
  /** Default 10 000. */
  connectTimeoutMs?: number;
  /** Default 10 000. */
  readTimeoutMs?: number;
  /** Default 5 attempts, 2 s doubling to at most 16 s. */
  retry?: Partial<RetryOptions>;
  /** Minimum gap between requests to the same meter; default 2 000. */
  minRequestGapMs?: number;
  /** Cross-process exclusivity per meter, run inside the in-process queue. Default: none. */
  withMeterLock?: MeterLock;
  /** Default `00 21AE42`, as the production client. */
  source?: Address;
  /** Control sequence number sent; default 5, as the production client. */
  sequence?: number;
  /** Id of the DST flag object (unknown publicly, spec §5.8); absent by default. */
  daylightSavingsFlagOid?: number;
  /** Client policy: enabling prepay needs at least this balance; default '10.00000'. */
  minimumBalanceToEnablePrepay?: Money;
  /** The time written by clockTimeWrite when none is given; default the system clock. */
  now?: () => Date;
  logger?: Logger;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface MeterClockReading {
  instant: Date;
  wallClock: WallClock;
  timeZone: MeterTimeZone;
}

export type FutureTariffsReading = Omit<FutureTariffs, 'activationTime'> & { activationTime: Date | null };
export type FutureTariffInput = Omit<FutureTariffWrite, 'activationTime'> & { activationTime: Date };

export type TimedRecord<F extends string> = Omit<ProfileRecord<F>, 'timestamp'> & { time: Date };

export interface ProfileLogResult<F extends string> {
  requestedFrom: Date;
  /** Records timed within the interval asked for. */
  records: TimedRecord<F>[];
  /** Records the meter sent from outside it (it answers a time it has no data for with later data). */
  outOfRange: TimedRecord<F>[];
}

const DEFAULT_RETRY: RetryOptions = { attempts: 5, initialDelayMs: 2_000, multiplier: 2, maxDelayMs: 16_000 };

export class EmopClient {
  private readonly withMeterLock: MeterLock;
  private readonly settings: SessionSettings;
  private readonly now: () => Date;
  private readonly minimumBalanceToEnablePrepay: Money;

  constructor(options: EmopClientOptions = {}) {
    this.withMeterLock = options.withMeterLock ?? inProcessOnly;
    this.now = options.now ?? (() => new Date());
    this.minimumBalanceToEnablePrepay = options.minimumBalanceToEnablePrepay ?? '10.00000';
    this.settings = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      readTimeoutMs: options.readTimeoutMs ?? 10_000,
      retry: { ...DEFAULT_RETRY, ...options.retry },
      source: options.source ?? { deviceType: 0x00, address: 0x21ae42 },
      sequence: options.sequence ?? 5,
      daylightSavingsFlagOid: options.daylightSavingsFlagOid,
      spacing: new RequestSpacing(options.minRequestGapMs ?? 2_000),
      logger: options.logger,
    };
  }

  /**
   * Runs `fn` with the meter to itself: queued behind other work on it in this process, then inside the lock
   * hook. Requests inside are spaced by the minimum gap. Do not call the client for the same meter from `fn`.
   */
  withMeter<T>(meter: MeterTarget, fn: (session: MeterSession) => Promise<T>, options: CallOptions = {}): Promise<T> {
    const key = meterKey(meter);
    return processMeterQueue.run(
      key,
      () => this.withMeterLock(key, () => fn(new MeterSession(meter, this.settings, options.signal)), options.signal),
      options.signal,
    );
  }

  csq(meter: MeterTarget, options?: CallOptions): Promise<SignalQuality> {
    return this.withMeter(meter, (s) => s.read(objects.signalQuality), options);
  }

  serialRead(meter: MeterTarget, options?: CallOptions): Promise<string> {
    return this.withMeter(meter, (s) => s.read(objects.serial), options);
  }

  hardwareRead(meter: MeterTarget, options?: CallOptions): Promise<string> {
    return this.withMeter(meter, (s) => s.read(objects.hardwareVersion), options);
  }

  firmwareRead(meter: MeterTarget, options?: CallOptions): Promise<string> {
    return this.withMeter(meter, (s) => s.read(objects.firmwareVersion), options);
  }

  clockTimeRead(meter: MeterTarget, options?: CallOptions): Promise<MeterClockReading> {
    return this.withMeter(
      meter,
      async (s) => {
        const timeZone = await s.timeZone();
        const wallClock = await s.read(objects.clock);
        return { instant: wallClockToInstant(wallClock, timeZone), wallClock, timeZone };
      },
      options,
    );
  }

  /** Sets the meter's clock to `at` (default now) in the meter's zone; returns what was written. */
  clockTimeWrite(meter: MeterTarget, at: Date = this.now(), options?: CallOptions): Promise<WallClock> {
    return this.withMeter(
      meter,
      async (s) => {
        const wallClock = instantToWallClock(at, await s.timeZone());
        await s.write(objects.clock, wallClock);
        return wallClock;
      },
      options,
    );
  }

  /** Volts (the meter reports 0.1 V units). */
  instantaneousVoltage(meter: MeterTarget, options?: CallOptions): Promise<number> {
    return this.withMeter(meter, async (s) => (await s.read(objects.instantaneousVoltage)) / 10, options);
  }

  readElementA(meter: MeterTarget, options?: CallOptions): Promise<ElementRegisters> {
    return this.withMeter(meter, (s) => s.read(objects.elementA), options);
  }

  readElementB(meter: MeterTarget, options?: CallOptions): Promise<ElementRegisters> {
    return this.withMeter(meter, (s) => s.read(objects.elementB), options);
  }

  prepayBalance(meter: MeterTarget, options?: CallOptions): Promise<Money> {
    return this.withMeter(meter, (s) => s.read(objects.prepayBalance), options);
  }

  monetaryTransactionCount(meter: MeterTarget, options?: CallOptions): Promise<number> {
    return this.withMeter(meter, (s) => s.read(objects.monetaryTransactionCount), options);
  }

  prepayEnabled(meter: MeterTarget, options?: CallOptions): Promise<boolean> {
    return this.withMeter(meter, (s) => s.read(objects.prepayEnabled), options);
  }

  /** Switches prepay mode; refuses to enable it below the minimum balance (client policy). */
  prepayEnabledWrite(meter: MeterTarget, enabled: boolean, options?: CallOptions): Promise<void> {
    return this.withMeter(
      meter,
      async (s) => {
        if (enabled) {
          const balance = await s.read(objects.prepayBalance);
          if (compareMoney(balance, this.minimumBalanceToEnablePrepay) < 0) {
            throw new EmopValueError(`balance £${balance} is below £${this.minimumBalanceToEnablePrepay}`);
          }
        }
        await s.write(objects.prepayEnabled, enabled);
      },
      options,
    );
  }

  /** Sends a 20-digit top-up token once: never resent after it may have reached the meter. */
  prepaySendToken(meter: MeterTarget, token: string, options?: CallOptions): Promise<void> {
    return this.withMeter(meter, (s) => s.write(objects.prepayTokenSend, token, { idempotent: false }), options);
  }

  tariffsActiveRead(meter: MeterTarget, options?: CallOptions): Promise<ActiveTariffs> {
    return this.withMeter(meter, (s) => readActiveTariffs((object) => s.read(object)), options);
  }

  tariffsFutureRead(meter: MeterTarget, options?: CallOptions): Promise<FutureTariffsReading> {
    return this.withMeter(
      meter,
      async (s) => {
        const tariffs = await readFutureTariffs((object) => s.read(object));
        const activationTime =
          tariffs.activationTime === 0 ? null : emopSecondsToInstant(tariffs.activationTime, await s.timeZone());
        return { ...tariffs, activationTime };
      },
      options,
    );
  }

  /** The eleven writes of spec §6 in order, activation time last. Everything is validated before the first. */
  tariffsFutureWrite(meter: MeterTarget, tariff: FutureTariffInput, options?: CallOptions): Promise<void> {
    return this.withMeter(
      meter,
      async (s) => {
        const activationTime = instantToEmopSeconds(tariff.activationTime, await s.timeZone());
        for (const write of futureTariffWrites({ ...tariff, activationTime })) {
          await s.writeBytes(write.oid, write.payload);
        }
      },
      options,
    );
  }

  /** Half-hourly cumulative import from `from`; records the meter sends from other times are set apart. */
  profileLog1(meter: MeterTarget, from: Date, options?: CallOptions): Promise<ProfileLogResult<ProfileLog1Field>> {
    return this.withMeter(meter, (s) => readProfileLog(s, 'profileLog1', from, profileLog1, 5), options);
  }

  /** Export, reactive and voltage records; the layout depends on single or twin element (field order inferred). */
  profileLog2(
    meter: MeterTarget,
    from: Date,
    layout: ProfileLog2Layout,
    options?: CallOptions,
  ): Promise<ProfileLogResult<ProfileLog2Field>> {
    const recordCount = layout === 'twinElement' ? 2 : 3;
    return this.withMeter(
      meter,
      (s) => readProfileLog(s, 'profileLog2', from, profileLog2(layout), recordCount),
      options,
    );
  }
}

async function readProfileLog<F extends string>(
  session: MeterSession,
  format: 'profileLog1' | 'profileLog2',
  from: Date,
  codec: { decode(payload: Uint8Array): ProfileLogPage<F> },
  recordCount: number,
): Promise<ProfileLogResult<F>> {
  const timeZone = await session.timeZone();
  const start = instantToEmopSeconds(from, timeZone);
  const end = start + recordCount * PROFILE_INTERVAL_SECONDS;
  const payload = await session.profileLog(format, start);
  const result: ProfileLogResult<F> = { requestedFrom: from, records: [], outOfRange: [] };
  for (const { timestamp, ...rest } of codec.decode(payload).records) {
    const record = { ...rest, time: emopSecondsToInstant(timestamp, timeZone) };
    (timestamp >= start && timestamp < end ? result.records : result.outOfRange).push(record);
  }
  return result;
}
