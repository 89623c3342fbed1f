import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { many, one, withClient } from '../../src/db/client.ts';
import { setupRoles } from '../../src/db/roles.ts';
import { loadConfig } from '../../src/config.ts';
import { asRole, usePool, useTestDatabase } from '../support/database.ts';
import { testEnv } from '../support/env.ts';

describe('roles', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);

  it('setup is idempotent and gives each web role its statement_timeout', async () => {
    const { roles } = loadConfig(['roles'], testEnv());
    await withClient(db.url, async (c) => {
      await setupRoles(c, roles);
      await setupRoles(c, roles);
      const settings = await many<{ role: string; config: string[] }>(
        c,
        `select rolname as role, rolconfig as config from pg_roles where rolname = any($1) order by rolname`,
        [['anon', 'customer', 'operator']],
      );
      expect(settings).toEqual([
        { role: 'anon', config: ['statement_timeout=3s'] },
        { role: 'customer', config: ['statement_timeout=5s'] },
        { role: 'operator', config: ['statement_timeout=15s'] },
      ]);
      const authenticator = await one<{ login: boolean; inherit: boolean }>(
        c,
        `select rolcanlogin as login, rolinherit as inherit from pg_roles where rolname = 'authenticator'`,
      );
      expect(authenticator).toEqual({ login: true, inherit: false });
    });
  });

  it('authenticator logs in with its password and can become each web role, but not the owner', async () => {
    const client = new pg.Client({ connectionString: db.loginUrl('authenticator') });
    await client.connect();
    try {
      for (const role of ['anon', 'customer', 'operator', 'service']) {
        await client.query(`set role ${role}`);
        await client.query('reset role');
      }
      await expect(client.query('set role flows_owner')).rejects.toThrow(/permission denied/);
    } finally {
      await client.end();
    }
  });

  it('asRole runs as the role with the JWT claims, and rolls back', async () => {
    const seen = await asRole(ctx.pool, 'customer', { sub: 'cust-1' }, async (c) =>
      one<{ role: string; sub: string; claims: { role: string } }>(
        c,
        `select current_user as role, internal.jwt_sub() as sub, internal.jwt_claims() as claims`,
      ),
    );
    expect(seen).toEqual({ role: 'customer', sub: 'cust-1', claims: { role: 'customer', sub: 'cust-1' } });
    await asRole(ctx.pool, 'worker', {}, (c) =>
      c.query(`insert into internal.worker_heartbeats (worker_id) values ('rolled-back')`),
    );
    const rows = await many(ctx.pool, `select 1 from internal.worker_heartbeats where worker_id = 'rolled-back'`);
    expect(rows).toEqual([]);
  });

  it('keeps web roles out of internal tables and off internal.enqueue', async () => {
    for (const role of ['anon', 'customer', 'operator', 'service']) {
      await expect(
        asRole(ctx.pool, role, { sub: 'x' }, (c) => c.query('select * from internal.worker_heartbeats')),
      ).rejects.toThrow(/permission denied for table worker_heartbeats/);
      await expect(
        asRole(ctx.pool, role, { sub: 'x' }, (c) => c.query(`select internal.enqueue('system__heartbeat')`)),
      ).rejects.toThrow(/permission denied for function enqueue/);
    }
  });

  it('runs the pre-request function as any web role (a service token must be a registered key)', async () => {
    for (const role of ['anon', 'customer', 'operator']) {
      await asRole(ctx.pool, role, {}, (c) => c.query('select internal.pre_request()'));
    }
    await expect(asRole(ctx.pool, 'service', {}, (c) => c.query('select internal.pre_request()'))).rejects.toThrow(
      /Unknown service key/,
    );
  });
});
