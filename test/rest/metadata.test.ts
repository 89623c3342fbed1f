// Schema cache reload (contract §10), OPTIONS and CORS (§11), OpenAPI at `/` (§10).
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({ fixture: fixtureSql, variables: () => ({ PGRST_DB_SCHEMAS: 'test' }) });

describe('schema cache reload', () => {
  it('sees new tables and functions after NOTIFY pgrst', async () => {
    await gw.admin.query(`create table test.late (id int); grant select on test.late to ${gw.db.roles.anon}`);
    expect((await gw.fetch('/late')).status).toBe(404);
    await gw.admin.query(`notify pgrst, 'reload schema'`);
    await eventually(async () => (await gw.fetch('/late')).status === 200);
    await gw.admin.query(`create function test.late_fn() returns int language sql as 'select 42'`);
    await gw.admin.query(`notify pgrst`);
    await eventually(async () => (await gw.fetch('/rpc/late_fn')).status === 200);
  });

  it('plans a repeated read afresh after a reload (select=* sees a new column)', async () => {
    await gw.admin.query(`create table test.growing (id int); insert into test.growing values (1)`);
    await gw.admin.query(`grant select on test.growing to ${gw.db.roles.anon}; notify pgrst`);
    await eventually(async () => (await gw.fetch('/growing?id=eq.1')).status === 200);
    expect(await (await gw.fetch('/growing?id=eq.1')).json()).toEqual([{ id: 1 }]);
    await gw.admin.query(`alter table test.growing add column label text default 'x'; notify pgrst`);
    await eventually(
      async () => JSON.stringify(await (await gw.fetch('/growing?id=eq.1')).json()) === '[{"id":1,"label":"x"}]',
    );
  });

  it('reconnects its listener when the connection is killed', async () => {
    await gw.admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query ilike 'listen%'`,
      [gw.db.name],
    );
    await gw.admin.query(
      `create table test.after_kill (id int); grant select on test.after_kill to ${gw.db.roles.anon}`,
    );
    // The reconnect reloads the cache by itself; NOTIFY again in case it already happened.
    await eventually(async () => {
      await gw.admin.query(`notify pgrst, 'reload schema'`);
      return (await gw.fetch('/after_kill')).status === 200;
    });
  });
});

describe('OPTIONS and CORS', () => {
  it('answers OPTIONS with Allow from the cache, without a body', async () => {
    const table = await gw.fetch('/clients', { method: 'OPTIONS' });
    expect(table.status).toBe(200);
    expect(table.headers.get('allow')).toBe('OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE');
    expect(table.headers.get('access-control-allow-origin')).toBe('*');
    expect(await table.text()).toBe('');
    // A simple view is writable and inherits its table's primary key.
    expect((await gw.fetch('/projects_view', { method: 'OPTIONS' })).headers.get('allow')).toBe(
      'OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE',
    );
    expect((await gw.fetch('/clients_renamed', { method: 'OPTIONS' })).headers.get('allow')).toBe(
      'OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE',
    );
    // The join in tasks_renamed makes it read-only; its primary key comes from tasks (renamed).
    expect((await gw.fetch('/tasks_renamed', { method: 'OPTIONS' })).headers.get('allow')).toBe('OPTIONS,GET,HEAD');
    expect((await gw.fetch('/rpc/noop', { method: 'OPTIONS' })).headers.get('allow')).toBe('OPTIONS,POST');
    expect((await gw.fetch('/rpc/add', { method: 'OPTIONS' })).headers.get('allow')).toBe('OPTIONS,GET,HEAD,POST');
    expect((await gw.fetch('/', { method: 'OPTIONS' })).headers.get('allow')).toBe('OPTIONS,GET,HEAD');
  });

  it('answers a preflight and adds CORS headers to requests with Origin', async () => {
    const preflight = await gw.fetch('/clients', {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://example.com',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD');
    expect(preflight.headers.get('access-control-allow-headers')).toBe(
      'Authorization, content-type, Accept, Accept-Language, Content-Language',
    );
    expect(preflight.headers.get('access-control-max-age')).toBe('86400');
    const res = await gw.fetch('/clients?id=eq.1', { headers: { Origin: 'http://example.com' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('Content-Range');
  });
});

describe('OpenAPI', () => {
  interface Spec {
    swagger: string;
    info: { title: string; description: string };
    paths: Record<string, Record<string, unknown>>;
    definitions: Record<
      string,
      { properties: Record<string, { format: string; description?: string }>; required?: string[] }
    >;
  }

  it('describes the schema as Swagger 2.0, following privileges', async () => {
    const res = await gw.fetch('/', { headers: { Accept: 'application/openapi+json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/openapi+json; charset=utf-8');
    const spec = (await res.json()) as Spec;
    expect(spec.swagger).toBe('2.0');
    expect(spec.info.title).toBe('Fixture API');
    expect(spec.info.description).toBe('Tables and functions for the gateway tests');
    expect(Object.keys(spec.paths['/clients']!).sort()).toEqual(['delete', 'get', 'patch', 'post']);
    expect(spec.paths['/secrets']).toBeUndefined();
    expect(spec.paths['/rpc/add']!.get).toMatchObject({ summary: 'Adds two numbers' });
    expect(Object.keys(spec.paths['/rpc/noop']!)).toEqual(['post']);
    const clients = spec.definitions.clients!;
    expect(clients.required).toEqual(['id', 'name']);
    expect(clients.properties.name).toMatchObject({ format: 'text', description: 'Display name' });
    expect(clients.properties.id!.description).toContain('<pk/>');
    expect(spec.definitions.projects!.properties.client_id!.description).toContain("<fk table='clients' column='id'/>");
  });

  it('answers application/json and */* too, and 406 otherwise', async () => {
    expect((await gw.fetch('/', { headers: { Accept: 'application/json' } })).status).toBe(200);
    expect((await gw.fetch('/')).status).toBe(200);
    expect((await gw.fetch('/', { headers: { Accept: 'text/csv' } })).status).toBe(406);
  });
});
