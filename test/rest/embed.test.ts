// Resource embedding (contract §5.5): to-one, to-many, many-to-many, views, hints, !inner,
// per-embed filters/order/limit, spreads, and the relationship errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/db/client.ts';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

// Shaped like Flows' billing tables: children reach their account through a composite key
// (account, esco) and have other foreign keys besides, including one to themselves; only
// `account_tags` is a junction (its foreign key columns make up its primary key).
const billingSql = `
create table test.escos (id int primary key, name text);
create table test.accounts (id int primary key, esco int not null references test.escos (id), number text,
  unique (id, esco));
create table test.invoices (id int primary key, esco int not null, account int not null, number text,
  replaces int references test.invoices (id), foreign key (account, esco) references test.accounts (id, esco));
create table test.payments (id int primary key, esco int not null, account int not null,
  invoice int references test.invoices (id), amount numeric, foreign key (account, esco) references test.accounts (id, esco));
create table test.tags (id int primary key, label text);
create table test.account_tags (account int references test.accounts (id), tag int references test.tags (id),
  primary key (account, tag));
insert into test.escos values (1, 'WLCE');
insert into test.accounts values (1, 1, 'A-1'), (2, 1, 'A-2');
insert into test.invoices values (1, 1, 1, 'INV-1', null), (2, 1, 1, 'INV-2', 1), (3, 1, 2, 'INV-3', null);
insert into test.payments values (1, 1, 1, 1, 10), (2, 1, 2, 3, 20);
insert into test.tags values (1, 'vip'), (2, 'late');
insert into test.account_tags values (1, 1), (1, 2);
`;

const gw = useGateway({
  fixture: (roles) => `${fixtureSql(roles)}${billingSql}
grant select on all tables in schema test to ${quoteIdent(roles.anon)}, ${quoteIdent(roles.user)};`,
  variables: () => ({ PGRST_DB_SCHEMAS: 'test' }),
});

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

describe('junction tables (PostgREST: foreign key columns part of the primary key)', () => {
  it('embeds a parent reached by a composite foreign key from a table with other keys', async () => {
    expect(await json('/invoices?select=number,accounts(number)&order=id')).toEqual([
      { number: 'INV-1', accounts: { number: 'A-1' } },
      { number: 'INV-2', accounts: { number: 'A-1' } },
      { number: 'INV-3', accounts: { number: 'A-2' } },
    ]);
    expect(await json('/payments?select=amount,accounts(number)&order=id')).toEqual([
      { amount: 10, accounts: { number: 'A-1' } },
      { amount: 20, accounts: { number: 'A-2' } },
    ]);
    expect(await json('/accounts?select=number,invoices(number)&order=id')).toEqual([
      { number: 'A-1', invoices: [{ number: 'INV-1' }, { number: 'INV-2' }] },
      { number: 'A-2', invoices: [{ number: 'INV-3' }] },
    ]);
  });

  it('takes the constraint name as hint; a column hint only names a single-column key', async () => {
    expect(await json('/invoices?select=number,accounts!invoices_account_esco_fkey(number)&id=eq.3')).toEqual([
      { number: 'INV-3', accounts: { number: 'A-2' } },
    ]);
    expect(await json('/payments?select=amount,invoices!invoice(number)&id=eq.2')).toEqual([
      { amount: 20, invoices: { number: 'INV-3' } },
    ]);
    const res = await get('/invoices?select=number,accounts!account(number)');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 'PGRST200',
      details:
        "Searched for a foreign key relationship between 'invoices' and 'accounts' using the hint 'account' in the schema 'test', but no matches were found.",
      hint: null,
      message: "Could not find a relationship between 'invoices' and 'accounts' in the schema cache",
    });
  });

  it('embeds many-to-many only through a table whose key holds both foreign keys', async () => {
    expect(await json('/accounts?select=number,tags(label)&id=eq.1')).toEqual([
      { number: 'A-1', tags: [{ label: 'vip' }, { label: 'late' }] },
    ]);
    expect(await json('/accounts?select=number,tags!account_tags(label)&id=eq.2')).toEqual([
      { number: 'A-2', tags: [] },
    ]);
    const res = await get('/accounts?select=number,invoices!payments(number)');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST200');
  });

  it('tells a self-relationship apart as PostgREST does', async () => {
    // The table name gives the one-to-many side, the column the many-to-one side.
    expect(await json('/invoices?select=number,invoices(number)&id=eq.1')).toEqual([
      { number: 'INV-1', invoices: [{ number: 'INV-2' }] },
    ]);
    expect(await json('/invoices?select=number,replaces(number)&id=eq.2')).toEqual([
      { number: 'INV-2', replaces: { number: 'INV-1' } },
    ]);
    expect(await json('/invoices?select=number,replaced_by:invoices!replaces(number)&id=eq.1')).toEqual([
      { number: 'INV-1', replaced_by: [{ number: 'INV-2' }] },
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
    // PostgREST's hint: a close name among the parent's relations, never the name asked for.
    expect(await (await get('/clients?select=*,project(*)')).json()).toMatchObject({
      code: 'PGRST200',
      hint: "Perhaps you meant 'projects' instead of 'project'.",
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
