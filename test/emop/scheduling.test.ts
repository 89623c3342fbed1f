// Per-meter discipline: one request at a time per meter, a minimum gap between requests, the lock hook.
import { describe, expect, it } from 'vitest';
import { encodeDataField } from '../../src/emop/data-field.ts';
import { EmopAbortedError } from '../../src/emop/errors.ts';
import { encodeFrame } from '../../src/emop/frame.ts';
import { exchange } from '../../src/emop/transport.ts';
import { fastClient, simulate, targetOf } from './helpers.ts';

describe('per-meter scheduling', () => {
  it('never has two requests to one meter in flight, while different meters are served in parallel', async () => {
    const sim = await simulate({
      meters: [
        { serial: 'A', latencyMs: 40 },
        { serial: 'B', latencyMs: 40 },
      ],
    });
    const client = fastClient();
    const a = targetOf(sim, 'A');
    const b = targetOf(sim, 'B');
    await Promise.all([
      client.csq(a),
      client.serialRead(a),
      client.prepayBalance(a),
      client.tariffsFutureRead(a),
      client.csq(b),
      client.serialRead(b),
    ]);
    const logA = sim.meter('A').requests;
    expect(logA).toHaveLength(12);
    expect(logA.some((r) => r.overlapping)).toBe(false);
    // The queue is FIFO: the calls' requests arrive in call order, each operation's requests together.
    expect(logA.slice(0, 3).map((r) => r.request)).toMatchObject([
      { oid: 0xfffd1d },
      { oid: 0x600100 },
      { oid: 0xffc802 },
    ]);
    // B's first request arrived while A was still busy.
    const firstB = sim.meter('B').requests[0]!.at;
    expect(firstB).toBeLessThan(logA[1]!.at);
  });

  it('(control) the simulator notices overlapping requests when nothing serialises them', async () => {
    const sim = await simulate({ meters: [{ serial: 'X', latencyMs: 30 }] });
    const { host, port } = sim.meter('X').info;
    const request = encodeFrame({
      destination: { deviceType: 0, address: 0 },
      source: { deviceType: 0, address: 1 },
      sequence: 0,
      code: 0,
      data: encodeDataField({ format: 'object', oid: 0xfffd1d, access: 'read', payload: new Uint8Array() }),
    });
    const options = { host, port, connectTimeoutMs: 500, readTimeoutMs: 500 };
    await Promise.all([exchange(request, options), exchange(request, options)]);
    expect(sim.meter('X').requests.map((r) => r.overlapping)).toEqual([false, true]);
  });

  it('serialises requests to a meter across client instances in the process', async () => {
    const sim = await simulate({ meters: [{ serial: 'C', latencyMs: 30 }] });
    const meter = targetOf(sim, 'C');
    await Promise.all([fastClient().csq(meter), fastClient().csq(meter), fastClient().serialRead(meter)]);
    expect(sim.meter('C').requests.map((r) => r.overlapping)).toEqual([false, false, false]);
  });

  it('keeps the minimum gap between the end of one request and the start of the next', async () => {
    const sim = await simulate({ meters: [{ serial: 'G' }] });
    const gap = 120;
    const client = fastClient({ minRequestGapMs: gap });
    const meter = targetOf(sim, 'G');
    await Promise.all([client.csq(meter), client.csq(meter), client.prepayBalance(meter)]);
    const arrivals = sim.meter('G').requests.map((r) => r.at);
    expect(arrivals).toHaveLength(3);
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(gap);
  });

  it('runs every operation inside the injected lock hook, inside the in-process queue', async () => {
    const sim = await simulate({ meters: [{ serial: 'L' }] });
    const events: string[] = [];
    let held = 0;
    const client = fastClient({
      withMeterLock: async (key, fn) => {
        held++;
        events.push(`lock ${key} held=${held}`);
        try {
          return await fn();
        } finally {
          held--;
          events.push(`unlock ${key}`);
        }
      },
    });
    const meter = targetOf(sim, 'L');
    await Promise.all([client.csq(meter), client.serialRead(meter)]);
    expect(events).toEqual(['lock L held=1', 'unlock L', 'lock L held=1', 'unlock L']);
  });

  it('drops a queued operation whose signal aborts before its turn, without blocking the queue', async () => {
    const sim = await simulate({ meters: [{ serial: 'Q' }] });
    const log = sim.meter('Q');
    log.injectFault({ kind: 'delay', ms: 150 });
    const client = fastClient({ readTimeoutMs: 1_000 });
    const meter = targetOf(sim, 'Q');
    const controller = new AbortController();
    const first = client.csq(meter);
    const queued = client.serialRead(meter, { signal: controller.signal });
    const third = client.prepayBalance(meter);
    await log.waitForRequests(1);
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(EmopAbortedError);
    await Promise.all([first, third]);
    expect(log.requests.map((r) => r.request)).toMatchObject([{ oid: 0xfffd1d }, { oid: 0xffc802 }]);
  });
});
