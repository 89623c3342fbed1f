// `flows db migrate`: graphile-worker's schema, then node-pg-migrate over migrations/, then the
// re-runnable definitions in sql/, then NOTIFY pgrst. Everything after graphile-worker's own
// migrations runs in one transaction as the owner role. See docs/decisions/0003-migrations.md.
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { runMigrations as runWorkerMigrations } from 'graphile-worker';
import { runner } from 'node-pg-migrate';
import { projectRoot } from '../config.ts';
import type { Logger } from '../log.ts';
import { many, quoteIdent, withTransaction } from './client.ts';
import { appRoles, ownerRole } from './roles.ts';

/** Schemas whose views, policies and grants are owned by sql/ and rebuilt on every migrate. */
export const managedSchemas = ['public', 'flows', 'internal'] as const;
/** node-pg-migrate's state lives here, never in an exposed schema. */
export const migrationsSchema = 'migrations';
const migrateLockKey = 'flows db migrate';

export interface MigrateOptions {
  log: Logger;
  migrationsDir?: string;
  sqlDir?: string;
}

export interface MigrateResult {
  migrations: string[];
  sqlFiles: string[];
}

export async function migrate(adminUrl: string, options: MigrateOptions): Promise<MigrateResult> {
  const { log } = options;
  const migrationsDir = options.migrationsDir ?? path.join(projectRoot, 'migrations');
  const sqlDir = options.sqlDir ?? path.join(projectRoot, 'sql');

  await installWorkerSchema(adminUrl);

  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await withTransaction(client, async (tx) => {
      await tx.query('select pg_advisory_xact_lock(hashtext($1))', [migrateLockKey]);
      await tx.query(`set local role ${quoteIdent(ownerRole)}`);
      await dropManagedDefinitions(tx);
      const ran = await runner({
        dbClient: savepointClient(tx) as unknown as pg.Client,
        dir: migrationsDir,
        // Only the SQL files are migrations (the folder also holds a README).
        ignorePattern: '(\\..*)|(.*(?<!\\.sql))',
        direction: 'up',
        count: Infinity,
        migrationsSchema,
        createMigrationsSchema: true,
        migrationsTable: 'pgmigrations',
        singleTransaction: true,
        noLock: true,
        checkOrder: true,
        log: (message: string) => log.debug({ tool: 'node-pg-migrate' }, message),
      });
      const sqlFiles = (await fs.readdir(sqlDir)).filter((f) => f.endsWith('.sql')).sort();
      for (const file of sqlFiles) {
        const text = await fs.readFile(path.join(sqlDir, file), 'utf8');
        try {
          await tx.query(text);
        } catch (error) {
          throw new Error(`sql/${file}: ${(error as Error).message}`, { cause: error });
        }
      }
      await tx.query(`notify pgrst, 'reload schema'`);
      const result = { migrations: ran.map((m) => m.name), sqlFiles };
      log.info(result, 'database migrated');
      return result;
    });
  } finally {
    await client.end();
  }
}

/** graphile-worker installs and upgrades its own schema, as the owner role. */
async function installWorkerSchema(adminUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: adminUrl, max: 1 });
  pool.on('connect', (c) => void c.query(`set role ${quoteIdent(ownerRole)}`));
  pool.on('error', () => {}); // an idle client's error surfaces on its next query, inside runWorkerMigrations
  try {
    await runWorkerMigrations({ pgPool: pool, logger: undefined });
  } finally {
    await pool.end();
  }
}

/**
 * Views, policies and the application roles' privileges in the managed schemas belong to sql/,
 * which recreates them right after the migrations, in the same transaction. Dropping them first
 * lets a migration change a column that a view or policy uses, and makes sql/ the whole truth
 * about grants (a grant removed from sql/ is gone after the next migrate).
 */
async function dropManagedDefinitions(tx: pg.ClientBase): Promise<void> {
  const schemas = [...managedSchemas];
  const views = await many<{ schema: string; name: string; kind: string }>(
    tx,
    `select n.nspname as schema, c.relname as name, c.relkind as kind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1) and c.relkind in ('v', 'm')`,
    [schemas],
  );
  for (const v of views) {
    const kind = v.kind === 'm' ? 'materialized view' : 'view';
    await tx.query(`drop ${kind} if exists ${quoteIdent(v.schema)}.${quoteIdent(v.name)} cascade`);
  }
  const policies = await many<{ schema: string; table: string; policy: string }>(
    tx,
    `select schemaname as schema, tablename as table, policyname as policy from pg_policies where schemaname = any($1)`,
    [schemas],
  );
  for (const p of policies) {
    await tx.query(`drop policy ${quoteIdent(p.policy)} on ${quoteIdent(p.schema)}.${quoteIdent(p.table)}`);
  }
  const present = await many<{ name: string }>(tx, `select nspname as name from pg_namespace where nspname = any($1)`, [
    schemas,
  ]);
  const grantees = [...appRoles.map(quoteIdent), 'public'].join(', ');
  for (const { name } of present) {
    const schema = quoteIdent(name);
    for (const objects of ['tables', 'sequences', 'functions']) {
      await tx.query(`revoke all on all ${objects} in schema ${schema} from ${grantees}`);
    }
    await tx.query(`revoke all on schema ${schema} from ${grantees}`);
  }
}

/**
 * node-pg-migrate opens and closes its own transaction; inside ours, its BEGIN/COMMIT/ROLLBACK
 * become a savepoint, so migrations, sql/ and the NOTIFY commit or roll back together.
 */
function savepointClient(tx: pg.ClientBase): Pick<pg.ClientBase, 'query'> {
  const translate: Record<string, string> = {
    BEGIN: 'savepoint node_pg_migrate',
    COMMIT: 'release savepoint node_pg_migrate',
    ROLLBACK: 'rollback to savepoint node_pg_migrate',
  };
  return {
    query: ((text: unknown, values?: unknown[]) =>
      tx.query(
        typeof text === 'string' ? (translate[text] ?? text) : (text as pg.QueryConfig),
        values,
      )) as pg.ClientBase['query'],
  };
}
