// `flows db backup <file>`, `flows db restore <file> --into <database>` and `flows db backup-check`:
// pg_dump / pg_restore of the Flows database (DATABASE_URL or the embedded one), as the administrator.
// docs/operations.md "Backup and restore".
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { backupDatabase, backupRestoreCheck, restoreDatabase } from '../db/backup.ts';
import { openDatabase } from '../db/server.ts';
import { createLogger } from '../log.ts';

async function withAdminUrl<T>(fn: (adminUrl: string) => Promise<T>): Promise<T> {
  const config = loadConfig(['database']);
  const db = await openDatabase(config.database, createLogger(config.runtime, 'command'));
  try {
    return await fn(db.adminUrl);
  } finally {
    await db.release();
  }
}

/** Adds the backup commands to `flows db`. */
export function register(db: Command): void {
  db.command('backup')
    .description('dump the database to <file> (pg_dump custom format, one consistent snapshot)')
    .argument('<file>', 'where to write the dump')
    .action(async (file: string) => {
      const counts = await withAdminUrl((url) => backupDatabase(url, file));
      const rows = [...counts.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(`backup written to ${file}: ${counts.size} tables, ${rows} rows\n`);
    });

  db.command('restore')
    .description('restore a dump into a new database on the same server (run `flows db setup` there first)')
    .argument('<file>', 'a dump made by flows db backup')
    .requiredOption('--into <database>', 'name of the new database (must not exist)')
    .action(async (file: string, options: { into: string }) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.into)) {
        throw new Error(`--into: '${options.into}' is not a plain database name (lower case, digits, _)`);
      }
      await withAdminUrl((url) => restoreDatabase(url, file, options.into));
      process.stdout.write(`restored ${file} into database ${options.into}\n`);
    });

  db.command('backup-check')
    .description('back up, restore into a scratch database, compare every table’s row count, drop the scratch copy')
    .option('--keep <file>', 'keep the dump at <file>')
    .action(async (options: { keep?: string }) => {
      const result = await withAdminUrl((url) => backupRestoreCheck(url, { keepFile: options.keep }));
      for (const d of result.differences) {
        process.stdout.write(
          `${d.table}: ${d.expected ?? 'missing'} in the backup, ${d.actual ?? 'missing'} restored\n`,
        );
      }
      if (result.differences.length > 0) {
        throw new Error(`backup check failed: ${result.differences.length} table(s) differ`);
      }
      process.stdout.write(`backup check passed: ${result.tables} tables, ${result.rows} rows restored identically\n`);
    });
}
