// `flows keys create|list|revoke`: service keys (docs/operations.md, "Service keys"). Run as the
// administrator (DATABASE_URL or the embedded database); tokens are signed with PGRST_JWT_SECRET.
import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { withClient } from '../db/client.ts';
import { openDatabase } from '../db/server.ts';
import { createKey, listKeys, revokeKey, type KeyRow } from '../keys/registry.ts';
import { createLogger } from '../log.ts';
import type pg from 'pg';

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const config = loadConfig(['database']);
  const db = await openDatabase(config.database, createLogger(config.runtime, 'command'));
  try {
    return await withClient(db.adminUrl, fn);
  } finally {
    await db.release();
  }
}

const when = (d: Date | null) => (d === null ? '-' : d.toISOString().replace(/\.\d{3}Z$/, 'Z'));

export function formatKeys(rows: KeyRow[]): string {
  const header = ['id', 'name', 'esco', 'scopes', 'status', 'created', 'by', 'expires', 'last used', 'revoked'];
  const lines = rows.map((k) => [
    k.id,
    k.name,
    k.esco,
    k.scopes.join(','),
    k.status,
    when(k.created_at),
    k.created_by,
    when(k.expires_at),
    when(k.last_used_at),
    k.revoked_at === null ? '-' : `${when(k.revoked_at)} by ${k.revoked_by ?? '?'}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return (
    [header, ...lines]
      .map((l) =>
        l
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function register(program: Command): void {
  const keys = program.command('keys').description('service keys: long-lived service tokens, registered and revocable');
  keys
    .command('create')
    .description('mint a service token for one ESCO, register it, and print it once')
    .requiredOption('--name <name>', 'unique name among live keys, e.g. bank-feed-wlce')
    .requiredOption('--esco <code>', 'the ESCO the key acts for, e.g. WLCE')
    .option('--scopes <list>', 'comma-separated: read, write, rpc:<function>, rpc:*', 'read')
    .option('--ttl <duration>', 'lifetime, e.g. 365d, 90d', '365d')
    .option('--by <who>', 'who creates it (default: the operating-system user)')
    .action(async (options: { name: string; esco: string; scopes: string; ttl: string; by?: string }) => {
      const { token } = loadConfig(['token']);
      const key = await withAdmin((client) =>
        createKey(client, token.jwtSecret, {
          name: options.name,
          esco: options.esco,
          scopes: options.scopes
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
          ttl: options.ttl,
          createdBy: options.by ?? os.userInfo().username,
        }),
      );
      process.stderr.write(
        `key ${key.id} '${key.name}' for ${key.esco} (${key.scopes.join(', ')}), expires ${when(key.expiresAt)}.\n` +
          'The token below is shown only this once:\n',
      );
      process.stdout.write(`${key.token}\n`);
    });
  keys
    .command('list')
    .description('list the keys (never their tokens), with when each was last used')
    .action(async () => {
      process.stdout.write(formatKeys(await withAdmin((client) => listKeys(client))));
    });
  keys
    .command('revoke')
    .description('revoke a key by id or by name: its token is refused from the next request on')
    .argument('<key>', 'key id or name')
    .option('--reason <text>', 'why (kept with the key)')
    .option('--by <who>', 'who revokes it (default: the operating-system user)')
    .action(async (idOrName: string, options: { reason?: string; by?: string }) => {
      const r = await withAdmin((client) =>
        revokeKey(client, idOrName, options.by ?? os.userInfo().username, options.reason),
      );
      process.stdout.write(
        r.already
          ? `key ${r.id} '${r.name}' was already revoked at ${when(r.revokedAt)}\n`
          : `key ${r.id} '${r.name}' revoked\n`,
      );
    });
}
