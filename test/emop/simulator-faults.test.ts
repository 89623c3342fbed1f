// Connection-level faults of the simulated meters over real TCP: refused connections, a reset mid-frame, a
// meter that is busy right after answering; and the fleet config file.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmopConnectionError } from '../../src/emop/errors.ts';
import { FleetConfigError, loadFleetConfig, parseFleetConfig } from '../../src/emop/simulator/fleet.ts';
import { fastClient, simulate, targetOf } from './helpers.ts';

describe('simulator connection faults', () => {
  it('refuses connections (ECONNREFUSED) for a while; the client retries after its backoff', async () => {
    const sim = await simulate({ meters: [{ serial: 'R1' }] });
    const meter = targetOf(sim, 'R1');
    const log = sim.meter('R1');
    await log.refuseConnections(30);
    expect(await fastClient({ retry: { attempts: 3, initialDelayMs: 60 } }).csq(meter)).toMatchObject({ csq: 16 });
    expect(log.requests).toHaveLength(1);

    await log.refuseConnections();
    const error = await fastClient()
      .csq(meter)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopConnectionError);
    expect(error).toMatchObject({ requestSent: false, message: expect.stringMatching(/ECONNREFUSED/) });
    // A token is resent when the connection was refused: it cannot have reached the meter.
    const token = fastClient({ retry: { attempts: 3, initialDelayMs: 40 } }).prepaySendToken(meter, '1'.repeat(20));
    setTimeout(() => void log.acceptConnections(), 20);
    await expect(token).rejects.toMatchObject({ code: 6 }); // reached the meter (and was refused as foreign)
    expect(log.requests).toHaveLength(2);
  });

  it('starts a meter configured to refuse connections unreachable', async () => {
    const sim = await simulate({ meters: [{ serial: 'R2', refuseConnections: true }] });
    await expect(fastClient().csq(targetOf(sim, 'R2'))).rejects.toMatchObject({ requestSent: false });
    expect(sim.meter('R2').refusingConnections).toBe(true);
  });

  it('resets the connection mid-frame: reads are retried, a token is not resent', async () => {
    const sim = await simulate({ meters: [{ serial: 'X1', balance: '1.00000' }], redeemToken: () => '2.00000' });
    const meter = targetOf(sim, 'X1');
    const log = sim.meter('X1');
    log.injectFault({ kind: 'reset' });
    expect(await fastClient().prepayBalance(meter)).toBe('1.00000');
    expect(log.requests.map((r) => r.fault)).toEqual(['reset', undefined]);

    log.injectFault({ kind: 'reset' });
    const error = await fastClient()
      .prepaySendToken(meter, '2'.repeat(20))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmopConnectionError);
    expect(error).toMatchObject({ requestSent: true });
    expect((error as EmopConnectionError).received.length).toBeGreaterThan(0);
    expect(log.requests).toHaveLength(3);
    // The meter did take it: the lost acknowledgement is why the client must not resend.
    expect(log.model.balance).toBe('3.00000');
  });

  it('is busy right after answering, as real meters are: the minimum gap avoids the refusals', async () => {
    const sim = await simulate({ meters: [{ serial: 'B1', busyAfterRequestMs: 80 }] });
    const meter = targetOf(sim, 'B1');
    const hurried = fastClient({ retry: { attempts: 1 } });
    await hurried.csq(meter);
    await expect(hurried.csq(meter)).rejects.toMatchObject({ requestSent: false });
    const patient = fastClient({ minRequestGapMs: 150, retry: { attempts: 1 } });
    await patient.csq(meter);
    await patient.csq(meter);
    await patient.serialRead(meter);
    expect(sim.meter('B1').requests).toHaveLength(4);
  });

  it('applies faults configured per meter, combinable and for every request', async () => {
    const options = parseFleetConfig({
      meters: [
        {
          serial: 'C1',
          latencyMs: 5,
          faults: [
            { fault: { kind: 'nak', code: 5 }, oid: 'FFFD1D', times: 'always' },
            { fault: { kind: 'badCrc' }, times: 1 },
          ],
        },
      ],
    });
    const sim = await simulate(options);
    const client = fastClient();
    const meter = targetOf(sim, 'C1');
    expect(await client.serialRead(meter)).toBe('C1'); // the bad CRC is retried
    await expect(client.csq(meter)).rejects.toMatchObject({ code: 5 });
    await expect(client.csq(meter)).rejects.toMatchObject({ code: 5 });
    expect(sim.meter('C1').requests.map((r) => r.fault)).toEqual(['badCrc', undefined, 'nak', 'nak']);
  });
});

describe('fleet config', () => {
  it('lists every problem with its path', () => {
    const error = (() => {
      try {
        parseFleetConfig({
          meters: [
            { serial: 'A1', balance: 3.5 },
            { serial: 'A1', tariff: { unitRateElementA: '0.123456' }, colour: 'red' },
            { serial: 'A2', faults: [{ fault: { kind: 'explode' } }] },
          ],
        });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(FleetConfigError);
    const problems = (error as FleetConfigError).problems.join('\n');
    expect(problems).toMatch(/meters\.0\.balance/);
    expect(problems).toMatch(/meters\.1\.tariff\.unitRateElementA: expected GBP/);
    expect(problems).toMatch(/meters\.1: .*colour/);
    expect(problems).toMatch(/meters\.2\.faults\.0\.fault\.kind/);
    expect(() => parseFleetConfig({ meters: [{ serial: 'A1' }, { serial: 'A1' }] })).toThrow(
      /meters\.1\.serial: repeats meters\[0\]/,
    );
    expect(() => parseFleetConfig({ meters: [] })).toThrow(/at least one meter/);
  });

  it('reads a JSON file, and says what is wrong with one that cannot be read or parsed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-'));
    const good = path.join(dir, 'fleet.json');
    await writeFile(
      good,
      JSON.stringify({ clock: { speed: 60 }, meters: [{ serial: 'J1', port: 0, twinElement: true }] }),
    );
    const options = await loadFleetConfig(good);
    expect(options.meters).toMatchObject([{ serial: 'J1', twinElement: true }]);
    const t = options.now!();
    expect(options.now!() - t).toBeGreaterThanOrEqual(0);

    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{ "meters": [');
    await expect(loadFleetConfig(bad)).rejects.toThrow(/bad\.json:\n {2}- not JSON/);
    await expect(loadFleetConfig(path.join(dir, 'missing.json'))).rejects.toThrow(/cannot read the file/);
  });
});
