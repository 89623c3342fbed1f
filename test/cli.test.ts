import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { many, withClient } from '../src/db/client.ts';
import { useTestDatabase } from './support/database.ts';
import { runFlows } from './support/cli.ts';
import { testEnv } from './support/env.ts';

const secret = 'a-test-secret-that-is-long-enough-000';

describe('flows CLI', () => {
  const db = useTestDatabase();

  it('has --help for every command', async () => {
    for (const args of [
      ['--help'],
      ['db', '--help'],
      ['db', 'migrate', '--help'],
      ['token', '--help'],
      ['worker', '--help'],
    ]) {
      const result = await runFlows(args, testEnv());
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/Usage: flows/);
    }
  });

  it('says what is wrong in one clear line and exits non-zero', async () => {
    const unknown = await runFlows(['frobnicate'], testEnv());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);

    const badRole = await runFlows(['token', '--role', 'x; drop'], testEnv({ PGRST_JWT_SECRET: secret }));
    expect(badRole.code).toBe(1);
    expect(badRole.stderr.trim()).toBe("flows: --role: 'x; drop' is not a role name");
  });

  it('refuses to start the worker in production without its settings, listing every problem', async () => {
    const result = await runFlows(
      ['worker'],
      testEnv({ FLOWS_ENV: 'production', WORKER_CONCURRENCY: 'many', WORKER_DATABASE_URL: '' }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Invalid configuration:\n/);
    const problems = result.stderr.split('\n').filter((line) => line.startsWith('  - '));
    expect(problems.map((p) => p.slice(4).split(':')[0])).toEqual([
      'WORKER_CONCURRENCY',
      'SMTP_URL',
      'TWILIO_ACCOUNT_SID',
      'TWILIO_AUTH_TOKEN',
      'TWILIO_FROM',
      'WORKER_DATABASE_URL',
    ]);
  });

  it('mints a token that verifies with the JWT secret', async () => {
    const result = await runFlows(
      ['token', '--role', 'operator', '--sub', 'op-1', '--ttl', '5m'],
      testEnv({ PGRST_JWT_SECRET: secret }),
    );
    expect(result.code).toBe(0);
    const { payload } = await jwtVerify(result.stdout.trim(), new TextEncoder().encode(secret));
    expect(payload).toMatchObject({ role: 'operator', sub: 'op-1' });
    expect(payload.exp! - payload.iat!).toBe(300);
  });

  it('refuses to mint a service token, which only a registered key may be', async () => {
    const result = await runFlows(['token', '--role', 'service'], testEnv({ PGRST_JWT_SECRET: secret }));
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/service tokens must be registered keys; use `flows keys create/);
  });

  it('in development signs tokens with the secret it keeps in the data folder', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'flows-cli-'));
    const env = testEnv({ FLOWS_ENV: 'development', FLOWS_DATA_DIR: dataDir, PGRST_JWT_SECRET: '' });
    const first = await runFlows(['token', '--role', 'anon'], env);
    const second = await runFlows(['token', '--role', 'anon'], env);
    expect(first.code).toBe(0);
    expect(first.stdout.split('.')[2]).toBeDefined();
    const { readFileSync } = await import('node:fs');
    const kept = readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim();
    await jwtVerify(first.stdout.trim(), new TextEncoder().encode(kept));
    await jwtVerify(second.stdout.trim(), new TextEncoder().encode(kept));
  });

  it('migrates, sets up and runs psql against DATABASE_URL', async () => {
    const env = testEnv({ DATABASE_URL: db.url });
    const setup = await runFlows(['db', 'setup'], env);
    expect(setup.stderr).toBe('');
    expect(setup.stdout).toBe('roles are set up\n');
    const migrate = await runFlows(['db', 'migrate'], env);
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/^0 migration\(s\) applied; \d+ sql\/ file\(s\) applied\n$/);
    const psql = await runFlows(['db', 'psql', '-tAc', 'select current_database()'], env);
    expect(psql.code).toBe(0);
    expect(psql.stdout.trim()).toBe(db.name);
  });

  it('refuses to reset a database that is neither embedded nor *_dev / *_test', async () => {
    const result = await runFlows(['db', 'reset'], testEnv({ DATABASE_URL: db.url }));
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `flows: refusing to reset '${db.name}': only the embedded database or one named *_dev or *_test`,
    );
    const still = await withClient(db.url, (c) => many(c, 'select name from migrations.pgmigrations'));
    expect(still.length).toBeGreaterThan(0);
  });
});

describe('flows token --role', () => {
  const env = testEnv({ PGRST_JWT_SECRET: secret });

  it('names in --help the roles it mints', async () => {
    const help = await runFlows(['token', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      '--role <role> web role the token carries: anon, customer or operator',
    );
  });

  it('mints only those roles: a token for any other role is refused at every request', async () => {
    const superuser = await runFlows(['token', '--role', 'superuser'], env);
    expect(superuser.code).toBe(1);
    expect(superuser.stdout).toBe('');
    expect(superuser.stderr.trim()).toBe("flows: --role: 'superuser' is not a web role (anon, customer or operator)");
    for (const role of ['anon', 'customer', 'operator']) {
      const minted = await runFlows(['token', '--role', role], env);
      expect(minted.code, role).toBe(0);
    }
  });
});
