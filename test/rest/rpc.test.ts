// RPC (contract §8) and errors raised from SQL (§9.3).
import { describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/db/client.ts';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({
  fixture: (roles) => `${fixtureSql(roles)}
create function test.transaction_match(account_id int, transaction_id int) returns int language sql immutable
  as 'select account_id + transaction_id';
create function test.raise_unauthorized() returns void language plpgsql as $$
begin raise sqlstate 'PT401' using message = 'Sign in first'; end $$;
grant execute on function test.transaction_match(int, int), test.raise_unauthorized() to ${quoteIdent(roles.anon)};`,
  variables: () => ({ PGRST_DB_SCHEMAS: 'test' }),
});

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return gw.fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

describe('calling functions', () => {
  it('calls with named arguments by POST and GET, defaults optional', async () => {
    const res = await post('/rpc/add', { a: 1, b: 2 });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('3');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await (await gw.fetch('/rpc/add?a=5')).text()).toBe('15');
    expect(await (await post('/rpc/add', { a: 5 })).text()).toBe('15');
  });

  it('answers scalar, setof scalar, composite, OUT params and TABLE results', async () => {
    expect(await (await gw.fetch('/rpc/hello')).text()).toBe('"hi"');
    expect(await (await gw.fetch('/rpc/numbers')).text()).toBe('[1, 2, 3]');
    expect(await (await gw.fetch('/rpc/out_params?a=2')).json()).toEqual({ x: 4, y: 'y2' });
    expect(await (await gw.fetch('/rpc/table_result')).json()).toEqual([
      { n: 1, label: 'one' },
      { n: 2, label: 'two' },
    ]);
  });

  it('applies read features to set-returning functions', async () => {
    const res = await gw.fetch('/rpc/get_projects?client=1&select=name&order=id.desc&id=gt.0', {
      headers: { Prefer: 'count=exact', Range: '0-0' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('0-0/2');
    expect(await res.json()).toEqual([{ name: 'Windows 10' }]);
    const embedded = await post('/rpc/get_projects?select=name,clients(name)&limit=1&order=id', { client: 2 });
    expect(await embedded.json()).toEqual([{ name: 'IOS', clients: { name: 'Apple' } }]);
  });

  it('returns a single object with the singular media type', async () => {
    const res = await gw.fetch('/rpc/get_projects?client=2&id=eq.3&select=id', {
      headers: { Accept: 'application/vnd.pgrst.object+json' },
    });
    expect(await res.text()).toBe('{"id":3}');
  });

  it('runs volatile functions in a write transaction, void answers 204', async () => {
    const res = await post(
      '/rpc/new_client',
      { id: 200, name: 'Via RPC' },
      { Authorization: `Bearer ${await gw.token()}` },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: 200, name: 'Via RPC' });
    const noop = await gw.fetch('/rpc/noop', { method: 'POST' });
    expect(noop.status).toBe(204);
    expect(await noop.text()).toBe('');
  });

  it('passes the whole body to a single unnamed json parameter', async () => {
    expect(await (await post('/rpc/echo_json', { any: ['thing', 1] })).json()).toEqual({ any: ['thing', 1] });
    expect(await (await post('/rpc/echo_json', [1, 2])).json()).toEqual([1, 2]);
  });

  it('passes raw text and binary bodies to a single unnamed parameter', async () => {
    const text = await gw.fetch('/rpc/shout_text', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'hello',
    });
    expect(await text.json()).toBe('HELLO');
    const bytes = await gw.fetch('/rpc/byte_length', {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.from([0, 1, 2, 255]),
    });
    expect(await bytes.json()).toBe(4);
  });

  it('answers media-type handler functions with their raw result', async () => {
    const pdf = await gw.fetch('/rpc/pdf', { headers: { Accept: 'application/pdf' } });
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await pdf.arrayBuffer())).toEqual(Buffer.from([0x25, 0x50, 0x44, 0x46, 0xff]));
    const any = await gw.fetch('/rpc/pdf');
    expect(any.headers.get('content-type')).toBe('application/pdf');
    const html = await gw.fetch('/rpc/page', { headers: { Accept: 'text/html' } });
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(await html.text()).toBe('<h1>hi</h1>');
  });

  it('collects repeated GET parameters and arrays for VARIADIC', async () => {
    expect(await (await gw.fetch('/rpc/sum_all?nums=1&nums=2&nums=3')).text()).toBe('6');
    expect(await (await post('/rpc/sum_all', { nums: [4, 5] })).text()).toBe('9');
  });

  it('answers unknown functions with 404 PGRST202, as PostgREST words it', async () => {
    const res = await post('/rpc/add', { x: 1 });
    expect(res.status).toBe(404);
    // No parameter list of test.add is close enough to "(x)" for PostgREST's fuzzy search: no hint.
    expect(await res.json()).toEqual({
      code: 'PGRST202',
      details:
        'Searched for the function test.add with parameter x or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
      hint: null,
      message: 'Could not find the function test.add(x) in the schema cache',
    });
    const none = await gw.fetch('/rpc/xyzzy');
    expect(await none.json()).toEqual({
      code: 'PGRST202',
      details:
        'Searched for the function test.xyzzy without parameters, but no matches were found in the schema cache.',
      hint: null,
      message: 'Could not find the function test.xyzzy without parameters in the schema cache',
    });
    const typo = await gw.fetch('/rpc/ad?a=1&b=2');
    expect(await typo.json()).toEqual({
      code: 'PGRST202',
      details: 'Searched for the function test.ad with parameters a, b, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function test.add',
      message: 'Could not find the function test.ad(a, b) in the schema cache',
    });
  });

  it('suggests the parameter list of an existing function when the arguments do not fit', async () => {
    const res = await post('/rpc/transaction_match', { transaction_id: 1 });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      code: 'PGRST202',
      details:
        'Searched for the function test.transaction_match with parameter transaction_id or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function test.transaction_match(account_id, transaction_id)',
      message: 'Could not find the function test.transaction_match(transaction_id) in the schema cache',
    });
    const get = await gw.fetch('/rpc/add?b=1');
    expect(await get.json()).toEqual({
      code: 'PGRST202',
      details: 'Searched for the function test.add with parameter b, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function test.add(a, b)',
      message: 'Could not find the function test.add(b) in the schema cache',
    });
  });

  it('answers ambiguous overloads with 300 PGRST203', async () => {
    const res = await post('/rpc/ambiguous', { a: 1 });
    expect(res.status).toBe(300);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST203');
  });

  it('refuses other verbs with 405 PGRST101', async () => {
    const res = await gw.fetch('/rpc/add', { method: 'PATCH' });
    expect(res.status).toBe(405);
    expect(await res.json()).toEqual({
      code: 'PGRST101',
      details: null,
      hint: null,
      message: 'Cannot use the PATCH method on RPC',
    });
  });
});

describe('errors from SQL', () => {
  it('maps RAISE SQLSTATE PTxyz to status xyz', async () => {
    const res = await post('/rpc/raise_pt', {});
    expect(res.status).toBe(402);
    expect(res.headers.get('proxy-status')).toBe('PostgREST; error=PT402');
    expect(await res.text()).toBe(
      '{"code":"PT402","details":"Quota exceeded","hint":"Upgrade","message":"Payment Required"}',
    );
  });

  it('adds WWW-Authenticate: Bearer to a 401 from SQL, as PostgREST does', async () => {
    const res = await post('/rpc/raise_unauthorized', {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toEqual({ code: 'PT401', details: null, hint: null, message: 'Sign in first' });
  });

  it('gives RAISE SQLSTATE PGRST full control', async () => {
    const res = await post('/rpc/raise_pgrst', {});
    expect(res.status).toBe(332);
    expect(res.statusText).toBe('My status');
    expect(res.headers.get('x-header')).toBe('str');
    expect(await res.json()).toEqual({ code: '123', details: 'DEF', hint: 'XYZ', message: 'ABC' });
  });

  it('maps a plain RAISE to 400 P0001', async () => {
    const res = await post('/rpc/raise_plain', {});
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 'P0001', details: null, hint: null, message: 'plain failure' });
  });
});
