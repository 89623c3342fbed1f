// A RestConfig for a test gateway, parsed by loadConfig from PGRST_* variables as `flows rest` does.
import type { Env, RestConfig } from '../../../src/config.ts';
import { loadConfig } from '../../../src/config.ts';

export function restConfig(dbUri: string, variables: Env = {}): RestConfig {
  return loadConfig(['rest'], {
    FLOWS_ENV: 'test',
    PGRST_DB_URI: dbUri,
    PGRST_SERVER_HOST: '127.0.0.1',
    PGRST_SERVER_PORT: '0',
    PGRST_DB_EXTRA_SEARCH_PATH: '',
    ...variables,
  }).rest;
}
