// The PGRST_* settings of the Flows API. `flows dev` and docker-compose.yml use the same ones
// (a test compares them), so the built-in gateway and the real PostgREST serve the same API.
import type { Env } from '../config.ts';

export const flowsRestSettings = {
  PGRST_DB_SCHEMAS: 'public,flows',
  PGRST_DB_ANON_ROLE: 'anon',
  PGRST_DB_PRE_REQUEST: 'internal.pre_request',
  PGRST_DB_CHANNEL_ENABLED: 'true',
  PGRST_OPENAPI_MODE: 'follow-privileges',
} as const;

/** The environment `flows rest` (or `postgrest`) gets under `flows dev`. */
export function devRestEnv(base: Env, authenticatorUrl: string, jwtSecret: string): Env {
  return {
    ...base,
    ...flowsRestSettings,
    PGRST_DB_URI: authenticatorUrl,
    PGRST_JWT_SECRET: jwtSecret,
    PGRST_SERVER_HOST: base.PGRST_SERVER_HOST || '127.0.0.1',
  };
}
