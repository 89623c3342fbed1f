// JWT authentication (contract §3): token from `Authorization: Bearer`, signature checked with an
// HS256 secret or JWK/JWKS keys (jose), claims exp/nbf/iat/aud with 30 s skew, role by JSPath.
import { readFileSync } from 'node:fs';
import { compactVerify, errors as joseErrors, importJWK, type JWK } from 'jose';
import type { RestConfig } from '../config.ts';
import { isRecord, jwtError, pgrstError } from './errors.ts';
import { parseJsPath, walkJsPath, type JsPath } from './jspath.ts';

const skewSeconds = 30;

export interface AuthResult {
  /** The claims with `role` set to the resolved role. */
  claims: Record<string, unknown>;
  role: string;
  /** True when the role is not the anonymous role. */
  authenticated: boolean;
}

type Keys = { kind: 'secret'; key: Uint8Array } | { kind: 'jwks'; keys: JWK[] };

export interface Authenticator {
  authenticate(authorization: string | undefined, now?: Date): Promise<AuthResult>;
}

/** The key material of `jwt-secret`: a plain secret, a JWK, or a JWKS; `@path` reads a file. */
function loadKeys(config: RestConfig): Keys | undefined {
  if (config.jwtSecret === undefined) return undefined;
  const raw = config.jwtSecret.startsWith('@')
    ? readFileSync(config.jwtSecret.slice(1), 'utf8').trim()
    : config.jwtSecret;
  if (raw.trimStart().startsWith('{')) {
    const parsed: unknown = JSON.parse(raw);
    if (isRecord(parsed) && Array.isArray(parsed.keys)) return { kind: 'jwks', keys: parsed.keys as JWK[] };
    return { kind: 'jwks', keys: [parsed as JWK] };
  }
  const key = config.jwtSecretIsBase64 ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  return { kind: 'secret', key };
}

const ktyOfAlg = (alg: string): string | undefined =>
  alg.startsWith('HS')
    ? 'oct'
    : /^(RS|PS)/.test(alg)
      ? 'RSA'
      : alg.startsWith('ES')
        ? 'EC'
        : alg === 'EdDSA' || alg === 'Ed25519'
          ? 'OKP'
          : undefined;

function decodeHeader(token: string): Record<string, unknown> {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'));
    if (isRecord(header)) return header;
  } catch {
    // reported below
  }
  throw jwtError('PGRST301', 'JWT cryptographic operation failed');
}

async function verify(token: string, keys: Keys): Promise<Uint8Array> {
  const header = decodeHeader(token);
  const alg = typeof header.alg === 'string' ? header.alg : '';
  if ('enc' in header) throw jwtError('PGRST301', 'Unsupported token type');
  const cryptoFailed = () => jwtError('PGRST301', 'JWT cryptographic operation failed');
  const badAlg = () => jwtError('PGRST301', 'Wrong or unsupported encoding algorithm');
  if (keys.kind === 'secret') {
    if (alg !== 'HS256') throw badAlg();
    try {
      return (await compactVerify(token, keys.key, { algorithms: ['HS256'] })).payload;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) throw cryptoFailed();
      throw error;
    }
  }
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const candidates = keys.keys.filter(
    (k) => (kid === undefined || k.kid === undefined || k.kid === kid) && k.kty === ktyOfAlg(alg),
  );
  if (candidates.length === 0) throw jwtError('PGRST301', 'No suitable key or wrong key type');
  const usable = candidates.filter((k) => k.alg === undefined || k.alg === alg);
  if (usable.length === 0) throw badAlg();
  for (const jwk of usable) {
    try {
      const key = await importJWK(jwk, alg);
      return (await compactVerify(token, key, { algorithms: [alg] })).payload;
    } catch (error) {
      if (!(error instanceof joseErrors.JOSEError) && !(error instanceof TypeError)) throw error;
    }
  }
  throw cryptoFailed();
}

function checkClaims(claims: Record<string, unknown>, aud: string | undefined, now: number): void {
  const timeClaim = (name: 'exp' | 'nbf' | 'iat', invalid: (t: number) => boolean, message: string) => {
    const value = claims[name];
    if (value === undefined || value === null) return;
    if (typeof value !== 'number') throw jwtError('PGRST303', `The JWT '${name}' claim must be a number`);
    if (invalid(Math.trunc(value))) throw jwtError('PGRST303', message);
  };
  timeClaim('exp', (t) => now - skewSeconds > t, 'JWT expired');
  timeClaim('nbf', (t) => now + skewSeconds < t, 'JWT not yet valid');
  timeClaim('iat', (t) => now + skewSeconds < t, 'JWT issued at future');
  const value = claims.aud;
  if (value === undefined || value === null) return;
  const matches = (a: string) => aud === undefined || a === aud;
  if (typeof value === 'string') {
    if (!matches(value)) throw jwtError('PGRST303', 'JWT not in audience');
  } else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    if (value.length > 0 && !value.some(matches)) throw jwtError('PGRST303', 'JWT not in audience');
  } else {
    throw jwtError('PGRST303', "The JWT 'aud' claim must be a string or an array of strings");
  }
}

export function createAuthenticator(config: RestConfig): Authenticator {
  const keys = loadKeys(config);
  const rolePath: JsPath = parseJsPath(config.jwtRoleClaimKey);
  const anonRole = config.dbAnonRole;
  const anonymous = (): AuthResult => {
    if (anonRole === undefined) {
      throw pgrstError('PGRST302', 'Anonymous access is disabled', null, null, [['WWW-Authenticate', 'Bearer']]);
    }
    return { claims: { role: anonRole }, role: anonRole, authenticated: false };
  };
  return {
    async authenticate(authorization, now = new Date()) {
      const m = authorization === undefined ? null : /^bearer(?:\s+(.*))?$/i.exec(authorization.trim());
      if (!m) return anonymous();
      const token = (m[1] ?? '').trim();
      if (token === '') throw jwtError('PGRST301', 'Empty JWT is sent in Authorization header');
      if (keys === undefined) throw pgrstError('PGRST300', 'Server lacks JWT secret');
      const parts = token.split('.').length;
      if (parts !== 3) throw jwtError('PGRST301', `Expected 3 parts in JWT; got ${parts}`);
      const payload = await verify(token, keys);
      let claims: unknown;
      try {
        claims = JSON.parse(Buffer.from(payload).toString('utf8'));
      } catch {
        throw jwtError('PGRST303', 'Parsing claims failed');
      }
      if (!isRecord(claims)) throw jwtError('PGRST303', 'Parsing claims failed');
      checkClaims(claims, config.jwtAud, Math.floor(now.getTime() / 1000));
      const found = walkJsPath(rolePath, claims);
      if (found === undefined) {
        const anon = anonymous();
        return { ...anon, claims: { ...claims, role: anon.role } };
      }
      const role = typeof found === 'string' ? found : JSON.stringify(found);
      return { claims: { ...claims, role }, role, authenticated: role !== anonRole };
    },
  };
}
