// Request bodies (contract §6.3): JSON, CSV and form-encoded payloads as a list of objects.
import { header, type RequestContext } from './context.ts';
import { isRecord, pgrstError } from './errors.ts';

export type BodyRow = Record<string, unknown>;

export interface Payload {
  rows: BodyRow[];
  /** The payload keys, in order (from `columns=` when given). */
  keys: string[];
}

const invalidJson = () => pgrstError('PGRST102', 'Empty or invalid json');

/** The request's media type (Content-Type without parameters; JSON when absent). */
export function bodyMediaType(ctx: RequestContext): string {
  return (header(ctx, 'content-type') ?? 'application/json').split(';')[0]!.trim().toLowerCase();
}

/** Splits CSV text into records (RFC 4180 quoting). */
function csvRecords(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}

function fromCsv(text: string): unknown {
  const [head, ...lines] = csvRecords(text);
  if (!head) return [];
  return lines.map((values) =>
    Object.fromEntries(head.map((k, i) => [k, values[i] === 'NULL' ? null : (values[i] ?? null)])),
  );
}

/** The body as a JSON value, by Content-Type. */
export function parseBodyValue(ctx: RequestContext): unknown {
  const type = bodyMediaType(ctx);
  const text = ctx.body.toString('utf8');
  switch (type) {
    case 'application/json':
    case 'application/vnd.pgrst.object+json':
    case 'application/vnd.pgrst.object':
    case 'application/vnd.pgrst.array+json':
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw invalidJson();
      }
    case 'text/csv':
      return fromCsv(text);
    case 'application/x-www-form-urlencoded':
      return Object.fromEntries(new URLSearchParams(text));
    default:
      throw pgrstError('PGRST102', `Content-Type not acceptable: ${type}`);
  }
}

/** A table write's payload: objects whose keys match (unless `columns=` fixes the keys). */
export function parsePayload(ctx: RequestContext, columns: string[] | undefined): Payload {
  const value = parseBodyValue(ctx);
  const rows: unknown[] = Array.isArray(value) ? value : isRecord(value) ? [value] : [];
  if (!rows.every(isRecord)) throw invalidJson();
  const objects = rows as BodyRow[];
  if (columns !== undefined) return { rows: objects, keys: columns };
  const keys = Object.keys(objects[0] ?? {});
  const same = (o: BodyRow) => {
    const k = Object.keys(o);
    return k.length === keys.length && k.every((x) => keys.includes(x));
  };
  if (!objects.every(same)) throw pgrstError('PGRST102', 'All object keys must match');
  return { rows: objects, keys };
}
