import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * "Bad input gets a clear 4xx, never a crash": every route of the OpenAPI document, with odd ids
 * (including a NUL), odd queries and odd bodies; the public routes outside it (links, unsubscribes,
 * slots, provider callbacks, analytics.js) with odd tokens and bodies; and the tracking API with odd
 * events (NUL, lone surrogates, deep nesting, huge numbers, impossible dates). Never a 5xx.
 */

const ids = ['0', '-1', '99999999999999999999', 'abc', '%00', 'u1', '1e400'];
const queries = ['', '?limit=-1&offset=-5', '?limit=abc&format=xml&by=zzz', '?since=notadate&user=%00&journey=abc&status=zzz'];
const bodies: unknown[] = [
  {},
  [],
  'text',
  null,
  { name: 5, definition: 'x', file: [], id: -1, userId: {}, limit: -5 },
  { name: 'a\u0000b', userId: 'u1', codes: ['\u0000', 'lone \ud800'], value: 1e308 },
  { name: 'x'.repeat(100_000) },
];

const deep: Record<string, unknown> = {};
let level = deep;
for (let i = 0; i < 3000; i++) level = level.a = {} as Record<string, unknown>;
const oddEvents: object[] = [
  { userId: 'u1', event: 'X', properties: { s: 'a\u0000b', 'k\u0000': 1, lone: 'x\ud800y', ['k\udc00']: 2 } },
  { userId: 'lone\udc00', event: 'X', context: { ua: 'nul\u0000' } },
  { userId: 'u1', event: 'X', properties: deep },
  { userId: 'u1', event: 'X', properties: { big: 1e308, neg: -0, list: Array.from({ length: 5000 }, (_, i) => i) } },
  { userId: 'u1', event: 'X', timestamp: '2026-13-45T99:99:99Z' },
  { userId: 'u1', traits: { email: 'x\ud800@b.co', phone: '+86 138 0013 8000 ext 5', birthday: '2026-02-30' } },
  { userId: 'x'.repeat(600), event: 'X' },
  { anonymousId: '', userId: '  ', event: '' },
  { userId: 'u1', event: 'X', context: { device: { id: { nested: 1 } }, timezone: 'Not/AZone' } },
];

describe.each(engines)('bad input on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(engine);
    await h.batch([
      { type: 'identify', userId: 'u1', traits: { email: 'a@b.co' } },
      { type: 'track', userId: 'u1', event: 'Order Completed', properties: { order_id: 'o1', total: 5 } },
    ]);
  });
  afterAll(async () => h?.dispose());

  const send = async (method: string, url: string, auth: string, body?: unknown) => {
    const res = await h.server.app.inject({
      method: method.toUpperCase() as 'GET',
      url,
      headers: { authorization: auth, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return res.statusCode >= 500 ? [`${method.toUpperCase()} ${url} ${JSON.stringify(body)?.slice(0, 80)} → ${res.statusCode}`] : [];
  };

  it('never answers an admin API route with a 5xx', async () => {
    const spec = (await h.server.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const failures: string[] = [];
    for (const [path, operations] of Object.entries(spec.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(operations)) {
        for (const id of path.includes('{') ? ids : ['']) {
          const url = path.replace(/\{[^}]+\}/g, id);
          if (method === 'get' || method === 'delete') {
            for (const q of queries) failures.push(...(await send(method, url + q, h.adminAuth)));
          } else {
            for (const body of bodies) failures.push(...(await send(method, url, h.adminAuth, body)));
          }
        }
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('never answers the public routes (links, unsubscribes, slots, provider callbacks, analytics.js) with a 5xx', async () => {
    const failures: string[] = [];
    const get = async (url: string) => {
      const res = await h.server.app.inject({ method: 'GET', url, headers: { authorization: h.writeAuth } });
      if (res.statusCode >= 500) failures.push(`GET ${url} → ${res.statusCode}`);
    };
    for (const token of ['%00', 'abc', 'x'.repeat(5000), 'a.b.c', '%E2%82']) {
      await get(`/u/${token}`);
      await get(`/c/${token}`);
      await get(`/s/${token}`);
      await get(`/v1/projects/${token}/settings`);
      await get(`/analytics.js/v1/${token}/analytics.min.js`);
      await get(`/analytics-next/bundles/${token}`);
      await get(`/v1/decide?slot=${token}&userId=${token}`);
    }
    const workspace = String(h.keys.workspaceId);
    for (const ws of [workspace, '%00', '99999999999999999999']) {
      for (const channel of ['sms', 'email', 'push', 'wechat', 'webhook', '%00']) {
        for (const [type, payload] of [
          ['application/x-www-form-urlencoded', 'MessageSid=a%00b&MessageStatus=delivered'],
          ['application/json', '{"id":"a\\u0000","status":"\\ud800"}'],
          ['application/json', '['],
          ['text/plain', 'x\u0000'],
        ]) {
          const url = `/v1/callbacks/${ws}/${channel}`;
          const res = await h.server.app.inject({
            method: 'POST',
            url,
            headers: { 'content-type': type as string },
            payload: payload as string,
          });
          if (res.statusCode >= 500) failures.push(`POST ${url} ${type} → ${res.statusCode}`);
        }
      }
    }
    for (const token of ['%00', 'abc']) {
      const res = await h.server.app.inject({
        method: 'POST',
        url: `/u/${token}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
      if (res.statusCode >= 500) failures.push(`POST /u/${token} → ${res.statusCode}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it('never answers the tracking API with a 5xx, and stores NUL and lone surrogates as U+FFFD', async () => {
    const failures: string[] = [];
    for (const url of ['/v1/track', '/v1/identify', '/v1/page', '/v1/alias', '/v1/group']) {
      for (const body of oddEvents) failures.push(...(await send('post', url, h.writeAuth, body)));
    }
    failures.push(...(await send('post', '/v1/batch', h.writeAuth, { batch: oddEvents.map((e) => ({ type: 'track', ...e })) })));
    // The user of a Basic header decodes to any bytes: a key holding a NUL is just unknown.
    const oddKey = `Basic ${Buffer.from(`${h.keys.writeKey}\u0000:`).toString('base64')}`;
    expect(
      (await h.server.app.inject({ method: 'POST', url: '/v1/track', headers: { authorization: oddKey }, payload: oddEvents[0] }))
        .statusCode,
    ).toBe(401);
    expect(failures).toEqual([]);
    const [row] = await h.store.query<{ n: number }>("SELECT count(*) AS n FROM events WHERE user_id = 'lone\uFFFD'");
    expect(Number(row?.n)).toBeGreaterThan(0);
  }, 60_000);
});
