// JWT (contract §3) with an HS256 secret: the role, the claims, and every rejection.
import { SignJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({ fixture: fixtureSql, variables: () => ({ PGRST_DB_SCHEMAS: 'test' }) });

const now = () => Math.floor(Date.now() / 1000);

/** Signs exactly `claims` (no exp added). */
function sign(claims: JWTPayload, alg = 'HS256', secret = gw.secret): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}

async function settingsAs(authorization: string | undefined): Promise<Response> {
  return gw.fetch('/rpc/settings', { headers: authorization === undefined ? {} : { Authorization: authorization } });
}

async function expectJwtError(authorization: string, code: string, message: string): Promise<void> {
  const res = await settingsAs(authorization);
  expect(res.status, message).toBe(401);
  expect(await res.json()).toEqual({ code, details: null, hint: null, message });
  expect(res.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", error_description="${message}"`);
  expect(res.headers.get('proxy-status')).toBe(`PostgREST; error=${code}`);
}

describe('roles from tokens', () => {
  it('runs anonymous requests as the anon role', async () => {
    const body = (await (await settingsAs(undefined)).json()) as { role: string; claims: unknown };
    expect(body.role).toBe(gw.db.roles.anon);
    expect(body.claims).toEqual({ role: gw.db.roles.anon });
  });

  it('switches to the role of the token and passes its claims with the role', async () => {
    const token = await sign({ role: gw.db.roles.user, sub: 'u1', exp: now() + 60 });
    const body = (await (await settingsAs(`Bearer ${token}`)).json()) as {
      role: string;
      claims: Record<string, unknown>;
    };
    expect(body.role).toBe(gw.db.roles.user);
    expect(body.claims).toEqual({ role: gw.db.roles.user, sub: 'u1', exp: expect.any(Number) });
  });

  it('accepts the scheme in any case and ignores other schemes', async () => {
    const token = await sign({ role: gw.db.roles.user });
    expect(((await (await settingsAs(`bEaReR ${token}`)).json()) as { role: string }).role).toBe(gw.db.roles.user);
    expect(((await (await settingsAs('Basic dXNlcjpwdw==')).json()) as { role: string }).role).toBe(gw.db.roles.anon);
  });

  it('falls back to anon when the token has no role, keeping the claims', async () => {
    const token = await sign({ sub: 'nobody' });
    const body = (await (await settingsAs(`Bearer ${token}`)).json()) as { role: string; claims: unknown };
    expect(body.role).toBe(gw.db.roles.anon);
    expect(body.claims).toEqual({ sub: 'nobody', role: gw.db.roles.anon });
  });

  it('tolerates 30 seconds of clock skew', async () => {
    const token = await sign({ role: gw.db.roles.user, exp: now() - 10, nbf: now() + 10, iat: now() + 10 });
    expect((await settingsAs(`Bearer ${token}`)).status).toBe(200);
  });

  it('answers an unknown role with 401 (22023)', async () => {
    const res = await settingsAs(`Bearer ${await sign({ role: 'no_such_role_xyz' })}`);
    expect(res.status).toBe(401);
    // PostgREST adds `WWW-Authenticate: Bearer` to every database error it answers with 401.
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.headers.get('proxy-status')).toBe('PostgREST; error=22023');
    expect(await res.json()).toEqual({
      code: '22023',
      details: null,
      hint: null,
      message: 'role "no_such_role_xyz" does not exist',
    });
  });
});

describe('rejected tokens', () => {
  it('rejects an empty bearer token', async () => {
    await expectJwtError('Bearer ', 'PGRST301', 'Empty JWT is sent in Authorization header');
  });

  it('rejects tokens without three parts', async () => {
    await expectJwtError('Bearer a.b', 'PGRST301', 'Expected 3 parts in JWT; got 2');
    await expectJwtError('Bearer a.b.c.d', 'PGRST301', 'Expected 3 parts in JWT; got 4');
  });

  it('rejects a bad signature and a foreign algorithm', async () => {
    const forged = await sign({ role: gw.db.roles.user }, 'HS256', 'x'.repeat(40));
    await expectJwtError(`Bearer ${forged}`, 'PGRST301', 'JWT cryptographic operation failed');
    const hs512 = await sign({ role: gw.db.roles.user }, 'HS512');
    await expectJwtError(`Bearer ${hs512}`, 'PGRST301', 'Wrong or unsupported encoding algorithm');
  });

  it('checks exp, nbf, iat in that order', async () => {
    await expectJwtError(`Bearer ${await sign({ exp: now() - 31 })}`, 'PGRST303', 'JWT expired');
    await expectJwtError(`Bearer ${await sign({ nbf: now() + 60 })}`, 'PGRST303', 'JWT not yet valid');
    await expectJwtError(`Bearer ${await sign({ iat: now() + 60 })}`, 'PGRST303', 'JWT issued at future');
    await expectJwtError(`Bearer ${await sign({ exp: now() - 60, nbf: now() + 60 })}`, 'PGRST303', 'JWT expired');
    await expectJwtError(
      `Bearer ${await sign({ exp: 'soon' as unknown as number })}`,
      'PGRST303',
      "The JWT 'exp' claim must be a number",
    );
  });

  it('rejects claims that are not an object and malformed aud', async () => {
    const header = Buffer.from('{"alg":"HS256"}').toString('base64url');
    const payload = Buffer.from('[1,2]').toString('base64url');
    const { createHmac } = await import('node:crypto');
    const signature = createHmac('sha256', gw.secret).update(`${header}.${payload}`).digest('base64url');
    await expectJwtError(`Bearer ${header}.${payload}.${signature}`, 'PGRST303', 'Parsing claims failed');
    await expectJwtError(
      `Bearer ${await sign({ aud: 5 as unknown as string })}`,
      'PGRST303',
      "The JWT 'aud' claim must be a string or an array of strings",
    );
  });

  it('never reaches the database with a bad token', async () => {
    const res = await gw.fetch('/nope', { headers: { Authorization: 'Bearer a.b' } });
    expect(res.status).toBe(401);
  });
});

describe('privileges', () => {
  it('answers 42501 with 401 + WWW-Authenticate for anon, 403 for a role', async () => {
    const anon = await gw.fetch('/secrets');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Bearer');
    expect(await anon.json()).toMatchObject({ code: '42501', message: 'permission denied for table secrets' });
    const user = await gw.fetch('/secrets', { headers: { Authorization: `Bearer ${await gw.token()}` } });
    expect(user.status).toBe(403);
    expect(user.headers.get('www-authenticate')).toBeNull();
  });
});
