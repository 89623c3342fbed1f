// The `Prefer` header (contract §7.1, §11): recognised preferences, first one wins, and the
// `Preference-Applied` echo in PostgREST's order.
import { pgrstError } from './errors.ts';

export interface Preferences {
  return: 'minimal' | 'representation' | 'headers-only' | undefined;
  count: 'exact' | 'planned' | 'estimated' | undefined;
  resolution: 'merge-duplicates' | 'ignore-duplicates' | undefined;
  missing: 'default' | 'null' | undefined;
  handling: 'strict' | 'lenient' | undefined;
  tx: 'commit' | 'rollback' | undefined;
  timezone: string | undefined;
  maxAffected: number | undefined;
}

const choices = {
  return: ['minimal', 'representation', 'headers-only'],
  count: ['exact', 'planned', 'estimated'],
  resolution: ['merge-duplicates', 'ignore-duplicates'],
  missing: ['default', 'null'],
  handling: ['strict', 'lenient'],
  tx: ['commit', 'rollback'],
} as const;

function oneOf<T extends string>(options: readonly T[], value: string | undefined): T | undefined {
  return options.find((o) => o === value);
}

/** Parses every `Prefer` header value (first occurrence wins); PGRST122 for invalid ones with handling=strict. */
export function parsePreferences(headers: string[], validTimezone: (tz: string) => boolean): Preferences {
  // Tokens match whole (`return=representation`); any `max-affected=` is accepted, numbers apply.
  const valid = (key: string, value: string): boolean => {
    if (Object.hasOwn(choices, key)) return oneOf(choices[key as keyof typeof choices], value) !== undefined;
    if (key === 'timezone') return validTimezone(value);
    return key === 'max-affected';
  };
  const given = new Map<string, string>();
  const invalid: string[] = [];
  for (const token of headers.flatMap((h) => h.split(','))) {
    const trimmed = token.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const key = eq < 0 ? trimmed : trimmed.slice(0, eq);
    const value = eq < 0 ? '' : trimmed.slice(eq + 1);
    if (!valid(key, value)) invalid.push(trimmed);
    else if (!given.has(key)) given.set(key, value);
  }
  const preferences: Preferences = {
    return: oneOf(choices.return, given.get('return')),
    count: oneOf(choices.count, given.get('count')),
    resolution: oneOf(choices.resolution, given.get('resolution')),
    missing: oneOf(choices.missing, given.get('missing')),
    handling: oneOf(choices.handling, given.get('handling')),
    tx: oneOf(choices.tx, given.get('tx')),
    timezone: given.get('timezone'),
    maxAffected: /^\d+$/.test(given.get('max-affected') ?? '') ? Number(given.get('max-affected')) : undefined,
  };
  if (preferences.handling === 'strict' && invalid.length > 0) {
    throw pgrstError(
      'PGRST122',
      'Invalid preferences given with handling=strict',
      `Invalid preferences: ${invalid.join(', ')}`,
    );
  }
  return preferences;
}

/** Which preferences an action echoes (contract §11). */
export type Echoable = keyof Preferences;

/** `Preference-Applied` value: the applied preferences among `echo`, in PostgREST's order. */
export function preferenceApplied(p: Preferences, echo: ReadonlySet<Echoable>): string | undefined {
  const parts: string[] = [];
  const add = (key: Echoable, text: string | undefined) => {
    if (text !== undefined && echo.has(key)) parts.push(text);
  };
  add('resolution', p.resolution && `resolution=${p.resolution}`);
  add('missing', p.missing && `missing=${p.missing}`);
  add('return', p.return && `return=${p.return}`);
  add('count', p.count && `count=${p.count}`);
  add('tx', p.tx && `tx=${p.tx}`);
  add('handling', p.handling && `handling=${p.handling}`);
  add('timezone', p.timezone && `timezone=${p.timezone}`);
  if (p.handling === 'strict')
    add('maxAffected', p.maxAffected === undefined ? undefined : `max-affected=${p.maxAffected}`);
  return parts.length === 0 ? undefined : parts.join(', ');
}
