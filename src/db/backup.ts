// Backup and restore of a Flows database with pg_dump / pg_restore (custom format), and the check
// that a backup restores: dump, restore into a fresh database, compare the row count of every table
// with the counts the dump saw (the dump runs in an exported snapshot, so a live database may keep
// changing meanwhile). docs/operations.md "Backup and restore".
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { processEnv } from '../config.ts';
import { databaseOf, many, quoteIdent, withClient, withDatabase } from './client.ts';
import { grantDatabase } from './roles.ts';

export class BackupToolError extends Error {
  constructor(
    readonly tool: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${tool} failed (exit code ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'BackupToolError';
  }
}

/** Runs pg_dump or pg_restore with the connection in the environment (never on the command line). */
function runTool(tool: 'pg_dump' | 'pg_restore', url: string, args: string[]): Promise<void> {
  const u = new URL(url);
  const env = {
    ...processEnv(),
    PGHOST: decodeURIComponent(u.hostname),
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: databaseOf(url),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (error) => reject(new Error(`cannot run ${tool}: ${error.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new BackupToolError(tool, code, stderr))));
  });
}

/** Row counts of every table holding rows (partitions counted one by one), keyed `schema.table`. */
export async function rowCounts(db: Pick<pg.ClientBase, 'query'>): Promise<Map<string, number>> {
  const tables = await many<{ schema: string; name: string }>(
    db,
    `select n.nspname as schema, c.relname as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
      order by 1, 2`,
  );
  const counts = new Map<string, number>();
  for (const t of tables) {
    const { rows } = await db.query<{ n: string }>(
      `select count(*) as n from only ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
    );
    counts.set(`${t.schema}.${t.name}`, Number(rows[0]!.n));
  }
  return counts;
}

export interface CountDifference {
  table: string;
  expected: number | undefined;
  actual: number | undefined;
}

export function compareCounts(expected: Map<string, number>, actual: Map<string, number>): CountDifference[] {
  const tables = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  return tables
    .filter((t) => expected.get(t) !== actual.get(t))
    .map((table) => ({ table, expected: expected.get(table), actual: actual.get(table) }));
}

/**
 * Dumps the database at `url` to `file` (custom format) and returns the row counts the dump saw:
 * both read one exported snapshot.
 */
export async function backupDatabase(url: string, file: string): Promise<Map<string, number>> {
  return withClient(url, async (client) => {
    await client.query('begin isolation level repeatable read read only');
    try {
      const snapshot = (await client.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]!.id;
      const counts = await rowCounts(client);
      await runTool('pg_dump', url, ['--format=custom', `--snapshot=${snapshot}`, `--file=${file}`]);
      return counts;
    } finally {
      await client.query('rollback');
    }
  });
}

/**
 * Restores `file` into the new database `name` on the server of `adminUrl` (it must not exist). The
 * roles must exist there already (`flows db setup`); owners and grants are restored as dumped.
 */
export async function restoreDatabase(adminUrl: string, file: string, name: string): Promise<string> {
  await withClient(withDatabase(adminUrl, 'postgres'), (c) => c.query(`create database ${quoteIdent(name)}`));
  const url = withDatabase(adminUrl, name);
  try {
    await runTool('pg_restore', url, ['--exit-on-error', '--single-transaction', `--dbname=${name}`, file]);
    await withClient(url, async (c) => {
      // Any pg_dump archive restores: only a Flows one has the migration history.
      const { rows } = await c.query<{ flows: boolean }>(
        `select to_regclass('migrations.pgmigrations') is not null as flows`,
      );
      if (!rows[0]?.flows) throw new Error(`${file} is not a Flows backup (no migrations.pgmigrations in it)`);
      // Database-level privileges are not part of a dump.
      await grantDatabase(c);
    });
  } catch (error) {
    await dropDatabase(adminUrl, name);
    throw error;
  }
  return url;
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(withDatabase(adminUrl, 'postgres'), (c) =>
    c.query(`drop database if exists ${quoteIdent(name)} with (force)`),
  );
}

export interface BackupCheck {
  file: string;
  tables: number;
  rows: number;
  differences: CountDifference[];
}

/**
 * Backs up the database at `url`, restores the backup into a scratch database beside it, compares
 * every table's row count with what the dump saw, then drops the scratch database (and the file,
 * unless `keepFile` names where to keep it).
 */
export async function backupRestoreCheck(url: string, options: { keepFile?: string } = {}): Promise<BackupCheck> {
  const suffix = randomBytes(4).toString('hex');
  const file = options.keepFile ?? path.join(tmpdir(), `flows-backup-check-${suffix}.dump`);
  const scratch = `${databaseOf(url)}_restore_check_${suffix}`.slice(-63);
  try {
    const expected = await backupDatabase(url, file);
    const restored = await restoreDatabase(url, file, scratch);
    try {
      const actual = await withClient(restored, (c) => rowCounts(c));
      return {
        file,
        tables: expected.size,
        rows: [...expected.values()].reduce((a, b) => a + b, 0),
        differences: compareCounts(expected, actual),
      };
    } finally {
      await dropDatabase(url, scratch);
    }
  } finally {
    if (options.keepFile === undefined) await rm(file, { force: true });
  }
}
