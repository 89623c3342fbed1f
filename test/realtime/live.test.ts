// Live updates end to end: real writes on the isolation fixtures, the NOTIFY trigger, the service's
// re-read as each subscriber, and what arrives over SSE and WebSocket. Row-level security decides:
// a customer sees their meter's balance change and never another customer's; an operator of the
// other ESCO sees nothing.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeFrame, opcodes } from '../../src/realtime/ws-frames.ts';
import { findForbidden } from '../support/fixtures.ts';
import { ofType, openSse, openWebSocket, type Message } from './support/clients.ts';
import { useRealtime } from './support/service.ts';

const h = useRealtime();

const setBalance = (id: string, balance: string) =>
  h.admin.query('update flows.meter_shadows set balance = $1 where id = $2', [balance, id]);

/** The rows of every change message. */
const rowsOf = (messages: Message[]) =>
  messages.filter((m) => m.type === 'change').flatMap((m) => m.rows as Record<string, unknown>[]);

describe('a customer subscribed to flows.meter_shadows', () => {
  it('sees their meter’s balance change over SSE, and never another customer’s', async () => {
    const { a, b } = h.fixtures;
    const token = await h.tokenFor({ kind: 'customer', customer: 'A1' });
    const { status, client } = await openSse(`${h.server.url}/subscribe/flows/meter_shadows`, {
      Authorization: `Bearer ${token}`,
    });
    expect(status).toBe(200);
    await client.next(ofType('subscribed'));
    try {
      // Another ESCO's meter, the meter A1 moved out of (A2's now), then A1's own meter.
      await setBalance(b.meters.m1.id, '77.70');
      await setBalance(a.meters.m2.id, '66.60');
      await setBalance(a.meters.m1.id, '12.34');
      const change = await client.next(ofType('change'));
      expect(change).toMatchObject({ id: 'meter_shadows', table: 'flows.meter_shadows', op: 'UPDATE' });
      expect(rowsOf(client.messages)).toEqual([expect.objectContaining({ id: a.meters.m1.id, balance: 12.34 })]);
      expect(findForbidden(h.fixtures, client.messages, { kind: 'customer', customer: 'A1' })).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('sees the same over WebSocket, with the token in the subscribe message', async () => {
    const { a } = h.fixtures;
    const ws = await openWebSocket(h.server.url);
    try {
      ws.send({
        type: 'subscribe',
        table: 'flows.meter_shadows',
        token: await h.tokenFor({ kind: 'customer', customer: 'A2' }),
      });
      await ws.next(ofType('subscribed', 'flows.meter_shadows'));
      await setBalance(a.meters.m1.id, '1.00');
      await setBalance(a.meters.m2.id, '2.50');
      await ws.next(ofType('change'));
      expect(rowsOf(ws.messages)).toEqual([expect.objectContaining({ id: a.meters.m2.id, balance: 2.5 })]);
      expect(findForbidden(h.fixtures, ws.messages, { kind: 'customer', customer: 'A2' })).toEqual([]);
    } finally {
      ws.close();
    }
  });
});

describe('operators and customers', () => {
  it('see their ESCO’s changes only (the token in the Authorization header)', async () => {
    const { a, b } = h.fixtures;
    const ws = await openWebSocket(h.server.url, '/ws', {
      Authorization: `Bearer ${await h.tokenFor({ kind: 'operator', esco: 'B' })}`,
    });
    try {
      ws.send({ type: 'subscribe', id: 'shadows', table: 'flows.meter_shadows' });
      await ws.next(ofType('subscribed', 'shadows'));
      await setBalance(a.meters.m1.id, '3.00');
      await setBalance(a.meters.m3.id, '3.30');
      await setBalance(b.meters.m2.id, '9.90');
      await ws.next(ofType('change', 'shadows'));
      expect(rowsOf(ws.messages).map((r) => r.id)).toEqual([b.meters.m2.id]);
      expect(findForbidden(h.fixtures, ws.messages, { kind: 'operator', esco: 'B' })).toEqual([]);
    } finally {
      ws.close();
    }
  });

  it('get a bulk update as one change with every row of theirs (statement-level trigger)', async () => {
    const { a } = h.fixtures;
    const { client } = await openSse(
      `${h.server.url}/subscribe/flows/meter_shadows?token=${await h.tokenFor({ kind: 'operator', esco: 'A' })}`,
    );
    await client.next(ofType('subscribed'));
    try {
      await h.admin.query('update flows.meter_shadows set voltage = 239.5');
      const change = await client.next(ofType('change'));
      const ids = (change.rows as { id: string }[]).map((r) => r.id).sort();
      expect(ids).toEqual([a.meters.m1.id, a.meters.m2.id, a.meters.m3.id].sort());
    } finally {
      client.close();
    }
  });

  it('filter with PostgREST syntax and choose columns with select', async () => {
    const { a } = h.fixtures;
    const ws = await openWebSocket(h.server.url);
    try {
      ws.send({
        type: 'subscribe',
        id: 'm2',
        table: 'flows.meter_shadows',
        filter: `id=eq.${a.meters.m2.id}&select=id,balance`,
        token: await h.tokenFor({ kind: 'operator', esco: 'A' }),
      });
      ws.send({ type: 'subscribe', id: 'low', table: 'flows.meter_shadows', filter: 'balance=lt.0' });
      await ws.next(ofType('subscribed', 'm2'));
      await ws.next(ofType('subscribed', 'low'));
      await setBalance(a.meters.m1.id, '-4.00');
      await setBalance(a.meters.m2.id, '5.55');
      const m2 = await ws.next(ofType('change', 'm2'));
      const low = await ws.next(ofType('change', 'low'));
      expect(m2.rows).toEqual([{ id: a.meters.m2.id, balance: 5.55 }]);
      expect((low.rows as { id: string }[]).map((r) => r.id)).toEqual([a.meters.m1.id]);
      expect(ws.messages.filter(ofType('change'))).toHaveLength(2);
      ws.send({ type: 'unsubscribe', id: 'm2' });
      await ws.next(ofType('unsubscribed', 'm2'));
      await setBalance(a.meters.m2.id, '-1.00');
      await ws.next((m) => m.type === 'change' && m.id === 'low' && m !== low);
      expect(ws.messages.filter(ofType('change', 'low'))).toHaveLength(2);
      expect(ws.messages.filter(ofType('change', 'm2'))).toHaveLength(1);
    } finally {
      ws.close();
    }
  });

  it('see inserts of watched tables (a customer’s top-up; select lists the columns a customer may read)', async () => {
    const { a } = h.fixtures;
    const ws = await openWebSocket(h.server.url);
    try {
      ws.send({
        type: 'subscribe',
        id: 'all-columns',
        table: 'public.topups',
        token: await h.tokenFor({ kind: 'customer', customer: 'A1' }),
      });
      expect(await ws.next(ofType('error', 'all-columns'))).toMatchObject({ status: 403, error: { code: '42501' } });
      ws.send({ type: 'subscribe', table: 'public.topups', filter: 'select=id,amount,status' });
      await ws.next(ofType('subscribed'));
      const { rows } = await h.admin.query<{ id: string }>(
        `insert into public.topups (esco, account, meter, amount) values ($1, $2, $3, 10.00) returning id`,
        [a.id, a.customers.c1.accountId, a.meters.m1.id],
      );
      const change = await ws.next(ofType('change'));
      expect(change).toMatchObject({
        table: 'public.topups',
        op: 'INSERT',
        rows: [{ id: rows[0]!.id, amount: 10, status: 'requested' }],
      });
    } finally {
      ws.close();
    }
  });
});

describe('views', () => {
  it('stream the changes of the watched table whose primary key they carry, read through the view', async () => {
    const { a, b } = h.fixtures;
    await h.admin.query(`
      create view flows.realtime_balances with (security_invoker = true) as
        select s.id as meter, s.balance, s.esco from flows.meter_shadows s;
      grant select on flows.realtime_balances to operator;
      notify pgrst, 'reload schema'`);
    const token = await h.tokenFor({ kind: 'operator', esco: 'A' });
    const url = `${h.server.url}/subscribe/flows/realtime_balances?select=meter,balance&token=${token}`;
    // The service reloads its schema cache on the NOTIFY; until then the view is unknown (404).
    let opened = await openSse(url);
    while (opened.status === 404) opened = await openSse(url);
    expect(opened.status).toBe(200);
    const { client } = opened;
    try {
      await client.next(ofType('subscribed'));
      await setBalance(b.meters.m1.id, '8.00');
      await setBalance(a.meters.m3.id, '4.25');
      const change = await client.next(ofType('change'));
      expect(change).toMatchObject({
        table: 'flows.realtime_balances',
        rows: [{ meter: a.meters.m3.id, balance: 4.25 }],
      });
      expect(client.messages.filter(ofType('change'))).toHaveLength(1);
    } finally {
      client.close();
      await h.admin.query('drop view flows.realtime_balances');
    }
  });
});

describe('bad subscriptions get PostgREST-style errors', () => {
  const sse = async (path: string, token?: string) => {
    const { status, body } = await openSse(
      `${h.server.url}${path}`,
      token === undefined ? {} : { Authorization: `Bearer ${token}` },
    );
    return { status, body: status === 200 ? undefined : (JSON.parse(body) as Record<string, unknown>) };
  };

  it('over SSE: HTTP status and error body, nothing streamed', async () => {
    const operator = await h.tokenFor({ kind: 'operator', esco: 'A' });
    expect(await sse('/subscribe/flows/no_such_table', operator)).toMatchObject({
      status: 404,
      body: { code: 'PGRST205' },
    });
    expect(await sse('/subscribe/internal/audit_log', operator)).toMatchObject({
      status: 406,
      body: { code: 'PGRST106' },
    });
    expect(await sse('/subscribe/public/customers', operator)).toMatchObject({
      status: 400,
      body: { code: 'FLRT1', message: "The relation 'public.customers' is not streamed" },
    });
    expect(await sse('/subscribe/flows/meter_shadows?or=(id.eq.1', operator)).toMatchObject({
      status: 400,
      body: { code: 'PGRST100' },
    });
    expect(await sse('/subscribe/flows/meter_shadows?no_such_column=eq.1', operator)).toMatchObject({
      status: 400,
      body: { code: '42703' },
    });
    expect(await sse('/subscribe/flows/meter_shadows?balance=gt.abc', operator)).toMatchObject({
      status: 400,
      body: { code: '22P02' },
    });
    expect(await sse('/subscribe/flows/meter_shadows?order=id', operator)).toMatchObject({
      status: 400,
      body: { code: 'FLRT2' },
    });
    expect(await sse('/subscribe/flows/%E0%A4%A', operator)).toMatchObject({ status: 404, body: { code: 'PGRST125' } });
    expect(await sse('/subscribe/meter_shadows', operator)).toMatchObject({ status: 404, body: { code: 'PGRST125' } });
    expect(await sse('/subscribe/flows/meter_shadows', 'not.a.token')).toMatchObject({
      status: 401,
      body: { code: 'PGRST301' },
    });
    // anon may read no watched table.
    expect(await sse('/subscribe/flows/meter_shadows')).toMatchObject({ status: 401, body: { code: '42501' } });
    expect(h.server.stats().connections).toBe(0);
  });

  it('over WebSocket: an error message naming the subscription; the connection stays usable', async () => {
    const ws = await openWebSocket(h.server.url, '/ws', {
      Authorization: `Bearer ${await h.tokenFor({ kind: 'customer', customer: 'A1' })}`,
    });
    try {
      ws.send({ type: 'subscribe', id: 'x', table: 'flows.nope' });
      expect(await ws.next(ofType('error', 'x'))).toMatchObject({ status: 404, error: { code: 'PGRST205' } });
      ws.socket.write(encodeFrame(opcodes.text, Buffer.from('not json'), randomBytes(4)));
      expect(await ws.next((m) => m.type === 'error' && m.id === undefined)).toMatchObject({
        error: { code: 'FLRT2', message: 'Invalid message' },
      });
      ws.send({ type: 'subscribe', id: 'y', table: 'flows.meter_shadows', filter: 'id=zz.1' });
      expect(await ws.next(ofType('error', 'y'))).toMatchObject({ error: { code: 'FLRT2' } });
      ws.send({ type: 'subscribe', id: 'z', table: 'flows.meter_shadows', token: 'x.y.z' });
      expect(await ws.next(ofType('error', 'z'))).toMatchObject({ status: 401, error: { code: 'PGRST301' } });
      ws.send({ type: 'subscribe', id: 'ok', table: 'flows.meter_shadows' });
      await ws.next(ofType('subscribed', 'ok'));
      ws.send({ type: 'subscribe', id: 'ok', table: 'flows.meter_shadows' });
      expect(await ws.next(ofType('error', 'ok'))).toMatchObject({ error: { code: 'FLRT2' } });
      const before = ws.messages.length;
      ws.send({ type: 'auth', token: await h.tokenFor({ kind: 'operator', esco: 'A' }) });
      expect(await ws.next((m) => ws.messages.indexOf(m) >= before)).toMatchObject({
        error: { message: 'A new token must have the role and subject of the subscriptions it renews' },
      });
    } finally {
      ws.close();
    }
  });

  it('over WebSocket: takes a message in fragments and answers the client’s ping', async () => {
    const ws = await openWebSocket(h.server.url, '/ws', {
      Authorization: `Bearer ${await h.tokenFor({ kind: 'operator', esco: 'A' })}`,
    });
    try {
      const text = Buffer.from(JSON.stringify({ type: 'subscribe', id: 'split', table: 'flows.meter_shadows' }));
      ws.socket.write(encodeFrame(opcodes.text, text.subarray(0, 10), randomBytes(4), false));
      ws.socket.write(encodeFrame(opcodes.ping, Buffer.from('hi'), randomBytes(4)));
      ws.socket.write(encodeFrame(opcodes.continuation, text.subarray(10), randomBytes(4)));
      await ws.next(ofType('subscribed', 'split'));
      expect(ws.pongs).toEqual(['hi']);
    } finally {
      ws.close();
    }
  });

  it('refuses a WebSocket handshake with a bad token or on another path, with an HTTP error', async () => {
    await expect(openWebSocket(h.server.url, '/ws', { Authorization: 'Bearer a.b.c' })).rejects.toThrow(
      /^HTTP\/1\.1 401 Unauthorized[\s\S]*"code":"PGRST301"/,
    );
    await expect(openWebSocket(h.server.url, '/elsewhere')).rejects.toThrow(/^HTTP\/1\.1 404[\s\S]*PGRST125/);
  });
});

describe('health', () => {
  it('answers /live and /ready', async () => {
    expect((await fetch(`${h.server.url}/live`)).status).toBe(200);
    expect((await fetch(`${h.server.url}/ready`)).status).toBe(200);
    expect((await fetch(`${h.server.url}/nothing`)).status).toBe(404);
  });
});
