import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, isKnownVariable, loadConfig } from '../src/config.ts';

const tmpData = () => mkdtempSync(path.join(os.tmpdir(), 'flows-config-'));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('lists every problem at once', () => {
    const problems = problemsOf(() =>
      loadConfig(['worker', 'rest'], {
        WORKER_CONCURRENCY: 'lots',
        PGRST_DB_POOL: '-1',
        PGRST_OPENAPI_MODE: 'sometimes',
      }),
    );
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/WORKER_CONCURRENCY: expected a whole number \(got 'lots'\)/);
    expect(problems.join('\n')).toMatch(/PGRST_DB_POOL: expected a whole number of at least 1/);
    expect(problems.join('\n')).toMatch(/PGRST_OPENAPI_MODE/);
  });

  it('in production refuses to invent what it needs', () => {
    const problems = problemsOf(() =>
      loadConfig(['database', 'roles', 'worker', 'token'], { FLOWS_ENV: 'production' }),
    );
    const names = problems.map((p) => p.split(':')[0]);
    expect(names).toEqual([
      'DATABASE_URL',
      'FLOWS_AUTHENTICATOR_PASSWORD',
      'FLOWS_WORKER_PASSWORD',
      'FLOWS_REPORTING_PASSWORD',
      'WORKER_DATABASE_URL',
      'PGRST_JWT_SECRET',
    ]);
  });

  it('rejects an unknown FLOWS_ENV', () => {
    expect(problemsOf(() => loadConfig([], { FLOWS_ENV: 'staging' }))[0]).toMatch(/^FLOWS_ENV: .*'staging'/);
  });

  it('validates only the sections a command asks for', () => {
    const env = { FLOWS_ENV: 'production', PGRST_DB_URI: 'postgres://authenticator@db/flows', WORKER_CONCURRENCY: 'x' };
    const { rest } = loadConfig(['rest'], env);
    expect(rest.dbUri).toBe('postgres://authenticator@db/flows');
    expect(() => loadConfig(['worker'], env)).toThrow(ConfigError);
  });

  it('reads PGRST_* as PostgREST does: defaults, an empty extra search path, app settings', () => {
    const { rest } = loadConfig(['rest'], {});
    expect(rest).toMatchObject({
      dbUri: 'postgresql://',
      dbSchemas: ['public'],
      dbExtraSearchPath: ['public'],
      serverPort: 3000,
      dbPool: 10,
      dbTxEnd: 'commit',
      jwtRoleClaimKey: '.role',
    });
    const custom = loadConfig(['rest'], {
      PGRST_DB_EXTRA_SEARCH_PATH: '',
      PGRST_DB_SCHEMAS: 'public, flows',
      PGRST_APP_SETTINGS_JWT_EXP: '3600',
      PGRST_DB_CHANNEL_ENABLED: 'false',
    }).rest;
    expect(custom.dbExtraSearchPath).toEqual([]);
    expect(custom.dbSchemas).toEqual(['public', 'flows']);
    expect(custom.appSettings).toEqual({ jwt_exp: '3600' });
    expect(custom.dbChannelEnabled).toBe(false);
    expect(isKnownVariable('PGRST_APP_SETTINGS_ANYTHING')).toBe(true);
    expect(isKnownVariable('PGRST_DB_URL')).toBe(false);
  });

  it('refuses a JWT secret shorter than 32 characters', () => {
    expect(problemsOf(() => loadConfig(['rest'], { PGRST_JWT_SECRET: 'short' }))[0]).toMatch(/PGRST_JWT_SECRET/);
  });

  it('in development invents a JWT secret once and keeps it in the data folder', () => {
    const dir = tmpData();
    const first = loadConfig(['token'], { FLOWS_DATA_DIR: dir }).token.jwtSecret;
    const second = loadConfig(['token'], { FLOWS_DATA_DIR: dir }).token.jwtSecret;
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(second).toBe(first);
    expect(readFileSync(path.join(dir, 'jwt-secret'), 'utf8').trim()).toBe(first);
  });

  it('invents development passwords and parses statement timeouts', () => {
    const { roles } = loadConfig(['roles'], { FLOWS_STATEMENT_TIMEOUTS: 'customer=2s, reporting=5min' });
    expect(roles.passwords.authenticator).toBe('flows-dev-authenticator');
    expect(roles.statementTimeouts).toEqual({ customer: '2s', reporting: '5min' });
    expect(problemsOf(() => loadConfig(['roles'], { FLOWS_STATEMENT_TIMEOUTS: 'customer' }))[0]).toMatch(
      /FLOWS_STATEMENT_TIMEOUTS: 'customer' is not role=duration/,
    );
  });

  it('rejects a DATABASE_URL that is not a postgres URL', () => {
    expect(problemsOf(() => loadConfig(['database'], { DATABASE_URL: 'mysql://x' }))[0]).toMatch(/^DATABASE_URL/);
  });
});
