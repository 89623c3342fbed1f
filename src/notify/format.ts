// en-GB formatting for messages: money from decimal strings (never floats), dates in Europe/London.

/** £1,234.50 from a decimal string ("1234.5", "-3", "0.125" → £0.13: half away from zero, to the penny). */
export function formatGbp(amount: string): string {
  const m = /^\s*(-)?(\d+)(?:\.(\d+))?\s*$/.exec(amount);
  if (!m) throw new RangeError(`not a decimal amount: ${amount}`);
  const negative = m[1] === '-';
  let pence = BigInt(m[2]!) * 100n + BigInt(((m[3] ?? '') + '00').slice(0, 2));
  if ((m[3] ?? '').length > 2 && Number((m[3] ?? '')[2]) >= 5) pence += 1n;
  const pounds = (pence / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const rest = (pence % 100n).toString().padStart(2, '0');
  return `${negative && pence > 0n ? '-' : ''}£${pounds}.${rest}`;
}

/** A rate in pence to at most 3 dp: "0.24512" (£/kWh) → "24.512p". */
export function formatPence(amountGbp: string): string {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*$/.exec(amountGbp);
  if (!m) throw new RangeError(`not a decimal rate: ${amountGbp}`);
  const frac = ((m[2] ?? '') + '00000').slice(0, 5);
  const pence = `${BigInt(m[1]!) * 100n + BigInt(frac.slice(0, 2))}`;
  const decimals = frac.slice(2).replace(/0+$/, '');
  return `${pence}${decimals ? `.${decimals}` : ''}p`;
}

const dateFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/London',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
});
const timeFormat = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: '2-digit', minute: '2-digit' });

/** "1 December 2026" for a date ("2026-12-01", as a London day) or an instant. */
export function formatDate(value: string | Date): string {
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
    return dateFormat.format(new Date(`${value}T12:00:00Z`));
  }
  return dateFormat.format(new Date(value));
}

/** "14:05 on 1 December 2026", Europe/London. */
export function formatDateTime(value: string | Date): string {
  const at = new Date(value);
  return `${timeFormat.format(at)} on ${dateFormat.format(at)}`;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
