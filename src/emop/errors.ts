// Typed EMOP errors. Decoding errors carry the offending bytes; transport errors say whether the request
// may have reached the meter (which decides whether a non-idempotent request may be retried).
import { toHex } from './hex.ts';

export class EmopError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A value that cannot be encoded (out of range, too many decimals, wrong characters). */
export class EmopValueError extends EmopError {}

/** Bytes that do not decode. `bytes` is the whole frame or payload that failed. */
export class EmopDecodeError extends EmopError {
  constructor(
    message: string,
    readonly bytes: Uint8Array,
  ) {
    super(`${message} [${toHex(bytes)}]`);
  }
}

/** The first byte is not the 0x7E delimiter. */
export class EmopDelimiterError extends EmopDecodeError {}

/** The length byte disagrees with the number of bytes, or a frame is too short to hold its header. */
export class EmopLengthError extends EmopDecodeError {}

export class EmopCrcError extends EmopDecodeError {
  constructor(
    bytes: Uint8Array,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`CRC mismatch: frame says ${hex16(actual)}, computed ${hex16(expected)}`, bytes);
  }
}

/** An unknown record format byte, or an RW byte that is neither read nor write. */
export class EmopFormatError extends EmopDecodeError {}

/** Fewer payload bytes than the object needs. */
export class EmopShortPayloadError extends EmopDecodeError {
  constructor(
    what: string,
    bytes: Uint8Array,
    readonly expectedLength: number,
  ) {
    super(`${what}: expected ${expectedLength} byte(s), got ${bytes.length}`, bytes);
  }
}

/** Payload bytes that are present but invalid (too long, out of range, wrong characters). */
export class EmopPayloadError extends EmopDecodeError {}

/** A well-formed response that does not answer the request (other object id, other format). */
export class EmopUnexpectedResponseError extends EmopDecodeError {}

export const NAK_CODE_NAMES: Readonly<Record<number, string>> = {
  1: 'FCS/CRC error',
  2: 'frame formatting error',
  3: 'frame or data-object length incorrect',
  4: 'maximum requested payload exceeded',
  5: 'data object not recognised',
  6: 'security level not granted, read-only object or internal storage condition',
  7: 'frame address incorrect',
};

/** The meter answered with a non-zero ACK/NAK code in the control byte. */
export class EmopNakError extends EmopError {
  constructor(
    readonly code: number,
    readonly bytes: Uint8Array,
  ) {
    super(`meter NAK ${code} (${NAK_CODE_NAMES[code] ?? 'unknown code'}) [${toHex(bytes)}]`);
  }
}

/** A failed TCP exchange. `requestSent`: the request may have reached the meter. */
export class EmopTransportError extends EmopError {
  constructor(
    message: string,
    readonly requestSent: boolean,
    readonly received: Uint8Array,
    options?: ErrorOptions,
  ) {
    super(received.length > 0 ? `${message} after ${received.length} byte(s) [${toHex(received)}]` : message, options);
  }
}

export class EmopTimeoutError extends EmopTransportError {
  constructor(
    readonly phase: 'connect' | 'read',
    readonly timeoutMs: number,
    received: Uint8Array,
  ) {
    super(`${phase} timed out after ${timeoutMs} ms`, phase === 'read', received);
  }
}

/** Refused, reset or closed before a whole response arrived. */
export class EmopConnectionError extends EmopTransportError {}

export class EmopAbortedError extends EmopError {}

function hex16(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}
