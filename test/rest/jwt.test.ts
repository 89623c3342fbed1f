// The authenticator and JSPath on their own (no database): what needs a configuration the
// HTTP tests do not use.
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/rest/errors.ts';
import { parseJsPath, walkJsPath } from '../../src/rest/jspath.ts';
import { createAuthenticator } from '../../src/rest/jwt.ts';
import { restConfig } from './support/config.ts';

describe('JSPath', () => {
  const claims = { role: 'r', a: { b: ['x', 'pre_mid_post'] }, 'https://x/role': 'q', n: 5 };
  it.each([
    ['.role', 'r'],
    ['.a.b[0]', 'x'],
    ['."https://x/role"', 'q'],
    ['.a.b[?(@ == "x")]', 'x'],
    ['.a.b[?(@ != "x")]', 'pre_mid_post'],
    ['.a.b[?(@ ^== "pre")]', 'pre_mid_post'],
    ['.a.b[?(@ ==^ "post")]', 'pre_mid_post'],
    ['.a.b[?(@ *== "mid")]', 'pre_mid_post'],
    ['.a.c', undefined],
    ['.n', 5],
  ])('%s', (path, expected) => {
    expect(walkJsPath(parseJsPath(path), claims)).toEqual(expected);
  });

  it('rejects malformed paths', () => {
    expect(() => parseJsPath('role')).toThrow('invalid JSPath');
    expect(() => parseJsPath('.a[?(@ ~ "x")]')).toThrow('invalid JSPath');
  });
});

describe('authenticator', () => {
  const base = 'postgresql://nobody@127.0.0.1:1/none';

  it('answers a token with 500 PGRST300 when no secret is configured', async () => {
    const auth = createAuthenticator(restConfig(base, { PGRST_DB_ANON_ROLE: 'anon' }));
    const error = await auth.authenticate('Bearer a.b.c').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(500);
    expect((error as ApiError).body()).toEqual({
      code: 'PGRST300',
      details: null,
      hint: null,
      message: 'Server lacks JWT secret',
    });
  });

  it('uses a non-string role claim as its JSON text and decodes base64 secrets', async () => {
    const secret = Buffer.alloc(32, 7);
    const auth = createAuthenticator(
      restConfig(base, { PGRST_JWT_SECRET: secret.toString('base64'), PGRST_JWT_SECRET_IS_BASE64: 'true' }),
    );
    const token = await new SignJWT({ role: 42 }).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    expect((await auth.authenticate(`Bearer ${token}`)).role).toBe('42');
  });

  it('rejects JWE tokens', async () => {
    const auth = createAuthenticator(restConfig(base, { PGRST_JWT_SECRET: 's'.repeat(32) }));
    const header = Buffer.from('{"alg":"dir","enc":"A256GCM"}').toString('base64url');
    const error = (await auth.authenticate(`Bearer ${header}.a.b`).catch((e: unknown) => e)) as ApiError;
    expect(error.message).toBe('Unsupported token type');
  });
});
