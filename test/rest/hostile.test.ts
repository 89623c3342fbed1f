// Hostile input: a generated corpus of malformed query strings, headers and bodies never gets a
// 5xx, a stack trace or a hang, and every error carries a PostgREST error body.
import { describe, expect, it } from 'vitest';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({ fixture: fixtureSql, variables: () => ({ PGRST_DB_SCHEMAS: 'test' }) });

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const next = random(20251128);
const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
const pieces = [
  'constructor',
  '__proto__',
  'toString',
  'id',
  'name',
  'projects',
  'eq',
  'in',
  'not',
  'or',
  'and',
  'is',
  'null',
  'cs',
  'fts',
  '(',
  ')',
  '{',
  '}',
  '"',
  ',',
  '.',
  ':',
  '::',
  '->',
  '->>',
  '!',
  '*',
  '...',
  '%',
  '%zz',
  "'",
  ';',
  '\\',
  ' ',
  '1',
  '-1',
  'é',
  '\u0000',
];
const junk = (n: number) => Array.from({ length: n }, () => pick(pieces)).join('');
const keys = [
  'select',
  'order',
  'limit',
  'offset',
  'or',
  'and',
  'id',
  'name',
  'projects.id',
  'projects.order',
  'columns',
  'on_conflict',
  'not.or',
  junk(2),
];

function corpus(count: number, token: string): { path: string; init: RequestInit }[] {
  const cases: { path: string; init: RequestInit }[] = [];
  for (let i = 0; i < count; i++) {
    const query = Array.from(
      { length: 1 + Math.floor(next() * 3) },
      () => `${encodeURIComponent(pick(keys))}=${encodeURIComponent(junk(1 + Math.floor(next() * 8)))}`,
    ).join('&');
    const method = pick(['GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD']);
    const headers: Record<string, string> = {};
    const header = pick([
      'Prefer',
      'Accept',
      'Range',
      'Content-Type',
      'Authorization',
      'Accept-Profile',
      'Content-Profile',
    ]);
    if (next() < 0.5) headers.Authorization = `Bearer ${token}`;
    headers[header] = junk(1 + Math.floor(next() * 5))
      .split('\u0000')
      .join('');
    const body =
      method === 'GET' || method === 'HEAD'
        ? undefined
        : pick(['{', '[]', '[1,2]', '{"id":"x"}', '"s"', 'null', junk(5), '{"name":{"a":1}}']);
    const resource = pick([
      '/clients',
      '/projects',
      '/rpc/add',
      '/rpc/get_projects',
      '/items',
      '/',
      `/${encodeURIComponent(junk(2))}`,
    ]);
    cases.push({ path: `${resource}?${query}`, init: { method, headers, body } });
  }
  return cases;
}

describe('hostile input', () => {
  it('never answers 5xx, and errors always have the PostgREST shape', async () => {
    for (const { path, init } of corpus(400, await gw.token())) {
      const res = await gw.fetch(path, { ...init, signal: AbortSignal.timeout(5000) });
      const text = await res.text();
      const label = `${init.method} ${path} ${JSON.stringify(init.headers)} ${String(init.body)} → ${res.status} ${text}`;
      expect(res.status, label).toBeLessThan(500);
      if (res.status >= 400 && init.method !== 'HEAD') {
        const body = JSON.parse(text) as Record<string, unknown>;
        expect(Object.keys(body), label).toEqual(['code', 'details', 'hint', 'message']);
        expect(text, label).not.toMatch(/at .*\.ts:\d+/);
      }
    }
  });
});
