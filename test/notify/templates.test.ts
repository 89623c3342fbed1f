// Templates: every one renders its sample in plain text, HTML and one GSM-7 SMS segment; money and dates
// are en-GB; payloads are checked; HTML is escaped.
import { describe, expect, it } from 'vitest';
import { formatDate, formatDateTime, formatGbp, formatPence } from '../../src/notify/format.ts';
import { isGsm7, smsEncoding } from '../../src/notify/gsm7.ts';
import { render, samplePayload, TemplateError, templateNames } from '../../src/notify/templates.ts';

describe('en-GB money and dates', () => {
  it.each([
    ['0', '£0.00'],
    ['12.5', '£12.50'],
    ['1234567.891', '£1,234,567.89'],
    ['0.125', '£0.13'],
    ['-3.40', '-£3.40'],
    ['-0.001', '£0.00'],
  ])('formatGbp(%s) = %s', (amount, expected) => {
    expect(formatGbp(amount)).toBe(expected);
  });

  it('refuses what is not a decimal amount', () => {
    expect(() => formatGbp('1e3')).toThrow(RangeError);
    expect(() => formatGbp('£5')).toThrow(RangeError);
  });

  it('shows rates in pence', () => {
    expect(formatPence('0.21450')).toBe('21.45p');
    expect(formatPence('0.41230')).toBe('41.23p');
    expect(formatPence('1.00000')).toBe('100p');
  });

  it('shows London days and times', () => {
    expect(formatDate('2027-01-01')).toBe('1 January 2027');
    expect(formatDateTime('2026-07-01T23:30:00Z')).toBe('00:30 on 2 July 2026');
    expect(formatDateTime('2026-12-01T09:05:00Z')).toBe('09:05 on 1 December 2026');
  });
});

describe('GSM-7', () => {
  it('counts septets, extension characters twice, and segments', () => {
    expect(smsEncoding('a'.repeat(160))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsEncoding('€'.repeat(80))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsEncoding('a'.repeat(161))).toEqual({ encoding: 'GSM-7', units: 161, segments: 2 });
    expect(smsEncoding('£5 ✓')).toEqual({ encoding: 'UCS-2', units: 4, segments: 1 });
    expect(isGsm7('£12.50 top-up')).toBe(true);
    expect(isGsm7('it’s')).toBe(false);
  });
});

describe.each(templateNames)('template %s', (name) => {
  const r = render(name, samplePayload(name));

  it('renders plain text and HTML email with a subject', () => {
    expect(r.subject.length).toBeGreaterThan(10);
    expect(r.subject).not.toMatch(/undefined|NaN|null/);
    expect(r.text).not.toMatch(/undefined|NaN|null|\[object/);
    expect(r.html).toMatch(/^<!doctype html><html lang="en-GB">/);
    expect(r.html).toContain(`<title>${r.subject.replace(/'/g, '&#39;')}</title>`);
  });

  it('fits its SMS in one GSM-7 segment', () => {
    expect(smsEncoding(r.sms)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
  });

  it('fits one segment even with long names', () => {
    const long = {
      ...(samplePayload(name) as Record<string, unknown>),
      esco_name: 'The Very Long Named Community Energy Services Cooperative',
      name: 'x'.repeat(150),
    };
    expect(smsEncoding(render(name, long).sms).segments).toBe(1);
  });

  it('keeps its SMS in GSM-7, one segment, whatever the community and customer are called', () => {
    const named = {
      ...(samplePayload(name) as Record<string, unknown>),
      esco_name: 'Ynni Cymunedol Môn ☀️',
      name: 'Siân Ŵyn 😀',
    };
    const sms = render(name, named).sms;
    expect(smsEncoding(sms)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
    expect(sms).toMatch(/^Ynni Cymunedol Mon\b/);
  });

  it('refuses a payload without its fields', () => {
    expect(() => render(name, {})).toThrow(TemplateError);
  });
});

describe('rendering', () => {
  it('shows money and dates en-GB in every part', () => {
    const r = render('topup_completed', samplePayload('topup_completed'));
    expect(r.subject).toBe('Your top-up of £20.00 has reached your meter');
    expect(r.text).toBe(
      'Dear Ada Lovelace,\n\nYour top-up of £20.00 reached meter EML2137580826 at 14:05 on 28 November 2026.\n\n' +
        'Your balance is now £27.45.\n\nSunny Meadows Energy\n',
    );
    expect(r.sms).toBe('Sunny Meadows Energy: your top-up of £20.00 reached meter EML2137580826. Balance £27.45.');
  });

  it('escapes HTML from the payload', () => {
    const r = render('low_balance', { ...(samplePayload('low_balance') as object), name: '<b>Eve</b> & co' });
    expect(r.html).toContain('Dear &#60;b&#62;Eve&#60;/b&#62; &#38; co,');
    expect(r.html).not.toContain('<b>Eve');
  });

  it('refuses an unknown template', () => {
    expect(() => render('nope', {})).toThrow(/unknown template/);
  });
});
