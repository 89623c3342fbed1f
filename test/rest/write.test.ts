// Writes (contract §7): POST (single, bulk, CSV, columns, upsert), PATCH, PUT, DELETE and their
// Prefer options.
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({ fixture: fixtureSql, variables: () => ({ PGRST_DB_SCHEMAS: 'test' }) });

let auth: string;
beforeAll(async () => {
  auth = `Bearer ${await gw.token()}`;
});

function send(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return gw.fetch(path, {
    method,
    headers: { Authorization: auth, 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const rowsOf = async (sql: string, values: unknown[] = []) => (await gw.admin.query(sql, values)).rows;

describe('POST', () => {
  it('inserts with return=minimal: 201, empty body, Content-Length 0', async () => {
    const res = await send('POST', '/clients', { id: 100, name: 'Minimal' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-length')).toBe('0');
    expect(res.headers.get('content-type')).toBeNull();
    expect(res.headers.get('content-range')).toBe('*/*');
    expect(await res.text()).toBe('');
    expect(await rowsOf('select name from test.clients where id = 100')).toEqual([{ name: 'Minimal' }]);
  });

  it('returns the representation shaped by select, embeds included', async () => {
    const res = await send(
      'POST',
      '/projects?select=id,name,client:clients(name)',
      { id: 100, name: 'New', client_id: 1 },
      {
        Prefer: 'return=representation',
      },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('preference-applied')).toBe('return=representation');
    expect(await res.text()).toBe('[{"id":100,"name":"New","client":{"name":"Microsoft"}}]');
  });

  it('inserts arrays in one statement and counts them', async () => {
    const res = await send(
      'POST',
      '/users',
      [
        { id: 101, name: 'A' },
        { id: 102, name: 'B' },
      ],
      { Prefer: 'count=exact' },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('content-range')).toBe('*/2');
  });

  it('rejects differing keys, invalid JSON and unknown columns', async () => {
    const keys = await send('POST', '/users', [{ id: 103, name: 'A' }, { id: 104 }]);
    expect(keys.status).toBe(400);
    expect(await keys.json()).toEqual({
      code: 'PGRST102',
      details: null,
      hint: null,
      message: 'All object keys must match',
    });
    const invalid = await send('POST', '/users', '{"id":');
    expect(await invalid.json()).toEqual({
      code: 'PGRST102',
      details: null,
      hint: null,
      message: 'Empty or invalid json',
    });
    const unknown = await send('POST', '/users', { id: 105, nick: 'x' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({
      code: 'PGRST204',
      details: null,
      hint: null,
      message: "Could not find the 'nick' column of 'users' in the schema cache",
    });
    const type = await send('POST', '/users', 'x', { 'Content-Type': 'image/png' });
    expect(((await type.json()) as { message: string }).message).toBe('Content-Type not acceptable: image/png');
  });

  it('fixes the columns with columns= and fills defaults with missing=default', async () => {
    const res = await send(
      'POST',
      '/items?columns=name,qty&select=name,qty',
      [
        { name: 'c1', extra: 1 },
        { name: 'c2', qty: 5 },
      ],
      {
        Prefer: 'return=representation,missing=default',
      },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('preference-applied')).toBe('missing=default, return=representation');
    expect(await res.json()).toEqual([
      { name: 'c1', qty: 1 },
      { name: 'c2', qty: 5 },
    ]);
    const nulls = await send('POST', '/items?columns="name","price"&select=name,price', [{ name: 'c3' }], {
      Prefer: 'return=representation',
    });
    expect(await nulls.json()).toEqual([{ name: 'c3', price: null }]);
  });

  it('sends Location with return=headers-only', async () => {
    const res = await send('POST', '/pairs', { a: 100, b: 200, label: 'x' }, { Prefer: 'return=headers-only' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/pairs?a=eq.100&b=eq.200');
    expect(res.headers.get('preference-applied')).toBe('return=headers-only');
    expect(res.headers.get('content-type')).toBeNull();
    const spaced = await send('POST', '/clients', { id: 150, name: 'x' }, { Prefer: 'return=headers-only' });
    expect(spaced.headers.get('location')).toBe('/clients?id=eq.150');
  });

  it('accepts CSV and form bodies', async () => {
    const csv = await send('POST', '/users?select=id,name', 'id,name\n110,"Csv, Person"\n111,Other', {
      'Content-Type': 'text/csv',
      Prefer: 'return=representation',
    });
    expect(await csv.json()).toEqual([
      { id: 110, name: 'Csv, Person' },
      { id: 111, name: 'Other' },
    ]);
    const form = await send('POST', '/users', 'id=112&name=Form+Person', {
      'Content-Type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(201);
    expect(await rowsOf('select name from test.users where id = 112')).toEqual([{ name: 'Form Person' }]);
  });

  it('upserts with merge-duplicates: 200 when every row existed, 201 otherwise', async () => {
    const headers = { Prefer: 'resolution=merge-duplicates, return=representation' };
    const updated = await send('POST', '/clients', [{ id: 1, name: 'Microsoft' }], headers);
    expect(updated.status).toBe(200);
    expect(updated.headers.get('preference-applied')).toBe('resolution=merge-duplicates, return=representation');
    const mixed = await send(
      'POST',
      '/clients',
      [
        { id: 1, name: 'Microsoft' },
        { id: 120, name: 'Fresh' },
      ],
      headers,
    );
    expect(mixed.status).toBe(201);
    expect(await mixed.json()).toHaveLength(2);
  });

  it('ignores duplicates and honours on_conflict', async () => {
    const res = await send(
      'POST',
      '/clients',
      [
        { id: 2, name: 'Changed' },
        { id: 121, name: 'New' },
      ],
      {
        Prefer: 'resolution=ignore-duplicates,return=representation',
      },
    );
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual([{ id: 121, name: 'New' }]);
    expect(await rowsOf('select name from test.clients where id = 2')).toEqual([{ name: 'Apple' }]);
    const pair = await send(
      'POST',
      '/pairs?on_conflict=a,b',
      { a: 100, b: 200, label: 'merged' },
      {
        Prefer: 'resolution=merge-duplicates',
      },
    );
    expect(pair.status).toBe(200);
    expect(await rowsOf('select label from test.pairs where a = 100 and b = 200')).toEqual([{ label: 'merged' }]);
  });

  it('maps constraint violations: 409 unique and FK, 400 not-null', async () => {
    const unique = await send('POST', '/clients', { id: 1, name: 'Dup' });
    expect(unique.status).toBe(409);
    expect(await unique.json()).toMatchObject({ code: '23505', details: 'Key (id)=(1) already exists.' });
    expect((await send('POST', '/projects', { id: 130, name: 'x', client_id: 999 })).status).toBe(409);
    const notNull = await send('POST', '/clients', { id: 131, name: null });
    expect(notNull.status).toBe(400);
    expect(((await notNull.json()) as { code: string }).code).toBe('23502');
  });
});

describe('PATCH', () => {
  it('updates the filtered rows: 204, or 200 with the representation', async () => {
    const minimal = await send('PATCH', '/users?id=eq.3', { name: 'Dwight K.' });
    expect(minimal.status).toBe(204);
    expect(minimal.headers.get('content-range')).toBe('0-0/*');
    const res = await send(
      'PATCH',
      '/users?id=in.(1,2)&order=id',
      { name: 'Renamed' },
      { Prefer: 'return=representation' },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-range')).toBe('0-1/*');
    expect(((await res.json()) as { name: string }[]).map((r) => r.name)).toEqual(['Renamed', 'Renamed']);
    const none = await send('PATCH', '/users?id=eq.999', { name: 'x' }, { Prefer: 'return=representation' });
    expect(none.headers.get('content-range')).toBe('*/*');
    expect(await none.text()).toBe('[]');
  });

  it('treats {} as nothing to update', async () => {
    const res = await send('PATCH', '/users?id=eq.1', {}, { Prefer: 'return=representation' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('[]');
  });

  it('rolls back a singular PATCH that hits two rows', async () => {
    const res = await send(
      'PATCH',
      '/tasks?project_id=eq.1',
      { name: 'Bulk' },
      {
        Accept: 'application/vnd.pgrst.object+json',
        Prefer: 'return=representation',
      },
    );
    expect(res.status).toBe(406);
    expect(((await res.json()) as { details: string }).details).toBe('The result contains 2 rows');
    expect(await rowsOf('select count(*)::int as n from test.tasks where name = $1', ['Bulk'])).toEqual([{ n: 0 }]);
  });

  it('enforces max-affected with handling=strict', async () => {
    const res = await send(
      'PATCH',
      '/tasks?project_id=eq.1',
      { name: 'Capped' },
      { Prefer: 'handling=strict, max-affected=1' },
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 'PGRST124',
      details: 'The query affects 2 rows',
      hint: null,
      message: 'Query result exceeds max-affected preference constraint',
    });
    expect(await rowsOf('select count(*)::int as n from test.tasks where name = $1', ['Capped'])).toEqual([{ n: 0 }]);
    const ok = await send(
      'PATCH',
      '/tasks?id=eq.5',
      { name: 'Design iOS' },
      { Prefer: 'handling=strict, max-affected=1' },
    );
    expect(ok.status).toBe(204);
    expect(ok.headers.get('preference-applied')).toBe('handling=strict, max-affected=1');
  });

  it('rejects unknown preferences with handling=strict', async () => {
    const res = await send('PATCH', '/tasks?id=eq.5', { name: 'x' }, { Prefer: 'handling=strict, foo=bar' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 'PGRST122',
      details: 'Invalid preferences: foo=bar',
      hint: null,
      message: 'Invalid preferences given with handling=strict',
    });
  });
});

describe('PUT', () => {
  it('inserts (201) or replaces (200) one row by its primary key', async () => {
    const headers = { Prefer: 'return=representation' };
    const inserted = await send('PUT', '/pairs?a=eq.300&b=eq.1', { a: 300, b: 1, label: 'one' }, headers);
    expect(inserted.status).toBe(201);
    expect(await inserted.json()).toEqual([{ a: 300, b: 1, label: 'one' }]);
    const replaced = await send('PUT', '/pairs?a=eq.300&b=eq.1', { a: 300, b: 1, label: 'uno' }, headers);
    expect(replaced.status).toBe(200);
    const minimal = await send('PUT', '/pairs?a=eq.300&b=eq.1', { a: 300, b: 1, label: 'eins' });
    expect(minimal.status).toBe(204);
    expect(minimal.headers.get('content-range')).toBeNull();
    expect(await rowsOf('select label from test.pairs where a = 300')).toEqual([{ label: 'eins' }]);
  });

  it('works on a view whose primary key comes from its table under another name', async () => {
    const res = await send(
      'PUT',
      '/clients_renamed?client_no=eq.310',
      { client_no: 310, label: 'Via view' },
      {
        Prefer: 'return=representation',
      },
    );
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual([{ client_no: 310, label: 'Via view' }]);
  });

  it('requires exactly the primary key with eq, matching the payload, without limit', async () => {
    const partial = await send('PUT', '/pairs?a=eq.300', { a: 300, b: 1 });
    expect(partial.status).toBe(405);
    expect(((await partial.json()) as { code: string }).code).toBe('PGRST105');
    expect((await send('PUT', '/pairs?a=gt.300&b=eq.1', { a: 300, b: 1 })).status).toBe(405);
    const mismatch = await send('PUT', '/pairs?a=eq.300&b=eq.1', { a: 300, b: 2 });
    expect(mismatch.status).toBe(400);
    expect(((await mismatch.json()) as { code: string }).code).toBe('PGRST115');
    const limited = await send('PUT', '/pairs?a=eq.300&b=eq.1&limit=1', { a: 300, b: 1 });
    expect(((await limited.json()) as { code: string }).code).toBe('PGRST114');
  });
});

describe('DELETE', () => {
  it('deletes the filtered rows: 204, or 200 with the representation and a count', async () => {
    await send('POST', '/users', [
      { id: 140, name: 'D1' },
      { id: 141, name: 'D2' },
      { id: 142, name: 'D3' },
    ]);
    const minimal = await send('DELETE', '/users?id=eq.140', undefined);
    expect(minimal.status).toBe(204);
    const res = await gw.fetch('/users?id=in.(141,142)&select=id', {
      method: 'DELETE',
      headers: { Authorization: auth, Prefer: 'return=representation, count=exact' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-range')).toBe('*/2');
    expect(await res.text()).toBe('[{"id":141}, \n {"id":142}]');
  });
});
