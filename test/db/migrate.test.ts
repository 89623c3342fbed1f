import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { many, one, quoteIdent, withClient, withDatabase } from '../../src/db/client.ts';
import { migrate } from '../../src/db/migrate.ts';
import { grantDatabase } from '../../src/db/roles.ts';
import { createLogger } from '../../src/log.ts';
import { useTestDatabase } from '../support/database.ts';

const run = promisify(execFile);
const log = createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 });

/** The schema as pg_dump sees it: everything but data (less the random \restrict key of each dump). */
async function schemaDump(url: string): Promise<string> {
  const { stdout } = await run('pg_dump', ['--schema-only', url], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

describe('flows db migrate', () => {
  const db = useTestDatabase();

  it('changes nothing when run again', async () => {
    const before = await schemaDump(db.url);
    const result = await migrate(db.url, { log });
    expect(result.migrations).toEqual([]);
    expect(await schemaDump(db.url)).toBe(before);
  });

  it("keeps node-pg-migrate's state in its own unexposed schema", async () => {
    await withClient(db.url, async (client) => {
      const tables = await many<{ schema: string }>(
        client,
        `select table_schema as schema from information_schema.tables where table_name = 'pgmigrations'`,
      );
      expect(tables).toEqual([{ schema: 'migrations' }]);
      const owner = await one<{ owner: string }>(
        client,
        `select pg_get_userbyid(relowner) as owner from pg_class where oid = 'migrations.pgmigrations'::regclass`,
      );
      expect(owner.owner).toBe('flows_owner');
    });
  });

  it('lets a migration change a column that a sql/ view uses, in one transaction', async () => {
    const { serverUrl, runId } = inject('flowsTest');
    const name = `${runId}_views`;
    const url = withDatabase(serverUrl, name);
    await withClient(serverUrl, (c) => c.query(`create database ${quoteIdent(name)}`));
    await withClient(url, (c) => grantDatabase(c));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flows-migrate-'));
    const migrationsDir = path.join(dir, 'migrations');
    const sqlDir = path.join(dir, 'sql');
    mkdirSync(migrationsDir);
    mkdirSync(sqlDir);
    writeFileSync(path.join(migrationsDir, '0001_t.sql'), '-- Up Migration\ncreate table public.t (a int);\n');
    writeFileSync(path.join(sqlDir, '010_v.sql'), 'create view public.v as select a from public.t;\n');
    await migrate(url, { log, migrationsDir, sqlDir });

    writeFileSync(
      path.join(migrationsDir, '0002_widen.sql'),
      '-- Up Migration\nalter table public.t alter column a type bigint;\n',
    );
    const second = await migrate(url, { log, migrationsDir, sqlDir });
    expect(second.migrations).toEqual(['0002_widen']);
    await withClient(url, async (c) => {
      const type = await one<{ t: string }>(
        c,
        `select format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'public.v'::regclass and attname = 'a'`,
      );
      expect(type.t).toBe('bigint');
    });

    // A failing sql/ file rolls back the migration that ran before it.
    writeFileSync(
      path.join(migrationsDir, '0003_more.sql'),
      '-- Up Migration\nalter table public.t add column b int;\n',
    );
    writeFileSync(path.join(sqlDir, '020_broken.sql'), 'create view public.w as select nope from public.t;\n');
    await expect(migrate(url, { log, migrationsDir, sqlDir })).rejects.toThrow(
      /sql\/020_broken.sql: column "nope" does not exist/,
    );
    await withClient(url, async (c) => {
      const applied = await many<{ name: string }>(c, 'select name from migrations.pgmigrations order by id');
      expect(applied.map((r) => r.name)).toEqual(['0001_t', '0002_widen']);
      const columns = await many(
        c,
        `select 1 from pg_attribute where attrelid = 'public.t'::regclass and attname = 'b'`,
      );
      expect(columns).toEqual([]);
      // the views dropped at the start of the failed run are back too
      expect(await many(c, `select 1 from pg_views where viewname = 'v'`)).toHaveLength(1);
    });
    await withClient(serverUrl, (c) => c.query(`drop database ${quoteIdent(name)} with (force)`));
  });

  it('revokes a grant that sql/ no longer makes', async () => {
    await withClient(db.url, async (c) => {
      await c.query('grant select on internal.worker_heartbeats to anon');
      await migrate(db.url, { log });
      const { rows } = await c.query(`select has_table_privilege('anon', 'internal.worker_heartbeats', 'select') as p`);
      expect(rows[0].p).toBe(false);
    });
  });
});
