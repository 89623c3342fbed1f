// Service keys (docs/operations.md, "Service keys"): a service JWT whose jti is a row of internal.api_keys.
// Creating one mints the token with the REST layer's secret and registers it; the token is shown once and
// never stored. Runs as the administrator (the `flows keys` commands, tests).
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { mintToken } from '../auth/token.ts';
import { many, maybeOne, one, type Queryable } from '../db/client.ts';

/** read (GET/HEAD of tables and views), write (other methods on tables), rpc:<function> or rpc:* (calls). */
const scopePattern = /^(read|write|rpc:(\*|[a-z_][a-z0-9_]*))$/;
/** The longest a key may live: expiry is the backstop for a key nobody revokes. */
const maxKeyLifetimeDays = 1826;
const maxKeyLifetimeMs = maxKeyLifetimeDays * 86_400_000;
const namePattern = /^[a-z0-9][a-z0-9_.-]{1,62}$/;
/** A key id (the token's jti), as PostgreSQL prints a uuid. */
export const keyIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

export interface KeyRequest {
  name: string;
  /** ESCO code, e.g. WLCE. */
  esco: string;
  scopes: string[];
  /** Lifetime, e.g. 365d, 90d, 12h. */
  ttl: string;
  createdBy: string;
}

export interface CreatedKey {
  id: string;
  name: string;
  esco: string;
  scopes: string[];
  expiresAt: Date;
  /** The JWT: shown once, not stored. */
  token: string;
}

export async function createKey(db: Queryable, secret: string, request: KeyRequest): Promise<CreatedKey> {
  if (!namePattern.test(request.name)) {
    throw new KeyError(`--name: '${request.name}' must be 2–63 lower-case letters, digits, '.', '_' or '-'`);
  }
  const badScopes = request.scopes.filter((s) => !scopePattern.test(s));
  if (request.scopes.length === 0 || badScopes.length > 0) {
    throw new KeyError(`--scopes: '${badScopes.join(',')}' is not read, write, rpc:<function> or rpc:*`);
  }
  const scopes = [...new Set(request.scopes)];
  const esco = await maybeOne<{ id: string }>(db, `select id from flows.escos where code = $1`, [request.esco]);
  if (esco === undefined) throw new KeyError(`--esco: no ESCO with code '${request.esco}'`);
  // rpc:<function> names a function of the API (public or flows), or the key could never call what it was made for
  const functions = scopes.filter((s) => s.startsWith('rpc:') && s !== 'rpc:*').map((s) => s.slice(4));
  const missing = await many<{ name: string }>(
    db,
    `select f.name from unnest($1::text[]) f(name)
      where not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                         where n.nspname in ('public', 'flows') and p.proname = f.name)`,
    [functions],
  );
  if (missing.length > 0) {
    throw new KeyError(`--scopes: no API function named ${missing.map((m) => `'${m.name}'`).join(', ')}`);
  }
  const id = randomUUID();
  let token: string;
  try {
    token = await mintToken(secret, {
      role: 'service',
      sub: `key:${request.name}`,
      escos: [esco.id],
      jti: id,
      ttl: request.ttl,
    });
  } catch {
    throw new KeyError(`--ttl: '${request.ttl}' is not a duration such as 365d, 90d or 12h`);
  }
  const expiresAt = new Date(decodeJwt(token).exp! * 1000);
  const lifetimeMs = expiresAt.getTime() - Date.now();
  if (lifetimeMs <= 0 || lifetimeMs > maxKeyLifetimeMs) {
    throw new KeyError(`--ttl: '${request.ttl}' must be more than nothing and at most ${maxKeyLifetimeDays}d`);
  }
  try {
    await db.query(
      `insert into internal.api_keys (id, name, esco, scopes, created_by, expires_at) values ($1, $2, $3, $4, $5, $6)`,
      [id, request.name, esco.id, scopes, request.createdBy, expiresAt],
    );
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw new KeyError(`a live key named '${request.name}' exists: revoke it first or choose another name`);
    }
    throw error;
  }
  return { id, name: request.name, esco: request.esco, scopes, expiresAt, token };
}

export interface KeyRow {
  id: string;
  name: string;
  esco: string;
  scopes: string[];
  status: 'live' | 'revoked' | 'expired';
  created_at: Date;
  created_by: string;
  expires_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  revoked_reason: string | null;
}

/** Every key, newest first (no secrets: the tokens are not stored). */
export function listKeys(db: Queryable): Promise<KeyRow[]> {
  return many<KeyRow>(
    db,
    `select k.id, k.name, e.code as esco, k.scopes,
            case when k.revoked_at is not null then 'revoked' when k.expires_at <= now() then 'expired' else 'live' end
              as status,
            k.created_at, k.created_by, k.expires_at, k.last_used_at, k.revoked_at, k.revoked_by, k.revoked_reason
       from internal.api_keys k join flows.escos e on e.id = k.esco
      order by k.created_at desc, k.name`,
  );
}

/**
 * Revokes the key with that id, or the live key with that name; its token is refused from the next request
 * on. Revoking a revoked key changes nothing and returns it.
 */
export async function revokeKey(
  db: Queryable,
  idOrName: string,
  revokedBy: string,
  reason?: string,
): Promise<{ id: string; name: string; revokedAt: Date; already: boolean }> {
  const byId = keyIdPattern.test(idOrName.toLowerCase());
  const key = await maybeOne<{ id: string; name: string; revoked_at: Date | null }>(
    db,
    byId
      ? `select id, name, revoked_at from internal.api_keys where id = $1 for update`
      : `select id, name, revoked_at from internal.api_keys where name = $1 and revoked_at is null for update`,
    [idOrName],
  );
  if (key === undefined) throw new KeyError(`no ${byId ? '' : 'live '}key '${idOrName}'`);
  if (key.revoked_at !== null) return { id: key.id, name: key.name, revokedAt: key.revoked_at, already: true };
  const { revoked_at } = await one<{ revoked_at: Date }>(
    db,
    `update internal.api_keys set revoked_at = now(), revoked_by = $2, revoked_reason = $3 where id = $1
     returning revoked_at`,
    [key.id, revokedBy, reason ?? null],
  );
  return { id: key.id, name: key.name, revokedAt: revoked_at, already: false };
}
