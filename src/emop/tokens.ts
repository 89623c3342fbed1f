// The development token vendor: 20-digit top-up tokens that encode an amount (whole pence) and a per-meter
// sequence number under a key, bound to one meter serial. The simulator accepts each valid token once and
// rejects reused or foreign ones, like real single-use (STS-style) tokens. Not a real vendor's scheme: the
// tokens have no value outside development and tests.
//
// Layout (66 bits, written as 20 decimal digits, zero-padded):
//   mac (30 bits) · masked payload (36 bits), payload = amount in pence (20 bits) · sequence (16 bits)
// mac = HMAC-SHA256(key, serial · payload) truncated; the payload is XORed with HMAC(key, serial · mac) so
// tokens look random.
import { createHmac } from 'node:crypto';
import { EmopValueError } from './errors.ts';
import { moneyToUnits, moneyFromUnits, type Money } from './units.ts';

/** The key the development vendor and the simulator share unless told otherwise. */
export const DEVELOPMENT_TOKEN_KEY = 'flows-development-token-key';

export const MAX_TOKEN_SEQUENCE = 0xffff;
const MAX_PENCE = 0xfffff;
const PAYLOAD_BITS = 36n;
const PAYLOAD_MASK = (1n << PAYLOAD_BITS) - 1n;
const MAC_MASK = (1n << 30n) - 1n;
const UNITS_PER_PENNY = 1000;

export interface TokenContent {
  /** GBP, whole pence, five decimals ('10.00000'). */
  amount: Money;
  sequence: number;
}

/** Issues tokens for meters; the development vendor is the only one so far. */
export interface TokenVendor {
  issue(serial: string, content: TokenContent): string;
}

/** Why a token does not redeem: malformed, bound to another meter or key, or already used. */
export class TokenRejectedError extends Error {
  constructor(
    readonly reason: 'malformed' | 'foreign' | 'reused',
    message: string,
  ) {
    super(message);
    this.name = 'TokenRejectedError';
  }
}

function hmac(key: string, serial: string, value: bigint): bigint {
  const digest = createHmac('sha256', key)
    .update(`${serial}\0${value.toString(16)}`)
    .digest();
  return digest.readBigUInt64BE(0);
}

export class DevelopmentTokenVendor implements TokenVendor {
  constructor(private readonly key: string = DEVELOPMENT_TOKEN_KEY) {}

  issue(serial: string, { amount, sequence }: TokenContent): string {
    const units = moneyToUnits(amount, { min: UNITS_PER_PENNY, max: MAX_PENCE * UNITS_PER_PENNY });
    if (units % UNITS_PER_PENNY !== 0) throw new EmopValueError(`token amount £${amount} is not whole pence`);
    if (!Number.isInteger(sequence) || sequence < 1 || sequence > MAX_TOKEN_SEQUENCE) {
      throw new EmopValueError(`token sequence ${sequence} not in 1..${MAX_TOKEN_SEQUENCE}`);
    }
    const payload = (BigInt(units / UNITS_PER_PENNY) << 16n) | BigInt(sequence);
    const mac = hmac(this.key, serial, payload) & MAC_MASK;
    const masked = payload ^ (hmac(this.key, serial, mac | (1n << 40n)) & PAYLOAD_MASK);
    return ((mac << PAYLOAD_BITS) | masked).toString().padStart(20, '0');
  }

  /** The amount and sequence a token carries for this meter, or TokenRejectedError. */
  decode(serial: string, token: string): TokenContent {
    if (!/^\d{20}$/.test(token)) throw new TokenRejectedError('malformed', 'a token is 20 digits');
    const value = BigInt(token);
    if (value >> (PAYLOAD_BITS + 30n) !== 0n) throw new TokenRejectedError('malformed', 'token out of range');
    const mac = value >> PAYLOAD_BITS;
    const payload = (value & PAYLOAD_MASK) ^ (hmac(this.key, serial, mac | (1n << 40n)) & PAYLOAD_MASK);
    if ((hmac(this.key, serial, payload) & MAC_MASK) !== mac) {
      throw new TokenRejectedError('foreign', 'token was not issued for this meter');
    }
    const pence = Number(payload >> 16n);
    const sequence = Number(payload & 0xffffn);
    if (pence === 0 || sequence === 0) throw new TokenRejectedError('malformed', 'token carries no credit');
    return { amount: moneyFromUnits(pence * UNITS_PER_PENNY), sequence };
  }
}
