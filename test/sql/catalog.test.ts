// Catalog tests: rules every table, view and function must follow, read from pg_catalog so that they
// hold for objects added later (CONVENTIONS.md "Schemas and roles", docs/security.md). Each rule is a
// query listing its violations; the last test plants one violation of each kind in a rolled-back
// transaction and checks that every rule reports it.
import { describe, expect, it } from 'vitest';
import { many, type Queryable } from '../../src/db/client.ts';
import { webRoles } from '../../src/db/roles.ts';
import { usePool, useTestDatabase } from '../support/database.ts';

type WebRole = (typeof webRoles)[number];

const exposedSchemas = ['public', 'flows'];
/** Schemas whose tables must all have row-level security. */
const rlsSchemas = ['public', 'flows', 'internal', 'flows_partitions'];
/** Schemas no web role may even use. */
const privateSchemas = ['flows_partitions', 'migrations', 'graphile_worker'];

/**
 * The `internal` functions each web role may execute: docs/security.md, "Claim helpers". A function
 * that web roles must call is added here and there together.
 */
const internalAllowList: Record<WebRole, string[]> = {
  anon: ['jwt_claims()', 'jwt_sub()', 'pre_request()'],
  customer: [
    'customer_account_ids()',
    'customer_current_meter_ids()',
    'customer_meter_ids()',
    'customer_register_windows()',
    'jwt_claims()',
    'jwt_sub()',
    'my_customer_id()',
    'my_meter_properties()',
    'pre_request()',
  ],
  operator: ['jwt_claims()', 'jwt_sub()', 'my_meter_properties()', 'operator_escos()', 'pre_request()'],
  service: ['jwt_claims()', 'jwt_sub()', 'pre_request()', 'service_escos()', 'service_key_check()'],
};

/** Functions that belong to an extension are the extension's business, not ours. */
const notExtensionMember = `not exists (select 1 from pg_depend d
  where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')`;

async function names(db: Queryable, sql: string, values: unknown[]): Promise<string[]> {
  return (await many<{ name: string }>(db, sql, values)).map((r) => r.name);
}

const rules = {
  tablesWithoutRls: (db: Queryable) =>
    names(
      db,
      `select format('%I.%I', n.nspname, c.relname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1) and c.relkind in ('r', 'p') and not c.relrowsecurity
        order by 1`,
      [rlsSchemas],
    ),
  relationsWithoutComment: (db: Queryable) =>
    names(
      db,
      `select format('%I.%I', n.nspname, c.relname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1) and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
          and coalesce(btrim(obj_description(c.oid, 'pg_class')), '') = ''
        order by 1`,
      [exposedSchemas],
    ),
  columnsWithoutComment: (db: Queryable) =>
    names(
      db,
      `select format('%I.%I.%I', n.nspname, c.relname, a.attname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = any($1) and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
          and coalesce(btrim(col_description(c.oid, a.attnum)), '') = ''
        order by 1`,
      [exposedSchemas],
    ),
  functionsWithoutComment: (db: Queryable) =>
    names(
      db,
      `select p.oid::regprocedure::text as name
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any($1) and p.prorettype <> 'trigger'::regtype and ${notExtensionMember}
          and coalesce(btrim(obj_description(p.oid, 'pg_proc')), '') = ''
        order by 1`,
      [exposedSchemas],
    ),
  definersWithoutSearchPath: (db: Queryable) =>
    names(
      db,
      `select p.oid::regprocedure::text as name
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef and ${notExtensionMember}
          and (n.nspname = any($1) or (pg_get_userbyid(n.nspowner) = 'flows_owner' and n.nspname <> 'graphile_worker'))
          and not exists (select 1 from unnest(p.proconfig) s where s like 'search\\_path=%')
        order by 1`,
      [rlsSchemas],
    ),
  functionsExecutableByPublic: (db: Queryable) =>
    names(
      db,
      `select p.oid::regprocedure::text as name
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any($1)
          and (p.proacl is null   -- the built-in default: EXECUTE to PUBLIC
               or exists (select 1 from aclexplode(p.proacl) x where x.grantee = 0 and x.privilege_type = 'EXECUTE'))
        order by 1`,
      [[...exposedSchemas, 'internal']],
    ),
  internalFunctionsExecutableBy: (db: Queryable, role: WebRole) =>
    names(
      db,
      `select format('%s(%s)', p.proname, pg_get_function_identity_arguments(p.oid)) as name
         from pg_proc p
        where p.pronamespace = 'internal'::regnamespace and has_function_privilege($1, p.oid, 'EXECUTE')
        order by 1`,
      [role],
    ),
  foreignKeysWithoutIndex: (db: Queryable) =>
    names(
      db,
      `select format('%s.%s (%s)', k.conrelid::regclass, k.conname,
                     (select string_agg(a.attname, ', ' order by u.i) from unnest(k.conkey) with ordinality u(n, i)
                        join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n)) as name
         from pg_constraint k join pg_namespace n on n.oid = k.connamespace
        where k.contype = 'f' and n.nspname = any($1)
          and not exists (
            select 1 from pg_index i
             where i.indrelid = k.conrelid and i.indpred is null and i.indnkeyatts >= cardinality(k.conkey)
               and (select array_agg(x order by x) from unnest((i.indkey::int2[])[0:cardinality(k.conkey) - 1]) x)
                 = (select array_agg(x order by x) from unnest(k.conkey) x))
        order by 1`,
      [rlsSchemas],
    ),
  viewsWithoutSecurityInvoker: (db: Queryable) =>
    names(
      db,
      `select format('%I.%I', n.nspname, c.relname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1) and c.relkind in ('v', 'm')
          and not exists (select 1 from unnest(c.reloptions) o where o ~* '^security_invoker=(true|on|yes|1)$')
        order by 1`,
      [exposedSchemas],
    ),
  internalRelationsGrantedToWebRoles: (db: Queryable) =>
    names(
      db,
      `select format('%s on %I.%I', r.role, n.nspname, c.relname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        cross join unnest($1::text[]) r(role)
        where n.nspname = 'internal' and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          and (case when c.relkind = 'S' then has_sequence_privilege(r.role, c.oid, 'USAGE, SELECT, UPDATE')
                    else has_table_privilege(r.role, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                         or has_any_column_privilege(r.role, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES') end)
        order by 1`,
      [[...webRoles]],
    ),
  privateSchemasUsableByWebRoles: (db: Queryable) =>
    names(
      db,
      `select format('%s on %I', r.role, n.nspname) as name
         from pg_namespace n cross join unnest($1::text[]) r(role)
        where n.nspname = any($2) and has_schema_privilege(r.role, n.oid, 'USAGE, CREATE')
        order by 1`,
      [[...webRoles], privateSchemas],
    ),
};

describe('catalog', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);

  it('has row-level security on every table of public, flows, internal and flows_partitions (partitions too)', async () => {
    expect(await rules.tablesWithoutRls(ctx.pool)).toEqual([]);
  });

  it('has a comment on every exposed table and view', async () => {
    expect(await rules.relationsWithoutComment(ctx.pool)).toEqual([]);
  });

  it('has a comment on every column of an exposed table or view', async () => {
    expect(await rules.columnsWithoutComment(ctx.pool)).toEqual([]);
  });

  it('has a comment on every exposed function', async () => {
    expect(await rules.functionsWithoutComment(ctx.pool)).toEqual([]);
  });

  it('pins the search_path of every SECURITY DEFINER function', async () => {
    expect(await rules.definersWithoutSearchPath(ctx.pool)).toEqual([]);
  });

  it('lets PUBLIC execute no function in public, flows or internal', async () => {
    expect(await rules.functionsExecutableByPublic(ctx.pool)).toEqual([]);
  });

  it.each([...webRoles])('lets %s execute exactly the allow-listed internal functions', async (role) => {
    expect(await rules.internalFunctionsExecutableBy(ctx.pool, role)).toEqual(internalAllowList[role]);
  });

  it('covers every foreign key with an index led by its columns', async () => {
    expect(await rules.foreignKeysWithoutIndex(ctx.pool)).toEqual([]);
  });

  it('creates every exposed view with security_invoker', async () => {
    expect(await rules.viewsWithoutSecurityInvoker(ctx.pool)).toEqual([]);
  });

  it('gives web roles no privilege on any internal table, view or sequence', async () => {
    expect(await rules.internalRelationsGrantedToWebRoles(ctx.pool)).toEqual([]);
  });

  it('gives web roles no usage on the unexposed schemas (partitions, migrations, the job queue)', async () => {
    expect(await rules.privateSchemasUsableByWebRoles(ctx.pool)).toEqual([]);
  });

  it('can fail: each rule reports a planted violation', async () => {
    const client = await ctx.pool.connect();
    try {
      await client.query('begin');
      await client.query(`set local role flows_owner`);
      await client.query(
        `create table flows.catalog_probe (id int primary key, esco uuid references flows.escos (id))`,
      );
      await client.query(`create table internal.catalog_probe (id int primary key)`);
      await client.query(`grant select on internal.catalog_probe to operator`);
      await client.query(`create view flows.catalog_probe_view as select 1 as one`);
      await client.query(
        `create function internal.catalog_probe_fn() returns int language sql security definer as 'select 1'`,
      );
      await client.query(`grant execute on function internal.catalog_probe_fn() to public`);
      await client.query(`grant usage on schema flows_partitions to anon`);
      expect(await rules.tablesWithoutRls(client)).toEqual(
        expect.arrayContaining(['flows.catalog_probe', 'internal.catalog_probe']),
      );
      expect(await rules.relationsWithoutComment(client)).toEqual(
        expect.arrayContaining(['flows.catalog_probe', 'flows.catalog_probe_view']),
      );
      expect(await rules.columnsWithoutComment(client)).toEqual(
        expect.arrayContaining(['flows.catalog_probe.esco', 'flows.catalog_probe_view.one']),
      );
      expect(await rules.definersWithoutSearchPath(client)).toContain('internal.catalog_probe_fn()');
      expect(await rules.functionsExecutableByPublic(client)).toContain('internal.catalog_probe_fn()');
      expect(await rules.internalFunctionsExecutableBy(client, 'anon')).toContain('catalog_probe_fn()');
      expect(await rules.foreignKeysWithoutIndex(client)).toEqual([
        expect.stringMatching(/^flows\.catalog_probe\.catalog_probe_esco_fkey \(esco\)$/),
      ]);
      expect(await rules.viewsWithoutSecurityInvoker(client)).toContain('flows.catalog_probe_view');
      expect(await rules.internalRelationsGrantedToWebRoles(client)).toContain('operator on internal.catalog_probe');
      expect(await rules.privateSchemasUsableByWebRoles(client)).toContain('anon on flows_partitions');
      await client.query(`create function flows.catalog_probe_rpc() returns int language sql as 'select 1'`);
      expect(await rules.functionsWithoutComment(client)).toContain('flows.catalog_probe_rpc()');
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});
