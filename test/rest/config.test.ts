// Configuration that changes behaviour (contract §1, §3): JWKS keys, audience, a JSPath role
// claim, no anonymous role, max-rows, OpenAPI disabled.
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const rsa = await generateKeyPair('RS256');
const octSecret = 'k'.repeat(48);
const jwks = {
  keys: [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' },
    { kty: 'oct', kid: 'oct-1', k: Buffer.from(octSecret).toString('base64url') },
  ],
};

const gw = useGateway({
  fixture: fixtureSql,
  variables: () => ({
    PGRST_DB_SCHEMAS: 'test',
    PGRST_DB_ANON_ROLE: '',
    PGRST_JWT_SECRET: JSON.stringify(jwks),
    PGRST_JWT_AUD: 'flows',
    PGRST_JWT_ROLE_CLAIM_KEY: '.app."https://example.com/roles"[?(@ *== "_user")]',
    PGRST_DB_MAX_ROWS: '2',
    PGRST_OPENAPI_MODE: 'disabled',
    PGRST_DB_AGGREGATES_ENABLED: 'true',
    PGRST_SERVER_CORS_ALLOWED_ORIGINS: 'http://allowed.example',
    PGRST_SERVER_TRACE_HEADER: 'X-Request-Id',
  }),
});

const roleClaims = (): JWTPayload => ({ app: { 'https://example.com/roles': ['admin', gw.db.roles.user] } });

function rsaToken(claims: JWTPayload, kid = 'rsa-1'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(rsa.privateKey);
}

async function currentRole(token: string): Promise<Response> {
  return gw.fetch('/rpc/settings', { headers: { Authorization: `Bearer ${token}` } });
}

describe('JWKS, audience and role claim key', () => {
  it('verifies RS256 by kid and HS256 with an oct key, taking the role by JSPath', async () => {
    const rs = await currentRole(await rsaToken(roleClaims()));
    expect(rs.status).toBe(200);
    expect(((await rs.json()) as { role: string }).role).toBe(gw.db.roles.user);
    const hs = await new SignJWT(roleClaims())
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(octSecret));
    expect((await currentRole(hs)).status).toBe(200);
  });

  it('rejects unknown keys and foreign audiences', async () => {
    const unknown = await currentRole(await rsaToken(roleClaims(), 'nope'));
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { message: string }).message).toBe('No suitable key or wrong key type');
    const foreign = await currentRole(await rsaToken({ ...roleClaims(), aud: 'other' }));
    expect(((await foreign.json()) as { message: string }).message).toBe('JWT not in audience');
    expect((await currentRole(await rsaToken({ ...roleClaims(), aud: ['x', 'flows'] }))).status).toBe(200);
    expect((await currentRole(await rsaToken({ ...roleClaims(), aud: [] }))).status).toBe(200);
  });

  it('answers requests without a token with 401 PGRST302 when there is no anon role', async () => {
    const res = await gw.fetch('/clients');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toEqual({
      code: 'PGRST302',
      details: null,
      hint: null,
      message: 'Anonymous access is disabled',
    });
    const noRole = await currentRole(await rsaToken({ sub: 'x' }));
    expect(noRole.status).toBe(401);
  });
});

describe('CORS origins and trace header', () => {
  it('answers only the configured origins and echoes the trace header', async () => {
    const auth = `Bearer ${await rsaToken(roleClaims())}`;
    const allowed = await gw.fetch('/clients?id=eq.1', {
      headers: { Authorization: auth, Origin: 'http://allowed.example', 'X-Request-Id': 'abc-123' },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://allowed.example');
    expect(allowed.headers.get('x-request-id')).toBe('abc-123');
    const other = await gw.fetch('/clients?id=eq.1', {
      headers: { Authorization: auth, Origin: 'http://other.example' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('aggregates', () => {
  it('aggregates with grouping by the other selected columns', async () => {
    const auth = { Authorization: `Bearer ${await rsaToken(roleClaims())}` };
    const grouped = await gw.fetch(
      '/projects?select=client_id,count(),max_id:id.max(),id.sum()::text&client_id=not.is.null&order=client_id',
      {
        headers: auth,
      },
    );
    expect(await grouped.json()).toEqual([
      { client_id: 1, count: 2, max_id: 2, sum: '3' },
      { client_id: 2, count: 2, max_id: 4, sum: '7' },
    ]);
    const total = await gw.fetch('/items?select=price.sum(),data->>color.max()', { headers: auth });
    expect(await total.json()).toEqual([{ sum: 4.75, max: 'yellow' }]);
    const embedded = await gw.fetch('/clients?select=name,projects(count())&id=eq.1', { headers: auth });
    expect(await embedded.json()).toEqual([{ name: 'Microsoft', projects: [{ count: 2 }] }]);
  });
});

describe('max-rows and OpenAPI mode', () => {
  it('caps reads and embeds, not mutation output', async () => {
    const auth = { Authorization: `Bearer ${await rsaToken(roleClaims())}` };
    const res = await gw.fetch('/projects?order=id', { headers: { ...auth, Prefer: 'count=exact' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('0-1/5');
    const embedded = (await (await gw.fetch('/clients?select=id,projects(id)&id=eq.1', { headers: auth })).json()) as {
      projects: unknown[];
    }[];
    expect(embedded[0]!.projects).toHaveLength(2);
    const inserted = await gw.fetch('/users', {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', Prefer: 'return=representation' },
      body: JSON.stringify([
        { id: 50, name: 'a' },
        { id: 51, name: 'b' },
        { id: 52, name: 'c' },
      ]),
    });
    expect(await inserted.json()).toHaveLength(3);
  });

  it('answers / with 404 PGRST126 when OpenAPI is disabled', async () => {
    const res = await gw.fetch('/', { headers: { Authorization: `Bearer ${await rsaToken(roleClaims())}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST126');
  });
});
