// The limits that keep the service bounded: expired tokens are disconnected, keep-alives flow and a
// silent WebSocket peer is dropped, a slow client is dropped (too many bytes unsent, or too many
// changed rows waiting to be re-read) instead of growing memory, and shutdown tells clients to go.
import { describe, expect, it } from 'vitest';
import { ofType, openSse, openWebSocket } from './support/clients.ts';
import { useRealtime } from './support/service.ts';

const maxBufferedBytes = 64 * 1024;
const h = useRealtime({
  FLOWS_REALTIME_HEARTBEAT_MS: '100',
  FLOWS_REALTIME_MAX_BUFFERED_BYTES: String(maxBufferedBytes),
  FLOWS_REALTIME_MAX_PENDING: '5',
});

describe('tokens', () => {
  it('disconnects WebSocket and SSE clients when their token expires', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await h.tokenFor({ kind: 'operator', esco: 'A' }, exp);
    const ws = await openWebSocket(h.server.url, `/ws?token=${token}`);
    ws.send({ type: 'subscribe', table: 'flows.meter_shadows' });
    await ws.next(ofType('subscribed'));
    const { client: sse } = await openSse(`${h.server.url}/subscribe/flows/meter_shadows?token=${token}`);
    await sse.next(ofType('subscribed'));
    expect(await ws.closed).toEqual({ code: 4001, reason: 'JWT expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    expect(await ws.next(ofType('error'))).toMatchObject({ status: 401, error: { code: 'PGRST303' } });
    await sse.ended;
    expect(await sse.next(ofType('error'))).toMatchObject({ error: { code: 'PGRST303', message: 'JWT expired' } });
  });

  it('keeps a connection whose token is renewed before it expires (same role and subject)', async () => {
    const soon = Math.floor(Date.now() / 1000) + 2;
    const ws = await openWebSocket(h.server.url);
    try {
      ws.send({
        type: 'subscribe',
        table: 'flows.meter_shadows',
        token: await h.tokenFor({ kind: 'operator', esco: 'B' }, soon),
      });
      await ws.next(ofType('subscribed'));
      ws.send({ type: 'auth', token: await h.tokenFor({ kind: 'operator', esco: 'B' }) });
      await ws.next(ofType('authenticated'));
      await new Promise((r) => setTimeout(r, (soon + 1) * 1000 - Date.now()));
      await h.admin.query(`update flows.meter_shadows set csq = 20 where id = $1`, [h.fixtures.b.meters.m1.id]);
      expect(await ws.next(ofType('change'))).toMatchObject({ rows: [{ id: h.fixtures.b.meters.m1.id, csq: 20 }] });
    } finally {
      ws.close();
    }
  });
});

describe('keep-alives', () => {
  it('sends SSE comments and WebSocket pings at the configured interval', async () => {
    const token = await h.tokenFor({ kind: 'customer', customer: 'A1' });
    const { client: sse } = await openSse(`${h.server.url}/subscribe/flows/meter_shadows?token=${token}`);
    const ws = await openWebSocket(h.server.url);
    try {
      await expect.poll(() => sse.comments, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
      await expect.poll(() => ws.pings, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
    } finally {
      sse.close();
      ws.close();
    }
  });

  it('drops a WebSocket peer that answers nothing', async () => {
    const ws = await openWebSocket(h.server.url, '/ws', {}, { answerPings: false });
    await ws.closed;
    expect(ws.pings).toBeGreaterThanOrEqual(1);
  });
});

describe('back-pressure', () => {
  it('drops a client that does not read once its unsent bytes pass the limit', async () => {
    const { a } = h.fixtures;
    const before = h.server.stats().dropped;
    // Rows of ~256 KiB, so that the kernel's socket buffers fill after a few changes.
    await h.admin.query(
      `update flows.meter_shadows set tariffs_active = jsonb_build_object('pad', repeat('x', 262144)) where id = $1`,
      [a.meters.m1.id],
    );
    const token = await h.tokenFor({ kind: 'operator', esco: 'A' });
    const { client } = await openSse(
      `${h.server.url}/subscribe/flows/meter_shadows?id=eq.${a.meters.m1.id}&token=${token}`,
    );
    await client.next(ofType('subscribed'));
    client.response.pause();
    let updates = 0;
    while (h.server.stats().dropped === before && updates < 400) {
      updates += 1;
      await h.admin.query('update flows.meter_shadows set balance = $1 where id = $2', [updates, a.meters.m1.id]);
    }
    await expect.poll(() => h.server.stats().dropped, { timeout: 5000 }).toBe(before + 1);
    client.response.resume();
    await client.ended;
    // Not every change reached it: it was cut off rather than buffered without bound.
    expect(client.messages.filter(ofType('change')).length).toBeLessThan(updates);
    await expect.poll(() => h.server.stats().connections).toBe(0);
  });

  it('drops a client with more changed rows waiting to be re-read than the limit', async () => {
    const before = h.server.stats().dropped;
    const ws = await openWebSocket(h.server.url, '/ws', {
      Authorization: `Bearer ${await h.tokenFor({ kind: 'customer', customer: 'A1' })}`,
    });
    ws.send({ type: 'subscribe', table: 'flows.meter_shadows' });
    await ws.next(ofType('subscribed'));
    // Six shadows in one statement: six keys offered at once, over the limit of five.
    await h.admin.query('update flows.meter_shadows set csq = 10');
    expect(await ws.closed).toMatchObject({ code: 4002, reason: 'Client too slow: disconnected' });
    expect(await ws.next(ofType('error'))).toMatchObject({ status: 503, error: { code: 'FLRT3' } });
    expect(h.server.stats().dropped).toBe(before + 1);
  });
});

describe('the change feed', () => {
  it('disconnects clients when its LISTEN connection is lost (changes may be missed), then listens again', async () => {
    const ws = await openWebSocket(h.server.url, '/ws', {
      Authorization: `Bearer ${await h.tokenFor({ kind: 'operator', esco: 'B' })}`,
    });
    ws.send({ type: 'subscribe', table: 'flows.meter_shadows' });
    await ws.next(ofType('subscribed'));
    const { rowCount } = await h.admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and usename = 'authenticator' and query = 'LISTEN flows_realtime'`,
    );
    expect(rowCount).toBe(1);
    expect(await ws.closed).toMatchObject({ code: 4003 });
    expect(await ws.next(ofType('error'))).toMatchObject({ status: 503, error: { code: 'PGRST000' } });
    await expect.poll(() => h.server.stats().listening, { timeout: 10_000 }).toBe(true);
    expect((await fetch(`${h.server.url}/ready`)).status).toBe(200);
  });
});

describe('shutdown', () => {
  it('tells connected clients it is going away, then stops answering', async () => {
    const ws = await openWebSocket(h.server.url, '/ws', {
      Authorization: `Bearer ${await h.tokenFor({ kind: 'operator', esco: 'A' })}`,
    });
    ws.send({ type: 'subscribe', table: 'flows.meter_shadows' });
    await ws.next(ofType('subscribed'));
    await h.server.close();
    expect(await ws.closed).toMatchObject({ code: 1001 });
    await expect(fetch(`${h.server.url}/live`)).rejects.toThrow();
  });
});
