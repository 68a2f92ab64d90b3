import { randomUUID } from 'node:crypto';
import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/core/clock.ts';
import { IngestBuffer, normalizeEvent } from '../src/ingest/index.ts';
import { engines, freshStore } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

describe.each(engines)('tracking API on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(engine);
  });
  afterAll(async () => h?.dispose());

  const post = (url: string, payload: unknown, auth = h.writeAuth) =>
    h.server.app.inject({
      method: 'POST',
      url,
      headers: { authorization: auth, 'content-type': 'application/json' },
      payload: payload as object,
    });
  const person = async (id: string, by = 'user_id') =>
    h.server.app.inject({ method: 'GET', url: `/api/people/${encodeURIComponent(id)}?by=${by}`, headers: { authorization: h.adminAuth } });

  it('stores a track call and shows it on the person, exactly once on retry', async () => {
    const messageId = randomUUID();
    const body = {
      userId: 'u-1',
      event: 'Order Completed',
      messageId,
      timestamp: '2026-11-01T10:00:00Z',
      properties: {
        order_id: 'o1',
        total: 99.5,
        currency: 'usd',
        products: [{ product_id: 'p1', category: 'Phones', price: 99.5, quantity: 1 }],
      },
    };
    expect((await post('/v1/track', body)).statusCode).toBe(200);
    const again = await post('/v1/track', body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ stored: 0, duplicates: 1 });
    const res = await person('u-1');
    expect(res.statusCode).toBe(200);
    const p = res.json();
    expect(p.events).toHaveLength(1);
    expect(p.events[0]).toMatchObject({
      messageId,
      event: 'Order Completed',
      timestamp: '2026-11-01T10:00:00.000Z',
      properties: { order_id: 'o1', total: 99.5 },
    });
    const [row] = await h.store.query<{ order_id: string; total: number; currency: string; category: string }>(
      'SELECT order_id, total, currency, category FROM events WHERE message_id = $1',
      [messageId],
    );
    expect(row).toEqual({ order_id: 'o1', total: 99.5, currency: 'USD', category: 'Phones' });
  });

  it('corrects client clock skew with sentAt', async () => {
    const messageId = randomUUID();
    // The client clock is one hour ahead: sentAt is one hour after now.
    const now = Date.now();
    const r = await post('/v1/track', {
      userId: 'skew',
      event: 'Product Viewed',
      messageId,
      properties: { product_id: 'p1' },
      timestamp: new Date(now + 3_600_000 - 60_000).toISOString(),
      sentAt: new Date(now + 3_600_000).toISOString(),
    });
    expect(r.statusCode).toBe(200);
    const [row] = await h.store.query<{ ts: number }>('SELECT ts FROM events WHERE message_id = $1', [messageId]);
    expect(Math.abs(row!.ts - (now - 60_000))).toBeLessThan(5_000);
  });

  it('refuses a batch with a wrongly typed field, names it, and stores nothing', async () => {
    const ok = { type: 'track', userId: 'b-1', event: 'Product Viewed', messageId: randomUUID(), properties: { product_id: 'p9' } };
    const bad = {
      type: 'track',
      userId: 'b-1',
      event: 'Order Completed',
      messageId: randomUUID(),
      properties: { order_id: 'o2', total: 'lots' },
    };
    const r = await post('/v1/batch', { batch: [ok, bad] });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'invalid_request', path: 'batch[1].properties.total' });
    const rows = await h.store.query('SELECT 1 FROM events WHERE message_id = $1', [ok.messageId]);
    expect(rows).toHaveLength(0);
  });

  it('gives clear errors for malformed JSON, missing ids, bad keys and oversize events', async () => {
    const malformed = await h.server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: h.writeAuth, 'content-type': 'application/json' },
      payload: '{"userId": ',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().code).toBe('invalid_json');
    const noId = await post('/v1/track', { event: 'X' });
    expect(noId.json()).toMatchObject({ code: 'invalid_request', path: 'userId' });
    const badKey = await post('/v1/track', { userId: 'a', event: 'X' }, `Basic ${Buffer.from('nope:').toString('base64')}`);
    expect(badKey.statusCode).toBe(401);
    expect(badKey.json().code).toBe('unauthorized');
    const big = await post('/v1/batch', { batch: [{ type: 'track', userId: 'a', event: 'X', properties: { blob: 'x'.repeat(40_000) } }] });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ code: 'payload_too_large', path: 'batch[0]' });
    const huge = await post('/v1/batch', {
      batch: Array.from({ length: 30 }, () => ({ type: 'track', userId: 'a', event: 'X', properties: { blob: 'x'.repeat(20_000) } })),
    });
    expect(huge.statusCode).toBe(413);
    const badTs = await post('/v1/identify', { userId: 'a', timestamp: 'yesterday' });
    expect(badTs.json()).toMatchObject({ code: 'invalid_request', path: 'timestamp' });
    const badPhone = await post('/v1/identify', { userId: 'a', traits: { phone: '12' } });
    expect(badPhone.json()).toMatchObject({ code: 'invalid_request', path: 'traits.phone' });
    const badLine = await post('/v1/track', {
      userId: 'a',
      event: 'Bundle Viewed',
      properties: { products: [null, { product_id: 'p', quantity: 1.5 }] },
    });
    expect(badLine.statusCode).toBe(400);
    expect(badLine.json().errors.map((e: { path: string }) => e.path)).toEqual([
      'properties.products[0]',
      'properties.products[1].quantity',
    ]);
    const badTz = await post('/v1/identify', { userId: 'a', traits: { timezone: 'Mars/Olympus' } });
    expect(badTz.json()).toMatchObject({ code: 'invalid_request', path: 'traits.timezone' });
  });

  it('refuses quantities the line-item column cannot hold, on any event, naming the field', async () => {
    const orderLine = await post('/v1/track', {
      userId: 'a',
      event: 'Order Completed',
      properties: { order_id: 'o-q', total: 5, products: [{ product_id: 'p', quantity: 2 ** 40 }] },
    });
    expect(orderLine.statusCode).toBe(400);
    expect(orderLine.json()).toMatchObject({ code: 'invalid_request', path: 'properties.products[0].quantity' });
    // A product named by the properties themselves, on a custom event and on an order.
    for (const event of ['Bundle Viewed', 'Order Placed']) {
      const single = await post('/v1/track', {
        userId: 'a',
        event,
        properties: { order_id: 'o-q', total: 5, product_id: 'p', quantity: 1.5 },
      });
      expect(single.statusCode, event).toBe(400);
      expect(single.json(), event).toMatchObject({ code: 'invalid_request', path: 'properties.quantity' });
    }
    const [row] = await h.store.query<{ n: number }>("SELECT count(*) AS n FROM events WHERE order_id = 'o-q'");
    expect(Number(row?.n)).toBe(0);
  });

  it('stores events holding NUL characters or lone surrogates, with U+FFFD in their place, on both engines', async () => {
    // JSON text as a client sends it: the escape \u0000 in an id, an event name, a property key and
    // value, context; and an escaped backslash before "u0000", which is text and stays.
    const body = String.raw`{"batch":[
      {"type":"track","userId":"nul\u0000id","event":"Viewed\u0000","properties":{"k\u0000":"a\u0000b","path":"C:\\u0000"},"context":{"ua":"x\u0000"}},
      {"type":"track","userId":"nul-2","event":"Lone\ud800 \udc00","properties":{"pair":"\ud83d\ude00"}}]}`;
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth, 'content-type': 'application/json' },
      payload: body,
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ stored: 2 });
    const p = (await person('nul\uFFFDid')).json();
    expect(p.events[0]).toMatchObject({ event: 'Viewed\uFFFD', properties: { 'k\uFFFD': 'a\uFFFDb', path: 'C:\\u0000' } });
    const [row] = await h.store.query<{ context: unknown }>("SELECT context FROM events WHERE user_id = 'nul\uFFFDid'");
    const context = typeof row?.context === 'string' ? JSON.parse(row.context) : row?.context;
    expect(context).toEqual({ ua: 'x\uFFFD' });
    // A surrogate pair is one character (😀) and stays; a lone one is replaced.
    expect((await person('nul-2')).json().events[0]).toMatchObject({ event: 'Lone\uFFFD \uFFFD', properties: { pair: '😀' } });
  });

  it('accepts events from the official Segment node client over real HTTP, exactly once', async () => {
    const base = await h.listen();
    const analytics = new Analytics({ writeKey: h.keys.writeKey, host: base, flushAt: 50, flushInterval: 50 });
    const errors: unknown[] = [];
    analytics.on('error', (e) => errors.push(e));
    analytics.identify({ userId: 'seg-1', traits: { email: 'Ann@Example.com', timezone: 'Asia/Shanghai', country: 'cn' } });
    for (let i = 0; i < 20; i++) analytics.track({ userId: 'seg-1', event: 'Product Viewed', properties: { product_id: `p${i}` } });
    await analytics.closeAndFlush({ timeout: 10_000 });
    expect(errors).toEqual([]);
    const p = (await person('ann@example.com', 'email')).json();
    expect(p.identities).toEqual(
      expect.arrayContaining([
        { type: 'user_id', value: 'seg-1' },
        { type: 'email', value: 'ann@example.com' },
      ]),
    );
    expect(p.traits).toMatchObject({ email: 'ann@example.com', timezone: 'Asia/Shanghai', country: 'CN' });
    expect(p.events.filter((e: { type: string }) => e.type === 'track')).toHaveLength(20);
    const [count] = await h.store.query<{ n: number }>(`SELECT count(*) AS n FROM events WHERE user_id = 'seg-1'`);
    expect(Number(count!.n)).toBe(21);
  });

  it('accepts page, screen, group and text/plain bodies, and rejects unknown types in a batch', async () => {
    expect((await post('/v1/page', { anonymousId: 'pg-1', name: 'Home', properties: { url: 'https://shop.example/' } })).statusCode).toBe(
      200,
    );
    expect((await post('/v1/screen', { anonymousId: 'pg-1', name: 'Cart' })).statusCode).toBe(200);
    expect((await post('/v1/group', { anonymousId: 'pg-1', groupId: 'org-1', traits: { plan: 'vip' } })).statusCode).toBe(200);
    const plain = await h.server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: h.writeAuth, 'content-type': 'text/plain' },
      payload: JSON.stringify({ anonymousId: 'pg-1', event: 'Beacon' }),
    });
    expect(plain.statusCode).toBe(200);
    const rows = await h.store.query<{ type: string; event: string | null }>(
      `SELECT type, event FROM events WHERE anonymous_id = 'pg-1' ORDER BY type`,
    );
    expect(rows).toEqual([
      { type: 'group', event: null },
      { type: 'page', event: 'Home' },
      { type: 'screen', event: 'Cart' },
      { type: 'track', event: 'Beacon' },
    ]);
    const r = await post('/v1/batch', { batch: [{ type: 'purchase', userId: 'x' }] });
    expect(r.statusCode).toBe(400);
    expect(r.json().path).toBe('batch[0].type');
  });

  it('404s an unknown person and serves the OpenAPI document', async () => {
    expect((await person('nobody')).statusCode).toBe(404);
    const doc = await h.server.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(doc.statusCode).toBe(200);
    expect(doc.json().paths['/v1/batch']).toBeDefined();
  });
});

describe('ingest backpressure', () => {
  it('answers 503 while too many events wait, and stores nothing of the refused request', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 1));
    const fresh = await freshStore('duckdb', clock);
    try {
      // A long delay keeps the first request queued while the second arrives.
      const buffer = new IngestBuffer(fresh.store, clock, { maxEvents: 1000, maxDelayMs: 50, maxQueuedEvents: 3 });
      const ev = (id: string) => {
        const r = normalizeEvent({ type: 'track', userId: 'u', event: 'X', messageId: id }, [], {
          workspaceId: 1,
          receivedAt: clock.now(),
          source: 'api',
        });
        if (!r.ok) throw new Error('invalid');
        return r.event;
      };
      const first = buffer.submit([ev('a'), ev('b')]);
      await expect(buffer.submit([ev('c'), ev('d')])).rejects.toMatchObject({ code: 'unavailable', status: 503 });
      expect(await first).toEqual({ stored: 2, duplicates: 0 });
      expect(await buffer.submit([ev('c'), ev('d')])).toEqual({ stored: 2, duplicates: 0 });
    } finally {
      await fresh.dispose();
    }
  });
});
