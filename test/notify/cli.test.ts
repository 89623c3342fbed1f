// `flows notify preview` through commander, as the lead wires it into src/cli/main.ts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { preview, register } from '../../src/cli/notify.ts';

describe('flows notify preview', () => {
  it('renders the sample payload: subject, text, HTML and a one-segment SMS', async () => {
    const out = await preview('off_supply');
    expect(out).toContain('subject: Meter EML2137580826 is off supply: no credit left');
    expect(out).toContain('--- sms (GSM-7,');
    expect(out).toContain('1 segment)');
    expect(out).toContain('<p>Dear Ada Lovelace,</p>');
  });

  it('renders a payload file', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'notify-')), 'payload.json');
    writeFileSync(file, JSON.stringify({ amount_gbp: '7.5', meter_serial: 'ABC123', esco_name: 'Acme' }));
    expect(await preview('topup_failed', file)).toContain('subject: Your top-up of £7.50 could not be delivered');
  });

  it('names the known templates for an unknown one, and refuses a bad payload', async () => {
    await expect(preview('nope')).rejects.toThrow(/known: invoice_issued, payment_received/);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'notify-')), 'bad.json');
    writeFileSync(file, JSON.stringify({ amount_gbp: 7.5 }));
    await expect(preview('topup_failed', file)).rejects.toThrow(/amount_gbp/);
  });

  it('is a subcommand of the program', async () => {
    const program = new Command().exitOverride();
    register(program);
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(['node', 'flows', 'notify', 'preview', 'meter_recovered']);
      expect(String(write.mock.calls[0]?.[0])).toContain('is back online');
    } finally {
      write.mockRestore();
    }
  });
});
