// What a handler knows about a request once routing, JWT, profile and Prefer are settled, and
// the settings statement derived from it (contract §2.3).
import type pg from 'pg';
import type { RestConfig } from '../config.ts';
import { quoteIdent } from '../db/client.ts';
import type { AuthResult } from './jwt.ts';
import type { Preferences } from './preferences.ts';
import type { SchemaCache } from './schema-types.ts';
import { isolationLevels, type IsolationLevel } from './transaction.ts';

export interface Deps {
  config: RestConfig;
  pool: pg.Pool;
  cache: () => SchemaCache;
  /** Resolves when no schema cache reload is in progress. */
  cacheSettled: () => Promise<void>;
}

export interface RequestContext {
  method: string;
  /** Raw path, without the query string. */
  path: string;
  query: [string, string][];
  /** Header pairs with lower-cased names, in arrival order. */
  headers: [string, string][];
  body: Buffer;
  auth: AuthResult;
  schema: string;
  /** True when Accept-Profile / Content-Profile named the schema. */
  profileUsed: boolean;
  preferences: Preferences;
}

export function header(ctx: Pick<RequestContext, 'headers'>, name: string): string | undefined {
  let value: string | undefined;
  for (const [k, v] of ctx.headers) if (k === name) value = v;
  return value;
}

// Objects built with fromEntries, so that names such as `__proto__` stay plain keys.
function parseCookies(cookie: string | undefined): Record<string, string> {
  const pairs: [string, string][] = [];
  for (const part of (cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) pairs.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
  }
  return Object.fromEntries(pairs);
}

/** The `set_config` pairs of the settings statement, in PostgREST's order. */
export function requestSettings(deps: Deps, ctx: RequestContext, hoisted: [string, string][]): [string, string][] {
  const { config } = deps;
  const headers = Object.fromEntries(ctx.headers.filter(([k]) => k !== 'cookie'));
  const settings: [string, string][] = [
    ['search_path', [ctx.schema, ...config.dbExtraSearchPath].map(quoteIdent).join(', ')],
    ...(deps.cache().roleSettings.get(ctx.auth.role) ?? []),
    ['role', ctx.auth.role],
    ['request.jwt.claims', JSON.stringify(ctx.auth.claims)],
    ['request.method', ctx.method],
    ['request.path', ctx.path],
    ['request.headers', JSON.stringify(headers)],
    ['request.cookies', JSON.stringify(parseCookies(header(ctx, 'cookie')))],
  ];
  if (ctx.preferences.timezone !== undefined) settings.push(['timezone', ctx.preferences.timezone]);
  settings.push(...hoisted);
  for (const [name, value] of Object.entries(config.appSettings)) settings.push([`app.settings.${name}`, value]);
  return settings;
}

/** Isolation level: a hoisted function setting, else the role's setting, else read committed. */
export function isolationFor(deps: Deps, ctx: RequestContext, hoisted: [string, string][]): IsolationLevel {
  const fromRole = deps.cache().roleSettings.get(ctx.auth.role) ?? [];
  const setting = [...hoisted, ...fromRole].find(([name]) => name === 'default_transaction_isolation')?.[1];
  const level = setting?.toLowerCase().trim() as IsolationLevel | undefined;
  return level !== undefined && isolationLevels.includes(level) ? level : 'read committed';
}

/** COMMIT or ROLLBACK, from db-tx-end and (when allowed) `Prefer: tx=`. */
export function transactionEnd(config: RestConfig, preferences: Preferences): 'commit' | 'rollback' {
  const base = config.dbTxEnd.startsWith('rollback') ? 'rollback' : 'commit';
  return config.dbTxEnd.endsWith('allow-override') && preferences.tx !== undefined ? preferences.tx : base;
}

/** Whether `Prefer: tx=` is honoured (and so echoed). */
export const txOverridable = (config: RestConfig): boolean => config.dbTxEnd.endsWith('allow-override');
