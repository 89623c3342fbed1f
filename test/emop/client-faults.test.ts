// Failures over real TCP: timeouts, retries with backoff, NAKs, corrupted answers, lost connections, abort.
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  EmopAbortedError,
  EmopConnectionError,
  EmopCrcError,
  EmopDelimiterError,
  EmopNakError,
  EmopTimeoutError,
} from '../../src/emop/errors.ts';
import { fastClient, simulate, targetOf } from './helpers.ts';

const serial = 'F1';

async function oneMeter() {
  const sim = await simulate({
    // charges nothing: the balances read are exact however slow the run
    meters: [{ serial, balance: '5.00000', importWhPerHalfHour: 0, tariff: { standingCharge: '0' } }],
    redeemToken: () => '10.00000',
  });
  return { sim, meter: targetOf(sim, serial), log: sim.meter(serial) };
}

describe('EmopClient faults', () => {
  it('times out a silent meter on read, retries, and reports the timeout', async () => {
    const { meter, log } = await oneMeter();
    log.injectFault({ fault: { kind: 'silence' }, times: Infinity });
    const error = await fastClient({ readTimeoutMs: 50 })
      .csq(meter)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopTimeoutError);
    expect(error).toMatchObject({ phase: 'read', timeoutMs: 50, requestSent: true });
    expect(log.requests).toHaveLength(3);
  });

  it('recovers from a dropped connection and a late answer within the retry budget', async () => {
    const { meter, log } = await oneMeter();
    log.injectFault({ kind: 'drop' });
    log.injectFault({ kind: 'delay', ms: 200 });
    expect(await fastClient({ readTimeoutMs: 100 }).prepayBalance(meter)).toBe('5.00000');
    expect(log.requests.map((r) => r.fault)).toEqual(['drop', 'delay', undefined]);
  });

  it('backs off between attempts: initial delay, then multiplied', async () => {
    const { meter, log } = await oneMeter();
    log.injectFault({ fault: { kind: 'drop' }, times: 2 });
    await fastClient({ retry: { attempts: 3, initialDelayMs: 40, multiplier: 3, maxDelayMs: 1_000 } }).csq(meter);
    const [first, second, third] = log.requests.map((r) => r.at);
    expect(second! - first!).toBeGreaterThanOrEqual(40);
    expect(third! - second!).toBeGreaterThanOrEqual(120);
  });

  it('retries a bad CRC and a truncated answer, and gives up with the typed error carrying the bytes', async () => {
    const { meter, log } = await oneMeter();
    log.injectFault({ kind: 'badCrc' });
    log.injectFault({ kind: 'truncate' });
    expect(await fastClient().serialRead(meter)).toBe(serial);

    log.injectFault({ fault: { kind: 'badCrc' }, times: 3 });
    const error = await fastClient()
      .serialRead(meter)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopCrcError);
    expect((error as EmopCrcError).bytes[0]).toBe(0x7e);
    expect(log.requests).toHaveLength(6);
  });

  it('fails fast on an answer that is not a frame', async () => {
    const { meter, log } = await oneMeter();
    log.injectFault({ fault: { kind: 'garbage' }, times: Infinity });
    const error = await fastClient({ retry: { attempts: 1 } })
      .csq(meter)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopDelimiterError);
    expect(Buffer.from((error as EmopDelimiterError).bytes).toString()).toContain('not an EMOP frame');
  });

  it('does not retry a NAK other than a CRC error', async () => {
    const { meter, log } = await oneMeter();
    log.injectFault({ kind: 'nak', code: 1 });
    expect(await fastClient().csq(meter)).toEqual({ networkOperator: 1, csq: 16 });
    expect(log.requests.map((r) => r.code)).toEqual([1, 0]);

    log.injectFault({ kind: 'nak', code: 6 });
    const error = await fastClient()
      .csq(meter)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopNakError);
    expect(error).toMatchObject({ code: 6 });
    expect(log.requests).toHaveLength(3);
  });

  it('never resends a token whose answer was lost, but resends one the meter never received', async () => {
    const { meter, log } = await oneMeter();
    const client = fastClient();
    log.injectFault({ kind: 'truncate' });
    await expect(client.prepaySendToken(meter, '11111111111111111111')).rejects.toBeInstanceOf(EmopConnectionError);
    expect(log.requests).toHaveLength(1);
    expect(await client.prepayBalance(meter)).toBe('15.00000');

    log.injectFault({ kind: 'nak', code: 1 });
    await client.prepaySendToken(meter, '22222222222222222222');
    expect(await client.prepayBalance(meter)).toBe('25.00000');
  });

  it('reports a refused connection after retrying it', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const error = await fastClient()
      .csq({ host: '127.0.0.1', port })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopConnectionError);
    expect(error).toMatchObject({ requestSent: false });
  });

  it('aborts a request in flight and one waiting for its backoff', async () => {
    const { meter, log } = await oneMeter();
    log.injectFault({ kind: 'silence' });
    const controller = new AbortController();
    const pending = fastClient({ readTimeoutMs: 10_000 }).csq(meter, { signal: controller.signal });
    await log.waitForRequests(1);
    controller.abort(new Error('shutting down'));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopAbortedError);
    expect((error as EmopAbortedError).cause).toEqual(new Error('shutting down'));

    log.injectFault({ kind: 'drop' });
    const backoff = new AbortController();
    const retrying = fastClient({ retry: { initialDelayMs: 10_000, maxDelayMs: 10_000 } }).csq(meter, {
      signal: backoff.signal,
    });
    await log.waitForRequests(2);
    backoff.abort();
    await expect(retrying).rejects.toBeInstanceOf(EmopAbortedError);
    expect(log.requests).toHaveLength(2);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const { meter, log } = await oneMeter();
    await expect(fastClient().csq(meter, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(EmopAbortedError);
    expect(log.requests).toHaveLength(0);
  });
});
