// GSM 03.38: which texts fit the 7-bit default alphabet, and how many SMS segments a text takes.

const basic =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** Characters of the extension table: each takes two septets (escape + code). */
const extension = '^{}\\[~]|€\f';

const basicSet = new Set(basic);
const extensionSet = new Set(extension);
const inGsm7 = (ch: string) => basicSet.has(ch) || extensionSet.has(ch);

export interface SmsEncoding {
  encoding: 'GSM-7' | 'UCS-2';
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  segments: number;
}

export function isGsm7(text: string): boolean {
  for (const ch of text) if (!inGsm7(ch)) return false;
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

/**
 * The text in the GSM-7 alphabet, so that one odd character (a Welsh ŵ in a community's name, an emoji) does not
 * make the whole message UCS-2 and double its segments: the usual punctuation (curly quotes, dashes, ellipsis,
 * non-breaking space) becomes its GSM-7 form, a letter with an accent GSM-7 lacks loses the accent (ô → o), and
 * anything else without a GSM-7 form (emoji, other scripts) is left out.
 */
export function toGsm7(text: string): string {
  const punctuated = text
    .replace(/[\u2018\u2019\u201B]/g, "'")
    .replace(/[\u201C\u201D]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/\u2026/g, '...')
    .replace(/\u00A0/g, ' ');
  if (isGsm7(punctuated)) return punctuated;
  let out = '';
  for (const ch of punctuated) {
    if (inGsm7(ch)) {
      out += ch;
      continue;
    }
    const base = ch.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
    if (base !== ch && [...base].every(inGsm7)) out += base;
  }
  return out.replace(/ {2,}/g, ' ');
}
