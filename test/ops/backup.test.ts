// Backup and restore (docs/operations.md): a seeded Flows database is dumped, restored into a fresh
// database, and every table's row count compared; a restore that lost rows is caught.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseOf, one, withClient, withDatabase } from '../../src/db/client.ts';
import { backupDatabase, backupRestoreCheck, compareCounts, restoreDatabase, rowCounts } from '../../src/db/backup.ts';
import { seedDemo } from '../../src/seed/demo.ts';
import { runFlows } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { testEnv } from '../support/env.ts';

describe('backup and restore', () => {
  const db = useTestDatabase();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flows-backup-test-'));
    await withClient(db.url, (c) => seedDemo(c, { days: 1, seed: 3 }));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restores a seeded database with the same row count in every table', async () => {
    const file = path.join(dir, 'check.dump');
    const result = await backupRestoreCheck(db.url, { keepFile: file });
    expect(result.differences).toEqual([]);
    expect((await stat(file)).size).toBeGreaterThan(0);
    // The counts cover the data, the job queue's tables and the interval partitions one by one.
    const counts = await withClient(db.url, (c) => rowCounts(c));
    expect(counts.get('flows.meter_registry')).toBe(60);
    expect([...counts.keys()].some((t) => t.startsWith('graphile_worker.'))).toBe(true);
    const intervals = await withClient(db.url, (c) =>
      one<{ n: string }>(c, 'select count(*) as n from flows.register_interval_hh'),
    );
    const partitioned = [...counts].filter(([t]) => !t.startsWith('flows.') && t.includes('register_interval_hh'));
    expect(partitioned.reduce((sum, [, n]) => sum + n, 0)).toBe(Number(intervals.n));
    expect(result.rows).toBeGreaterThan(Number(intervals.n));
    // the scratch database is gone
    const scratch = await withClient(withDatabase(db.url, 'postgres'), (c) =>
      c.query(`select datname from pg_database where datname like $1`, [`${databaseOf(db.url)}_restore_check_%`]),
    );
    expect(scratch.rows).toEqual([]);
  }, 60_000);

  it('notices a restore that lost rows, and works as the roles expect after restoring', async () => {
    // The dump kept by the test above; the source has not changed since.
    const file = path.join(dir, 'check.dump');
    const expected = await withClient(db.url, (c) => rowCounts(c));
    const name = `${databaseOf(db.url)}_restored`;
    const restored = await restoreDatabase(db.url, file, name);
    try {
      // The restored database keeps owners and grants: the worker logs in and reads the registry.
      const workerUrl = new URL(db.loginUrl('worker'));
      workerUrl.pathname = `/${name}`;
      const meters = await withClient(workerUrl.toString(), (c) =>
        one<{ n: string }>(c, 'select count(*) as n from flows.meter_registry'),
      );
      expect(meters.n).toBe('60');
      await withClient(restored, (c) =>
        // triggers off: the audit trail would record the delete as a row of its own
        c.query(`set session_replication_role = replica;
                 delete from public.notification_preferences
                  where ctid = (select ctid from public.notification_preferences limit 1)`),
      );
      const actual = await withClient(restored, (c) => rowCounts(c));
      const preferences = expected.get('public.notification_preferences')!;
      expect(compareCounts(expected, actual)).toEqual([
        { table: 'public.notification_preferences', expected: preferences, actual: preferences - 1 },
      ]);
    } finally {
      await withClient(withDatabase(db.url, 'postgres'), (c) =>
        c.query(`drop database if exists "${name}" with (force)`),
      );
    }
  }, 60_000);

  it('refuses to restore a pg_dump archive that is not a Flows backup, leaving no database behind', async () => {
    const other = `${databaseOf(db.url)}_other`.slice(-63);
    const target = `${databaseOf(db.url)}_not_flows`.slice(-63);
    const file = path.join(dir, 'other.dump');
    await withClient(withDatabase(db.url, 'postgres'), (c) => c.query(`create database "${other}"`));
    try {
      await withClient(withDatabase(db.url, other), (c) => c.query('create table notes (id int primary key)'));
      await backupDatabase(withDatabase(db.url, other), file);
      await expect(restoreDatabase(db.url, file, target)).rejects.toThrow(/is not a Flows backup/);
      const left = await withClient(withDatabase(db.url, 'postgres'), (c) =>
        c.query(`select datname from pg_database where datname = $1`, [target]),
      );
      expect(left.rows).toEqual([]);
    } finally {
      await withClient(withDatabase(db.url, 'postgres'), (c) =>
        c.query(`drop database if exists "${other}" with (force)`),
      );
    }
  }, 60_000);

  it('runs as `flows db backup-check`', async () => {
    const res = await runFlows(['db', 'backup-check'], testEnv({ DATABASE_URL: db.url }));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^backup check passed: \d+ tables, \d+ rows restored identically\n$/);
  }, 90_000);
});
