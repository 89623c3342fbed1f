// "Perhaps you meant …" suggestions.
//
// `FuzzySet` is the algorithm of the Haskell `fuzzyset` package (0.2) that PostgREST's hints use
// (`Fuzzy.fromList`, `Fuzzy.getOne`; src/PostgREST/Error.hs, noRpcHint and noRelBetweenHint):
// cosine similarity of the 3-gram vectors (2-grams when no 3-gram matches) of the normalised
// strings, the best 50 then scored again by normalised Levenshtein similarity, 0.33 at least.
// `closest` is the gateway's own, stricter suggestion for unknown tables (PGRST205).

/** Plain edit distance. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j]!;
      prev[j] = Math.min(above + 1, prev[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length]!;
}

/** The candidate closest to `name`, when it is reasonably close. */
export function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 2)) ? best : undefined;
}

const gramSizes = [3, 2];
const defaultMinScore = 0.33;

/** Lower case, only letters, digits, white space and commas (fuzzyset's `normalized`). */
function normalized(s: string): string {
  return [...s.toLowerCase()].filter((c) => /[\p{L}\p{N}\s,]/u.test(c)).join('');
}

/** How often each n-gram of the normalised string, enclosed in hyphens, occurs. */
function gramVector(s: string, size: number): Map<string, number> {
  const chars = [...`-${normalized(s)}-`];
  const grams = new Map<string, number>();
  for (let i = 0; i + size <= chars.length; i++) {
    const gram = chars.slice(i, i + size).join('');
    grams.set(gram, (grams.get(gram) ?? 0) + 1);
  }
  return grams;
}

const magnitude = (v: Map<string, number>) => Math.sqrt([...v.values()].reduce((sum, n) => sum + n * n, 0));

/** 1 - distance / longer length (text-metrics' levenshteinNorm). */
function levenshteinSimilarity(a: string, b: string): number {
  const length = Math.max([...a].length, [...b].length);
  return length === 0 ? 1 : 1 - distance(a, b) / length;
}

interface Entry {
  /** Lower-cased text. */
  key: string;
  value: string;
  vectors: Map<number, { grams: Map<string, number>; magnitude: number }>;
}

export class FuzzySet {
  private readonly entries: Entry[] = [];
  private readonly exact = new Map<string, string>();

  constructor(values: Iterable<string> = []) {
    for (const v of values) this.add(v);
  }

  add(value: string): void {
    const key = value.toLowerCase();
    if (this.exact.has(key)) return;
    this.exact.set(key, value);
    const vectors = new Map(
      gramSizes.map((size) => {
        const grams = gramVector(key, size);
        return [size, { grams, magnitude: magnitude(grams) }] as const;
      }),
    );
    this.entries.push({ key, value, vectors });
  }

  /** Matches scoring at least `minScore`, best first (an exact match, case aside, alone with 1). */
  get(value: string, minScore = defaultMinScore): [number, string][] {
    const key = value.toLowerCase();
    const exact = this.exact.get(key);
    if (exact !== undefined) return [[1, exact]];
    for (const size of gramSizes) {
      const query = gramVector(key, size);
      const queryMagnitude = magnitude(query);
      const cosine: [number, Entry][] = [];
      for (const entry of this.entries) {
        const { grams, magnitude: entryMagnitude } = entry.vectors.get(size)!;
        let dot = 0;
        for (const [gram, n] of query) dot += n * (grams.get(gram) ?? 0);
        if (dot > 0) cosine.push([dot / (queryMagnitude * entryMagnitude), entry]);
      }
      const results = cosine
        .sort((a, b) => b[0] - a[0])
        .slice(0, 50)
        .map(([, entry]): [number, string] => [levenshteinSimilarity(key, entry.key), entry.value])
        .sort((a, b) => b[0] - a[0])
        .filter(([score]) => score >= minScore);
      if (results.length > 0) return results;
    }
    return [];
  }

  /** The best match scoring at least `minScore` (fuzzyset's `getOne` uses 0.33). */
  getOne(value: string, minScore = defaultMinScore): string | undefined {
    return this.get(value, minScore)[0]?.[1];
  }
}
