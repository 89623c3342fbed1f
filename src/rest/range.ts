// Limits, offsets, the Range header and Content-Range (contract §5.7).
import { pgrstError } from './errors.ts';

export interface Window {
  offset: number;
  /** Undefined = no limit. */
  limit: number | undefined;
}

/** `Range: from-[to]` (an `items=` prefix is tolerated); other formats are ignored. */
export function parseRangeHeader(value: string | undefined): { from: number; to: number | undefined } | undefined {
  const m = value === undefined ? null : /^\s*(?:items=)?(\d+)-(\d*)\s*$/.exec(value);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === '' ? undefined : Number(m[2]);
  if (to !== undefined && from > to) {
    throw pgrstError(
      'PGRST103',
      'Requested range not satisfiable',
      'The lower boundary must be lower than or equal to the upper boundary in the Range header.',
    );
  }
  return { from, to };
}

/** limit/offset intersected with the Range header, capped by max-rows. */
export function window(
  limit: number | undefined,
  offset: number | undefined,
  range: { from: number; to: number | undefined } | undefined,
  maxRows: number | undefined,
): Window {
  let from = offset ?? 0;
  let to = limit === undefined ? Infinity : from + limit - 1;
  if (range) {
    from = Math.max(from, range.from);
    to = Math.min(to, range.to ?? Infinity);
  }
  let count = to === Infinity ? undefined : Math.max(0, to - from + 1);
  if (maxRows !== undefined) count = Math.min(count ?? maxRows, maxRows);
  return { offset: from, limit: count };
}

export function contentRange(offset: number, pageTotal: number, total: number | undefined): string {
  const totalText = total === undefined ? '*' : String(total);
  if (pageTotal === 0 || total === 0) return `*/${totalText}`;
  return `${offset}-${offset + pageTotal - 1}/${totalText}`;
}

/** 200, 206 (partial) or 416 (offset past the end) once the total is known. */
export function rangeStatus(offset: number, pageTotal: number, total: number | undefined): number {
  if (total === undefined) return 200;
  if (offset > total) {
    throw pgrstError(
      'PGRST103',
      'Requested range not satisfiable',
      `An offset of ${offset} was requested, but there are only ${total} rows.`,
      null,
      [['Content-Range', `*/${total}`]],
    );
  }
  return pageTotal < total ? 206 : 200;
}
