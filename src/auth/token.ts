// Development tokens (`flows token`): HS256 JWTs signed with PGRST_JWT_SECRET, as PostgREST checks them.
import { SignJWT } from 'jose';

export interface TokenRequest {
  role: string;
  sub?: string;
  /** ESCO ids the token is scoped to (service keys); operators' ESCOs come from membership. */
  escos?: string[];
  /** Token id: service keys carry the id of their internal.api_keys row. */
  jti?: string;
  /** e.g. '12h', '30m', '7d' */
  ttl: string;
}

export async function mintToken(secret: string, request: TokenRequest): Promise<string> {
  const claims: Record<string, unknown> = { role: request.role };
  if (request.sub !== undefined) claims.sub = request.sub;
  if (request.escos !== undefined) claims.escos = request.escos;
  if (request.jti !== undefined) claims.jti = request.jti;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(request.ttl.replace(/\s+/g, ''))
    .sign(new TextEncoder().encode(secret));
}
