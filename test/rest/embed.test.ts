// Resource embedding (contract §5.5): to-one, to-many, many-to-many, views, hints, !inner,
// per-embed filters/order/limit, spreads, and the relationship errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({ fixture: fixtureSql, variables: () => ({ PGRST_DB_SCHEMAS: 'test' }) });

let auth: string;
beforeAll(async () => {
  auth = `Bearer ${await gw.token()}`;
});

async function get(path: string): Promise<Response> {
  return gw.fetch(path, { headers: { Authorization: auth } });
}

async function json(path: string): Promise<unknown> {
  const res = await get(path);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

describe('embedding', () => {
  it('embeds many-to-one as an object (null when absent), byte for byte', async () => {
    const res = await get('/projects?select=name,clients(name)&id=in.(1,5)&order=id');
    expect(await res.text()).toBe(
      '[{"name":"Windows 7","clients":{"name":"Microsoft"}}, \n {"name":"Orphan","clients":null}]',
    );
  });

  it('embeds one-to-many as arrays ([] when none) and nests', async () => {
    expect(await json('/clients?select=id,projects(id,tasks(id))&id=in.(2,3)&order=id')).toEqual([
      {
        id: 2,
        projects: [
          { id: 3, tasks: [{ id: 5 }] },
          { id: 4, tasks: [] },
        ],
      },
      { id: 3, projects: [] },
    ]);
  });

  it('embeds one-to-one as an object from both sides', async () => {
    expect(await json('/clients?select=id,profiles(bio)&id=in.(1,2)&order=id')).toEqual([
      { id: 1, profiles: { bio: 'Redmond' } },
      { id: 2, profiles: null },
    ]);
    expect(await json('/profiles?select=bio,clients(name)')).toEqual([
      { bio: 'Redmond', clients: { name: 'Microsoft' } },
    ]);
  });

  it('embeds many-to-many through a junction table', async () => {
    expect(await json('/users?select=name,tasks(name)&id=eq.1')).toEqual([
      { name: 'Angela', tasks: [{ name: 'Design w7' }, { name: 'Code w7' }] },
    ]);
  });

  it('embeds through views and by FK column', async () => {
    expect(await json('/projects_view?select=name,clients(name)&id=eq.3')).toEqual([
      { name: 'IOS', clients: { name: 'Apple' } },
    ]);
    expect(await json('/clients?select=name,projects_view(name)&id=eq.2')).toEqual([
      { name: 'Apple', projects_view: [{ name: 'IOS' }, { name: 'OSX' }] },
    ]);
    expect(await json('/projects?select=name,owner:client_id(name)&id=eq.1')).toEqual([
      { name: 'Windows 7', owner: { name: 'Microsoft' } },
    ]);
  });

  it('follows renamed view columns and views of views', async () => {
    expect(await json('/tasks_renamed?select=title,projects(name)&task_id=eq.3')).toEqual([
      { title: 'Design w10', projects: { name: 'Windows 10' } },
    ]);
    expect(await json('/projects?select=name,tasks_nested(title)&id=eq.3')).toEqual([
      { name: 'IOS', tasks_nested: [{ title: 'Design IOS' }] },
    ]);
    expect(await json('/tasks_nested?select=title,projects!proj(name)&task_id=eq.5')).toEqual([
      { title: 'Design IOS', projects: { name: 'IOS' } },
    ]);
  });

  it('aliases embeds and disambiguates with hints', async () => {
    expect(await json('/messages?select=body,from:users!sender_id(name),to:users!receiver_id(name)&id=eq.1')).toEqual([
      { body: 'hi', from: { name: 'Angela' }, to: { name: 'Michael' } },
    ]);
    expect(await json('/messages?select=body,users!messages_sender_id_fkey(name)&id=eq.2')).toEqual([
      { body: 'hello', users: { name: 'Michael' } },
    ]);
  });

  it('filters, orders and limits inside embeds', async () => {
    expect(
      await json(
        '/clients?select=id,projects(id)&projects.id=gt.1&projects.order=id.desc&projects.limit=1&id=in.(1,2)&order=id',
      ),
    ).toEqual([
      { id: 1, projects: [{ id: 2 }] },
      { id: 2, projects: [{ id: 4 }] },
    ]);
    expect(await json('/clients?select=id,projects(id)&projects.or=(id.eq.1,id.eq.4)&order=id&id=lt.3')).toEqual([
      { id: 1, projects: [{ id: 1 }] },
      { id: 2, projects: [{ id: 4 }] },
    ]);
  });

  it('drops parents without matches with !inner, in counts too', async () => {
    const res = await gw.fetch('/clients?select=id,projects!inner(id)&projects.id=eq.3', {
      headers: { Authorization: auth, Prefer: 'count=exact' },
    });
    expect(await res.json()).toEqual([{ id: 2, projects: [{ id: 3 }] }]);
    expect(res.headers.get('content-range')).toBe('0-0/1');
    expect(await json('/projects?select=id,clients!inner()&clients.name=eq.Apple&order=id')).toEqual([
      { id: 3 },
      { id: 4 },
    ]);
  });

  it('filters parents by embed existence with is.null', async () => {
    expect(await json('/clients?select=id,projects(id)&projects=is.null')).toEqual([{ id: 3, projects: [] }]);
    expect(await json('/projects?select=id,clients(id)&clients=not.is.null&order=id&limit=1')).toEqual([
      { id: 1, clients: { id: 1 } },
    ]);
    const res = await get('/clients?select=id,projects(id)&projects=eq.1');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST120');
  });

  it('orders by a to-one embed column', async () => {
    expect(await json('/projects?select=id,clients(name)&order=clients(name).desc.nullslast,id&limit=3')).toEqual([
      { id: 1, clients: { name: 'Microsoft' } },
      { id: 2, clients: { name: 'Microsoft' } },
      { id: 3, clients: { name: 'Apple' } },
    ]);
    const res = await get('/clients?select=id,projects(id)&order=projects(id)');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST118');
  });

  it('spreads to-one embeds into the parent', async () => {
    expect(await json('/projects?select=name,...clients(client_name:name)&id=eq.3')).toEqual([
      { name: 'IOS', client_name: 'Apple' },
    ]);
  });
});

describe('embedding errors', () => {
  it('answers 400 PGRST200 when there is no relationship', async () => {
    const res = await get('/clients?select=*,users(*)');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'PGRST200',
      message: "Could not find a relationship between 'clients' and 'users' in the schema cache",
    });
  });

  it('answers 300 PGRST201 with the candidates when ambiguous', async () => {
    const res = await get('/messages?select=*,users(*)');
    expect(res.status).toBe(300);
    const body = (await res.json()) as { code: string; details: { cardinality: string }[]; hint: string };
    expect(body.code).toBe('PGRST201');
    expect(body.details.map((d) => d.cardinality)).toEqual(['many-to-one', 'many-to-one']);
    expect(body.hint).toBe(
      "Try changing 'users' to one of the following: 'users!messages_receiver_id_fkey', 'users!messages_sender_id_fkey'. Find the desired relationship in the 'details' key.",
    );
  });

  it('answers 400 PGRST108 for filters on resources not embedded', async () => {
    const res = await get('/clients?select=id&projects.id=eq.1');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'PGRST108',
      message: "'projects' is not an embedded resource in this request",
    });
  });
});
