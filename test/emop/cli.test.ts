// `flows emop` and `flows simulator` as the lead wires them (register(program)): a command against a simulated
// meter over TCP, and frames decoded to JSON.
import { afterEach, describe, expect, it } from 'vitest';
import { register as registerEmop } from '../../src/cli/emop.ts';
import { register as registerSimulator } from '../../src/cli/simulator.ts';
import { runCliJson } from '../support/cli-in-process.ts';
import { simulate } from './helpers.ts';

const flows = (...args: string[]) => runCliJson([registerEmop, registerSimulator], args);

afterEach(() => {
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
});

describe('flows emop', () => {
  it('runs a command against a meter given by --host/--port', async () => {
    // a meter that charges nothing, so that the balance read is the one set however slow the run
    const sim = await simulate({
      meters: [{ serial: 'CLI1', balance: '7.25000', importWhPerHalfHour: 0, tariff: { standingCharge: '0' } }],
    });
    const { port } = sim.meter('CLI1').info;
    const options = ['--host', '127.0.0.1', '--port', String(port), '--gap-ms', '0', '--timeout-ms', '500'];
    expect(await flows('emop', ...options, 'csq', 'CLI1')).toEqual({ networkOperator: 1, csq: 16 });
    expect(await flows('emop', ...options, 'prepay_balance', 'CLI1')).toBe('7.25000');
    expect(await flows('emop', ...options, 'tariffs_future_read', 'CLI1')).toMatchObject({ activationTime: null });
    const log = await flows(
      'emop',
      ...options,
      'profile_log_1',
      'CLI1',
      new Date(Date.now() - 86_400_000).toISOString(),
    );
    expect(log).toMatchObject({ records: expect.any(Array) });
  });

  it('decodes frames, captured ones included, and refuses a corrupted one', async () => {
    expect(await flows('emop', 'decode', '7E 15 0021AE42 000018B0 05 01 FFC802 00 E0930400 21E1')).toMatchObject({
      oid: 'FFC802',
      object: 'prepay balance',
      access: 'read',
      value: '3.00000',
    });
    expect(await flows('emop', 'decode', '7E11C06F0093000018B0290180030900F8A2')).toMatchObject({
      code: 5,
      nak: 'data object not recognised',
      sequence: 1,
      source: { deviceType: 0, address: '0018B0' },
    });
    const profile = (await flows(
      'emop',
      'decode',
      '7E 61 0021AE42 000018B0 05 03 0008BB2D',
      '60D0B02D 0100 F0060000 45070000 68D7B02D 0080 F0060000 45070000 70DEB02D 0080 F0060000 45070000',
      '78E5B02D 0080 F0060000 45070000 80ECB02D 0080 F0060000 45070000 34000000000000000000 866C',
    )) as { records: { importAWh: number }[] };
    expect(profile.records).toHaveLength(5);
    expect(profile.records[0]).toMatchObject({ importAWh: 1776, importBWh: 1861 });
    await expect(flows('emop', 'decode', '7E 15 0021AE42 000018B0 05 01 FFC802 00 E0930400 21E2')).rejects.toThrow(
      /CRC mismatch/,
    );
  });
});
