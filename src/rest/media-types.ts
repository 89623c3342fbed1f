// Content negotiation (contract §6.1): the Accept header with q-values against the media types an
// action can produce.
import { pgrstError } from './errors.ts';

export type MediaKind = 'json' | 'object' | 'array' | 'csv' | 'openapi' | 'custom';

export interface MediaType {
  kind: MediaKind;
  /** `nulls=stripped`: keys with null values are removed. */
  stripNulls: boolean;
  /** The type of a media-type handler (kind 'custom'), e.g. `application/pdf`. */
  custom?: string;
}

interface Accepted {
  type: string;
  params: Map<string, string>;
  q: number;
  raw: string;
}

function parseAccept(header: string): Accepted[] {
  const items: Accepted[] = [];
  for (const part of header.split(',')) {
    const raw = part.trim();
    if (raw === '') continue;
    const [type = '', ...paramTexts] = raw.split(';').map((s) => s.trim());
    const params = new Map<string, string>();
    for (const p of paramTexts) {
      const eq = p.indexOf('=');
      if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
    }
    const q = params.has('q') ? Number(params.get('q')) : 1;
    params.delete('q');
    items.push({ type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, raw: type });
  }
  // Stable sort by q, highest first.
  return items
    .map((a, i) => ({ a, i }))
    .sort((x, y) => y.a.q - x.a.q || x.i - y.i)
    .map((x) => x.a)
    .filter((a) => a.q > 0);
}

function kindOf(type: string): MediaKind | undefined {
  switch (type) {
    case 'application/json':
      return 'json';
    case 'application/vnd.pgrst.object+json':
    case 'application/vnd.pgrst.object':
      return 'object';
    case 'application/vnd.pgrst.array+json':
      return 'array';
    case 'text/csv':
      return 'csv';
    case 'application/openapi+json':
      return 'openapi';
    default:
      return undefined;
  }
}

/**
 * The first acceptable media type among `producible` (the first of which answers `*\/*`);
 * 406 PGRST107 when there is none.
 */
export function negotiate(
  accept: string | undefined,
  producible: readonly [MediaKind, ...MediaKind[]],
  custom?: string,
): MediaType {
  const handler: MediaType | undefined =
    custom === undefined ? undefined : { kind: 'custom', stripNulls: false, custom };
  const preferred: MediaType = handler ?? { kind: producible[0], stripNulls: false };
  if (accept === undefined || accept.trim() === '') return preferred;
  const accepted = parseAccept(accept);
  for (const a of accepted) {
    if (handler && (a.type === custom || a.type === `${custom!.split('/')[0]}/*`)) return handler;
    if (a.type === '*/*' || a.type === 'application/*') return preferred;
    const kind = kindOf(a.type);
    const stripNulls = a.params.get('nulls') === 'stripped';
    if (kind === 'array' && producible.includes('json')) return { kind, stripNulls };
    if (kind !== undefined && producible.includes(kind)) return { kind, stripNulls };
  }
  throw pgrstError('PGRST107', `None of these media types are available: ${accepted.map((a) => a.raw).join(', ')}`);
}

/** The Content-Type header of a response in `media`. */
export function contentType(media: MediaType): string {
  const nulls = media.stripNulls ? '; nulls=stripped' : '';
  switch (media.kind) {
    case 'json':
      return 'application/json; charset=utf-8';
    case 'array':
      return `application/vnd.pgrst.array+json${nulls}; charset=utf-8`;
    case 'object':
      return `application/vnd.pgrst.object+json${nulls}; charset=utf-8`;
    case 'csv':
      return 'text/csv; charset=utf-8';
    case 'openapi':
      return 'application/openapi+json; charset=utf-8';
    case 'custom':
      return media.custom ?? 'application/octet-stream';
  }
}
