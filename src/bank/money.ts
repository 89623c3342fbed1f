// Exact money for statement files: amounts as integer pence (bigint), written back as decimal strings.

const DECIMAL = /^(-)?(\d{1,15})(?:\.(\d{1,5}))?$/;

/** Pence of a decimal amount ('12.3' → 1230n), or undefined when it is not exact in pence (or not a number). */
export function toPence(text: string): bigint | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const fraction = (m[3] ?? '').padEnd(5, '0');
  if (fraction.slice(2) !== '000') return undefined;
  const pence = BigInt(m[2]!) * 100n + BigInt(fraction.slice(0, 2));
  return m[1] ? -pence : pence;
}

/** '-12.30' from -1230n. */
export function fromPence(pence: bigint): string {
  const sign = pence < 0n ? '-' : '';
  const abs = pence < 0n ? -pence : pence;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

/** Whether the text is a real calendar date YYYY-MM-DD. */
export function isIsoDate(text: string): boolean {
  const m = /^([12]\d{3})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}
