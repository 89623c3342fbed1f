// Reads (contract §5, §6): filters, logic trees, select, order, ranges, counts, media types.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { fixtureSql } from './support/fixture.ts';
import { useGateway } from './support/gateway.ts';

const gw = useGateway({ fixture: fixtureSql, variables: () => ({ PGRST_DB_SCHEMAS: 'test,other' }) });

async function json(path: string, init?: RequestInit): Promise<unknown> {
  const res = await gw.fetch(path, init);
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return res.json();
}

const names = async (path: string) => ((await json(path)) as { name: string }[]).map((r) => r.name);

/** Sends `request` on a socket of its own and returns everything the gateway answers until it closes. */
function rawExchange(request: string): Promise<string> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function parseRaw(text: string): { status: string; headers: Map<string, string>; body: string } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [status = '', ...lines] = head.split('\r\n');
  const headers = new Map(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { status, headers, body };
}

describe('plain reads', () => {
  it('answers the json_agg text byte for byte, with PostgREST headers', async () => {
    const res = await gw.fetch('/clients?order=id');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(
      '[{"id":1,"name":"Microsoft"}, \n {"id":2,"name":"Apple"}, \n {"id":3,"name":"Google"}]',
    );
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-range')).toBe('0-2/*');
    expect(res.headers.get('content-length')).toBe('84');
    expect(res.headers.get('content-profile')).toBe('test');
    expect(res.headers.get('content-location')).toBe('/clients?order=id');
  });

  it('answers a repeated query string by its own Accept, Range and Prefer: count', async () => {
    const path = '/clients?order=id&select=id';
    for (let round = 0; round < 2; round++) {
      expect(await (await gw.fetch(path)).text()).toBe('[{"id":1}, \n {"id":2}, \n {"id":3}]');
      const one = await gw.fetch(path, { headers: { Range: '1-1' } });
      expect([one.status, one.headers.get('content-range'), await one.text()]).toEqual([200, '1-1/*', '[{"id":2}]']);
      const counted = await gw.fetch(path, { headers: { Range: '0-0', Prefer: 'count=exact' } });
      expect([counted.status, counted.headers.get('content-range')]).toEqual([206, '0-0/3']);
      const csv = await gw.fetch(path, { headers: { Accept: 'text/csv' } });
      expect(await csv.text()).toBe('id\n1\n2\n3');
      const head = await gw.fetch(path, { method: 'HEAD' });
      expect([head.status, await head.text()]).toEqual([200, '']);
    }
  });

  it('reads views and other exposed schemas through Accept-Profile', async () => {
    expect(await names('/projects_view?id=lt.3&order=id')).toEqual(['Windows 7', 'Windows 10']);
    const res = await gw.fetch('/things', { headers: { 'Accept-Profile': 'other' } });
    expect(await res.json()).toEqual([{ id: 1, label: 'other thing' }]);
    expect(res.headers.get('content-profile')).toBe('other');
  });

  it('rejects an unknown profile with 406 PGRST106', async () => {
    const res = await gw.fetch('/things', { headers: { 'Accept-Profile': 'nope' } });
    expect(res.status).toBe(406);
    expect(await res.json()).toEqual({
      code: 'PGRST106',
      details: null,
      hint: 'Only the following schemas are exposed: test, other',
      message: 'Invalid schema: nope',
    });
  });

  it('answers unknown tables with 404 PGRST205 and a suggestion', async () => {
    const res = await gw.fetch('/client');
    expect(res.status).toBe(404);
    expect(res.headers.get('proxy-status')).toBe('PostgREST; error=PGRST205');
    expect(await res.text()).toBe(
      `{"code":"PGRST205","details":null,"hint":"Perhaps you meant the table 'test.clients'","message":"Could not find the table 'test.client' in the schema cache"}`,
    );
  });

  it('answers invalid paths and verbs', async () => {
    expect((await gw.fetch('/a/b')).status).toBe(404);
    expect(((await (await gw.fetch('/rpc/a/b')).json()) as { code: string }).code).toBe('PGRST125');
    const res = await gw.fetch('/clients', { method: 'PROPFIND' });
    expect(res.status).toBe(405);
    expect(((await res.json()) as { message: string }).message).toBe('Unsupported HTTP method: PROPFIND');
  });

  it('answers methods node:http cannot parse with 405 PGRST117 (PGRST101 on RPC)', async () => {
    const foo = parseRaw(await rawExchange('FOO /clients HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(foo.status).toBe('HTTP/1.1 405 Method Not Allowed');
    expect(foo.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(foo.headers.get('proxy-status')).toBe('PostgREST; error=PGRST117');
    expect(foo.headers.get('connection')).toBe('close');
    expect(foo.headers.get('content-length')).toBe(String(Buffer.byteLength(foo.body)));
    expect(JSON.parse(foo.body)).toEqual({
      code: 'PGRST117',
      details: null,
      hint: null,
      message: 'Unsupported HTTP method: FOO',
    });
    const rpc = parseRaw(await rawExchange('BREW /rpc/add HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(JSON.parse(rpc.body)).toMatchObject({ code: 'PGRST101', message: 'Cannot use the BREW method on RPC' });
    const path = parseRaw(await rawExchange('FOO /a/b HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(JSON.parse(path.body)).toMatchObject({ code: 'PGRST125' });
    const badTarget = parseRaw(await rawExchange('FOO http://[ HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(JSON.parse(badTarget.body)).toMatchObject({ code: 'PGRST125' });
    const connectMethod = parseRaw(await rawExchange('CONNECT /clients HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(connectMethod.status).toBe('HTTP/1.1 405 Method Not Allowed');
    expect(JSON.parse(connectMethod.body)).toMatchObject({ message: 'Unsupported HTTP method: CONNECT' });
    // A request line that is not HTTP at all stays a bare 400.
    expect(parseRaw(await rawExchange('\u0001\u0002 nonsense\r\n\r\n')).status).toBe('HTTP/1.1 400 Bad Request');
  });
});

describe('filters', () => {
  it.each([
    ['id=eq.1', ['Microsoft']],
    ['id=neq.1', ['Apple', 'Google']],
    ['id=gt.1', ['Apple', 'Google']],
    ['id=gte.2', ['Apple', 'Google']],
    ['id=lt.2', ['Microsoft']],
    ['id=lte.2', ['Microsoft', 'Apple']],
    ['name=like.*oo*', ['Google']],
    ['name=ilike.*APP*', ['Apple']],
    ['name=match.^M', ['Microsoft']],
    ['name=imatch.^m', ['Microsoft']],
    ['id=in.(1,3)', ['Microsoft', 'Google']],
    ['id=in.()', []],
    ['id=not.in.(1,3)', ['Apple']],
    ['id=isdistinct.2', ['Microsoft', 'Google']],
    ['id=eq(any).{1,2}', ['Microsoft', 'Apple']],
    ['name=like(any).{M*,G*}', ['Microsoft', 'Google']],
    ['name=not.like(all).{*o*,*f*}', ['Apple', 'Google']],
    ['id=gt.1&id=lt.3', ['Apple']],
    ['name=eq.Apple&id=eq.1', []],
  ])('%s', async (query, expected) => {
    expect(await names(`/clients?${query}&order=id`)).toEqual(expected);
  });

  it.each([
    ['name=in.("date, dried",apple)', ['apple', 'date, dried']],
    ['price=is.null', ['carrot']],
    ['price=is.not_null', ['apple', 'banana', 'date, dried']],
    ['price=not.is.null', ['apple', 'banana', 'date, dried']],
    ['price=is.NULL', ['carrot']],
    ['tags=cs.{fruit}', ['apple', 'banana']],
    ['tags=cd.{fruit,red,green}', ['apple', 'date, dried']],
    ['tags=ov.{red,vegetable}', ['apple', 'carrot']],
    ['data->>color=eq.red', ['apple']],
    ['data->size->>w=gt.4', ['banana']],
    ['data=cs.{"color":"brown"}', ['date, dried']],
    ['body=fts.fox', ['apple']],
    ['body=plfts.lazy dogs', ['banana']],
    ['body=phfts(english).quick brown', ['apple']],
    ['body=wfts.quick or lazy', ['apple', 'banana']],
    ['body=not.fts.fox', ['banana', 'date, dried']],
    ['name=like.date*', ['date, dried']],
    ['name=eq.date%2C+dried', ['date, dried']],
  ])('%s', async (query, expected) => {
    expect(await names(`/items?${query}&order=id`)).toEqual(expected);
  });

  it('ignores unknown preferences, prototype names included', async () => {
    const res = await gw.fetch('/clients?id=eq.1', { headers: { Prefer: 'toString=1, __proto__=x, constructor' } });
    expect(res.status).toBe(200);
  });

  it('ignores parameters without an operator, as PostgREST does', async () => {
    expect(await names('/clients?id=1&order=id')).toEqual(['Microsoft', 'Apple', 'Google']);
    expect(await names('/clients?id=foo.1&limit=x&order=id')).toEqual(['Microsoft', 'Apple', 'Google']);
  });

  it('rejects operator expressions that do not parse with 400 PGRST100', async () => {
    for (const query of [
      'price=is.maybe',
      'id=in.1,2',
      'id=eq(some).{1}',
      'id=not.x',
      'projects.id=1',
      'id=not.constructor.1',
    ]) {
      const res = await gw.fetch(`/items?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('PGRST100');
    }
  });

  it('passes unknown columns to PostgreSQL (42703, 400)', async () => {
    const res = await gw.fetch('/clients?nope=eq.1');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: '42703', message: 'column clients.nope does not exist' });
  });
});

describe('logic trees', () => {
  it.each([
    ['or=(id.eq.1,id.eq.3)', ['Microsoft', 'Google']],
    ['and=(id.gt.1,id.lt.3)', ['Apple']],
    ['not.or=(id.eq.1,id.eq.3)', ['Apple']],
    ['or=(id.eq.1,and(id.gt.1,name.like.G*))', ['Microsoft', 'Google']],
    ['or=(name.eq."Apple",id.in.(1,2))', ['Microsoft', 'Apple']],
    ['or=(id.not.eq.1,name.eq.Microsoft)&id=lt.3', ['Microsoft', 'Apple']],
    ['or=(id.eq(any).{1,3})', ['Microsoft', 'Google']],
  ])('%s', async (query, expected) => {
    expect(await names(`/clients?${query}&order=id`)).toEqual(expected);
  });

  it('keeps quoted values with commas and parentheses whole', async () => {
    expect(await names('/items?or=(name.eq."date, dried",name.eq.carrot)&order=id')).toEqual(['carrot', 'date, dried']);
    expect(await names('/items?or=(data->>color.eq.red,tags.cs.{vegetable})&order=id')).toEqual(['apple', 'carrot']);
  });

  it('rejects a malformed tree', async () => {
    const res = await gw.fetch('/clients?or=(id.eq.1');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST100');
  });
});

describe('select', () => {
  it('renames, casts and follows JSON paths', async () => {
    expect(await json('/items?select=label:name,price::text,data->>color,w:data->size->w&id=eq.1')).toEqual([
      { label: 'apple', price: '1.50', color: 'red', w: 3 },
    ]);
    expect(await json('/items?select=first:data->list->0,data->list->-1&id=eq.1')).toEqual([{ first: 1, '-1': 2 }]);
  });

  it('accepts whitespace, quoted names and an empty select', async () => {
    expect(await json('/clients?select= id , "name" &id=eq.1')).toEqual([{ id: 1, name: 'Microsoft' }]);
    expect(await json('/clients?select=&id=eq.1')).toEqual([{ id: 1, name: 'Microsoft' }]);
  });

  it('refuses aggregates (disabled) with 400 PGRST123', async () => {
    const res = await gw.fetch('/items?select=price.sum()');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST123');
  });

  it('answers an unknown column with 400 42703', async () => {
    const res = await gw.fetch('/clients?select=id,nope');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('42703');
  });
});

describe('order', () => {
  it('orders by several columns with directions and nulls placement', async () => {
    expect(await names('/items?order=price.desc.nullslast')).toEqual(['date, dried', 'apple', 'banana', 'carrot']);
    expect(await names('/items?order=price.asc.nullsfirst')).toEqual(['carrot', 'banana', 'apple', 'date, dried']);
    expect(await names('/items?order=qty,name.desc')).toEqual(['date, dried', 'carrot', 'banana', 'apple']);
    expect(await names('/items?order=data->>color.desc.nullslast,id')).toEqual([
      'banana',
      'apple',
      'date, dried',
      'carrot',
    ]);
  });

  it('rejects a bad order term', async () => {
    const res = await gw.fetch('/items?order=price.sideways');
    expect(res.status).toBe(400);
  });
});

describe('limits, ranges and counts', () => {
  it('applies limit and offset', async () => {
    const res = await gw.fetch('/clients?order=id&limit=1&offset=1');
    expect(await res.json()).toEqual([{ id: 2, name: 'Apple' }]);
    expect(res.headers.get('content-range')).toBe('1-1/*');
  });

  it('answers limit=0 with [] and */*', async () => {
    const res = await gw.fetch('/clients?limit=0');
    expect(await res.text()).toBe('[]');
    expect(res.headers.get('content-range')).toBe('*/*');
  });

  it('answers a negative limit with 416 PGRST103', async () => {
    const res = await gw.fetch('/clients?limit=-1');
    expect(res.status).toBe(416);
    expect(await res.json()).toEqual({
      code: 'PGRST103',
      details: 'Limit should be greater than or equal to zero.',
      hint: null,
      message: 'Requested range not satisfiable',
    });
  });

  it('counts exactly: 206 for a partial page, 200 for all of it', async () => {
    const partial = await gw.fetch('/projects?order=id&limit=2', { headers: { Prefer: 'count=exact' } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe('0-1/5');
    expect(partial.headers.get('preference-applied')).toBe('count=exact');
    const all = await gw.fetch('/projects?client_id=eq.1', { headers: { Prefer: 'count=exact' } });
    expect(all.status).toBe(200);
    expect(all.headers.get('content-range')).toBe('0-1/2');
    const none = await gw.fetch('/projects?id=eq.99', { headers: { Prefer: 'count=exact' } });
    expect(none.status).toBe(200);
    expect(none.headers.get('content-range')).toBe('*/0');
  });

  it('answers an offset past the end with 416 and a complete body', async () => {
    const res = await gw.fetch('/projects?offset=10', { headers: { Prefer: 'count=exact' } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('*/5');
    const text = await res.text();
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(JSON.parse(text)).toEqual({
      code: 'PGRST103',
      details: 'An offset of 10 was requested, but there are only 5 rows.',
      hint: null,
      message: 'Requested range not satisfiable',
    });
  });

  it('honours the Range header on GET, intersected with limit/offset', async () => {
    const res = await gw.fetch('/projects?order=id', { headers: { Range: '1-2', 'Range-Unit': 'items' } });
    expect(((await res.json()) as { id: number }[]).map((r) => r.id)).toEqual([2, 3]);
    expect(res.headers.get('content-range')).toBe('1-2/*');
    const both = await gw.fetch('/projects?order=id&offset=1&limit=5', { headers: { Range: '0-1' } });
    expect(((await both.json()) as { id: number }[]).map((r) => r.id)).toEqual([2]);
    const open = await gw.fetch('/projects?order=id', { headers: { Range: '3-' } });
    expect(((await open.json()) as { id: number }[]).map((r) => r.id)).toEqual([4, 5]);
    const bad = await gw.fetch('/projects', { headers: { Range: '3-1' } });
    expect(bad.status).toBe(416);
    expect(((await bad.json()) as { details: string }).details).toBe(
      'The lower boundary must be lower than or equal to the upper boundary in the Range header.',
    );
  });

  it('gives planned and estimated counts', async () => {
    for (const count of ['planned', 'estimated']) {
      const res = await gw.fetch('/projects?limit=1', { headers: { Prefer: `count=${count}` } });
      expect(res.headers.get('content-range')).toMatch(/^0-0\/\d+$/);
      expect(res.headers.get('preference-applied')).toBe(`count=${count}`);
    }
  });

  it('answers HEAD like GET without a body', async () => {
    const res = await gw.fetch('/projects?limit=2', { method: 'HEAD', headers: { Prefer: 'count=exact' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('0-1/5');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-length')).toBeNull();
    expect(await res.text()).toBe('');
  });
});

describe('media types', () => {
  const object = 'application/vnd.pgrst.object+json';

  it('answers one row as an object with the singular media type', async () => {
    const res = await gw.fetch('/clients?id=eq.1', { headers: { Accept: object } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"id":1,"name":"Microsoft"}');
    expect(res.headers.get('content-type')).toBe('application/vnd.pgrst.object+json; charset=utf-8');
  });

  it('answers 406 PGRST116 when the count is not one', async () => {
    for (const [query, n] of [
      ['id=gt.0', 3],
      ['id=eq.9', 0],
    ] as const) {
      const res = await gw.fetch(`/clients?${query}`, { headers: { Accept: object } });
      expect(res.status).toBe(406);
      expect(await res.json()).toEqual({
        code: 'PGRST116',
        details: `The result contains ${n} rows`,
        hint: null,
        message: 'Cannot coerce the result to a single JSON object',
      });
    }
  });

  it('writes CSV', async () => {
    const res = await gw.fetch('/items?select=id,name,price&order=id', { headers: { Accept: 'text/csv' } });
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(await res.text()).toBe('id,name,price\n1,apple,1.50\n2,banana,0.25\n3,carrot,\n4,"date, dried",3.00');
  });

  it('strips nulls on request', async () => {
    const res = await gw.fetch('/items?select=name,price&id=eq.3', {
      headers: { Accept: 'application/vnd.pgrst.array+json;nulls=stripped' },
    });
    expect(await res.json()).toEqual([{ name: 'carrot' }]);
    expect(res.headers.get('content-type')).toBe('application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8');
    const single = await gw.fetch('/items?select=name,price&id=eq.3', {
      headers: { Accept: 'application/vnd.pgrst.object+json;nulls=stripped' },
    });
    expect(await single.text()).toBe('{"name":"carrot"}');
  });

  it('honours q-values and answers 406 PGRST107 when nothing fits', async () => {
    const res = await gw.fetch('/clients?id=eq.1', { headers: { Accept: 'text/csv;q=0.5, application/json' } });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const bad = await gw.fetch('/clients', { headers: { Accept: 'text/html, image/png' } });
    expect(bad.status).toBe(406);
    expect(await bad.json()).toEqual({
      code: 'PGRST107',
      details: null,
      hint: null,
      message: 'None of these media types are available: text/html, image/png',
    });
  });
});
