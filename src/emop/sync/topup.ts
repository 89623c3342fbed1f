// Delivering a top-up (public.topups) to its meter: issue the token, read the meter's monetary transaction count
// and balance, send the token, confirm the count rose by one and the balance by the amount. Retry-safe: the
// count read before the first send is stored, and a retry compares the meter's count with it before anything
// else, so a token whose acknowledgement was lost is never sent again (and one the meter never took is).
import { z } from 'zod';
import { maybeOne, one, type Queryable } from '../../db/client.ts';
import type { EmopClient } from '../client.ts';
import { EmopNakError } from '../errors.ts';
import type { EmopLogger } from '../log.ts';
import { objects } from '../objects.ts';
import type { WithConnection } from '../pg-lock.ts';
import type { MeterSession } from '../session.ts';
import { MAX_TOKEN_SEQUENCE, type TokenVendor } from '../tokens.ts';
import { moneyFromUnits, moneyToUnits, type Money } from '../units.ts';
import { meterById, targetOf } from './registry.ts';

export class TopupNotFoundError extends Error {
  constructor(readonly topupId: string) {
    super(`top-up ${topupId} not found`);
    this.name = 'TopupNotFoundError';
  }
}

/** Every token sequence number of the meter (1–65535) has been used. */
export class TokenSequenceExhaustedError extends Error {
  constructor(readonly serial: string) {
    super(`meter ${serial} has used every token sequence number`);
    this.name = 'TokenSequenceExhaustedError';
  }
}

/** Another top-up of the same meter was sent and is not resolved yet; this one waits (the job retries). */
export class TopupBlockedError extends Error {
  constructor(
    readonly topupId: string,
    readonly blockedBy: string,
  ) {
    super(`top-up ${topupId} waits for top-up ${blockedBy} of the same meter to be resolved`);
    this.name = 'TopupBlockedError';
  }
}

const topupRow = z.object({
  id: z.string(),
  esco: z.string(),
  meter: z.string(),
  amount: z.string(),
  token: z.string().nullable(),
  status: z.enum(['requested', 'token_issued', 'sent', 'verified', 'failed']),
  attempts: z.number().int(),
  meter_balance_before: z.string().nullable(),
  meter_count_before: z.number().int().nullable(),
});
type Topup = z.infer<typeof topupRow>;

export interface TopupOptions {
  /** Give up after sending the token this many times without the meter taking it; default 3. */
  maxSendAttempts?: number;
  /** How far below the amount the balance rise may fall (consumption during the exchange); default '0.50'. */
  tolerance?: Money;
  signal?: AbortSignal;
}

export type TopupOutcome = 'verified' | 'failed' | 'already_done';

const TOPUP_LOCK_NAMESPACE = 0x5450; // 'TP'
const MONEY = { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const NAK_REFUSED = 6;

async function load(db: Queryable, id: string): Promise<Topup> {
  const row = await maybeOne(
    db,
    `select id, esco, meter, amount::text as amount, token, status, attempts, meter_balance_before::text as meter_balance_before,
            meter_count_before
       from public.topups where id = $1`,
    [id],
  );
  if (!row) throw new TopupNotFoundError(id);
  return topupRow.parse(row);
}

/** Gives the top-up its token: the meter's next sequence number, under a per-meter transaction lock. */
async function issueToken(db: Queryable, topup: Topup, serial: string, vendor: TokenVendor): Promise<void> {
  await db.query('begin');
  try {
    await db.query('select pg_advisory_xact_lock($1, hashtext($2))', [TOPUP_LOCK_NAMESPACE, topup.meter]);
    const { next } = await one<{ next: number }>(
      db,
      `select coalesce(max(token_sequence), 0) + 1 as next from public.topups where meter = $1`,
      [topup.meter],
    );
    if (next > MAX_TOKEN_SEQUENCE) throw new TokenSequenceExhaustedError(serial);
    const token = vendor.issue(serial, { amount: topup.amount, sequence: next });
    await db.query(
      `update public.topups set token = $2, token_sequence = $3, status = 'token_issued', token_issued_at = now(),
              updated_at = now()
        where id = $1 and status = 'requested'`,
      [topup.id, token, next],
    );
    await db.query('commit');
  } catch (error) {
    await db.query('rollback').catch(() => undefined);
    throw error;
  }
}

async function fail(db: Queryable, id: string, error: string): Promise<void> {
  await db.query(
    `update public.topups set status = 'failed', error = $2, failed_at = now(), updated_at = now() where id = $1`,
    [id, error],
  );
}

/** Delivers one top-up; returns how it ended. Transport failures are thrown (the job retries safely). */
export async function deliverTopup(
  deps: { client: EmopClient; withConnection: WithConnection; logger: EmopLogger; vendor: TokenVendor },
  topupId: string,
  options: TopupOptions = {},
): Promise<TopupOutcome> {
  const { client, withConnection, logger, vendor } = deps;
  let topup = await withConnection((db) => load(db, topupId));
  if (topup.status === 'verified' || topup.status === 'failed') return 'already_done';
  const meter = await withConnection((db) => meterById(db, topup.meter));
  const target = meter && targetOf(meter);
  if (!meter || !target) {
    await withConnection((db) => fail(db, topupId, 'the meter has no address'));
    return 'failed';
  }
  if (topup.status === 'requested') {
    await withConnection((db) => issueToken(db, topup, meter.serial, vendor));
    topup = await withConnection((db) => load(db, topupId));
  }
  const token = topup.token!;
  const amountUnits = moneyToUnits(topup.amount, MONEY);
  const toleranceUnits = moneyToUnits(options.tolerance ?? '0.50', MONEY);
  const maxSendAttempts = options.maxSendAttempts ?? 3;

  return client.withMeter(
    target,
    async (session: MeterSession): Promise<TopupOutcome> => {
      const readState = async () => ({
        count: await session.read(objects.monetaryTransactionCount),
        balance: await session.read(objects.prepayBalance),
      });
      let state = await readState();
      let countBefore = topup.meter_count_before;
      let balanceBefore = topup.meter_balance_before;
      let taken = false;
      if (countBefore === null) {
        // First send: no other top-up of this meter may be unresolved, so a rise in the count is ours.
        const blocker = await withConnection((db) =>
          maybeOne<{ id: string }>(
            db,
            `select id from public.topups
              where meter = $1 and id <> $2 and status in ('token_issued', 'sent') and meter_count_before is not null
              limit 1`,
            [topup.meter, topup.id],
          ),
        );
        if (blocker) throw new TopupBlockedError(topup.id, blocker.id);
        countBefore = state.count;
        balanceBefore = state.balance;
        await withConnection((db) =>
          db.query(
            `update public.topups set meter_count_before = $2, meter_balance_before = $3, updated_at = now()
              where id = $1 and meter_count_before is null`,
            [topup.id, countBefore, balanceBefore],
          ),
        );
      } else {
        // A retry: the count tells whether the meter took the token before its acknowledgement was lost.
        taken = state.count !== countBefore;
        if (taken) logger.info({ countBefore, count: state.count }, 'token already taken by the meter; not resending');
      }

      if (!taken) {
        if (topup.attempts >= maxSendAttempts) {
          await withConnection((db) =>
            fail(db, topup.id, `the meter did not take the token in ${topup.attempts} attempts`),
          );
          return 'failed';
        }
        await withConnection((db) =>
          db.query(`update public.topups set attempts = attempts + 1, updated_at = now() where id = $1`, [topup.id]),
        );
        try {
          await session.write(objects.prepayTokenSend, token, { idempotent: false });
        } catch (error) {
          if (!(error instanceof EmopNakError && error.code === NAK_REFUSED)) throw error;
          logger.warn({ code: error.code }, 'meter rejected the token');
          await withConnection((db) => fail(db, topup.id, 'the meter rejected the token'));
          return 'failed';
        }
        await withConnection((db) =>
          db.query(`update public.topups set status = 'sent', sent_at = now(), updated_at = now() where id = $1`, [
            topup.id,
          ]),
        );
        state = await readState();
      }

      const rise = moneyToUnits(state.balance, MONEY) - moneyToUnits(balanceBefore!, MONEY);
      const countRose = state.count === ((countBefore + 1) & 0xffff);
      const balanceRose = rise <= amountUnits && rise >= amountUnits - toleranceUnits;
      if (countRose && balanceRose) {
        await withConnection((db) =>
          db.query(
            `update public.topups set status = 'verified', verified_at = now(), meter_balance_after = $2,
                    meter_count_after = $3, error = null, updated_at = now()
              where id = $1`,
            [topup.id, state.balance, state.count],
          ),
        );
        logger.info({ amount: topup.amount, balance: state.balance }, 'top-up verified');
        return 'verified';
      }
      const problem = `after the token the transaction count went ${countBefore} → ${state.count} and the balance rose by £${moneyFromUnits(rise)} (expected £${topup.amount})`;
      await withConnection((db) =>
        db.query(
          `update public.topups set status = 'failed', error = $2, failed_at = now(), meter_balance_after = $3,
                  meter_count_after = $4, updated_at = now()
            where id = $1`,
          [topup.id, problem, state.balance, state.count],
        ),
      );
      logger.error({ amount: topup.amount }, problem);
      return 'failed';
    },
    { signal: options.signal },
  );
}
