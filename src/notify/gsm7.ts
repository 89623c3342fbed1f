// GSM 03.38: which texts fit the 7-bit default alphabet, and how many SMS segments a text takes.

const basic =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** Characters of the extension table: each takes two septets (escape + code). */
const extension = '^{}\\[~]|€\f';

const basicSet = new Set(basic);
const extensionSet = new Set(extension);

export interface SmsEncoding {
  encoding: 'GSM-7' | 'UCS-2';
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  segments: number;
}

export function isGsm7(text: string): boolean {
  for (const ch of text) if (!basicSet.has(ch) && !extensionSet.has(ch)) return false;
  return true;
}

export function smsEncoding(text: string): SmsEncoding {
  if (isGsm7(text)) {
    let units = 0;
    for (const ch of text) units += extensionSet.has(ch) ? 2 : 1;
    return { encoding: 'GSM-7', units, segments: units <= 160 ? 1 : Math.ceil(units / 153) };
  }
  const units = text.length;
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
}

/** Replaces the usual non-GSM punctuation (curly quotes, dashes, ellipsis, non-breaking space) with GSM-7 ones. */
export function toGsm7(text: string): string {
  return text
    .replace(/[\u2018\u2019\u201B]/g, "'")
    .replace(/[\u201C\u201D]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/\u2026/g, '...')
    .replace(/\u00A0/g, ' ');
}
