// Faults a simulated meter can be told to commit, per request, for tests.

export type Fault =
  /** Close the connection without answering or carrying out the request. */
  | { kind: 'drop' }
  /** Keep the connection open and never answer. */
  | { kind: 'silence' }
  /** Carry out the request and answer after `ms`. */
  | { kind: 'delay'; ms: number }
  /** Answer with the CRC corrupted. */
  | { kind: 'badCrc' }
  /** Answer with this NAK code instead of doing the request. */
  | { kind: 'nak'; code: number }
  /** Carry out the request, send the first half of the answer, then close (a lost acknowledgement). */
  | { kind: 'truncate' }
  /** Carry out the request, send the first half of the answer, then reset the connection (RST). */
  | { kind: 'reset' }
  /** Answer with bytes that are not a frame. */
  | { kind: 'garbage' }
  /** Acknowledge a write without storing it (reads are answered normally). */
  | { kind: 'ignoreWrite' };

export const FAULT_KINDS = [
  'drop',
  'silence',
  'delay',
  'badCrc',
  'nak',
  'truncate',
  'reset',
  'garbage',
  'ignoreWrite',
] as const;

export interface FaultRule {
  fault: Fault;
  /** How many matching requests it applies to; default 1. `Infinity` for always. */
  times?: number;
  /** Only requests for this object id (default: any request). */
  oid?: number;
}

export class FaultPlan {
  private readonly rules: { fault: Fault; remaining: number; oid: number | undefined }[] = [];

  add(rule: FaultRule): void {
    this.rules.push({ fault: rule.fault, remaining: rule.times ?? 1, oid: rule.oid });
  }

  /** The first rule matching the request, used up once. */
  take(oid: number | undefined): Fault | undefined {
    const index = this.rules.findIndex((rule) => rule.oid === undefined || rule.oid === oid);
    const rule = this.rules[index];
    if (!rule) return undefined;
    if (--rule.remaining <= 0) this.rules.splice(index, 1);
    return rule.fault;
  }
}
