import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, VirtualClock } from '../src/core/clock.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * The audiences end to end through the HTTP API on both engines: defined, estimated,
 * saved, listed, kept current by the realtime refresher (new events and time passing).
 */
const start = Date.parse('2026-06-30T00:00:00Z');

const interestGroup = {
  type: 'and',
  conditions: [
    { type: 'performed', event: ['Product Added', 'Product Added to Wishlist'], window: { from: '10d', to: '3d' } },
    { type: 'not_performed', event: 'Order Completed', window: { last: '10d' } },
  ],
};
const dormantHighValue = {
  type: 'and',
  conditions: [
    { type: 'performed', event: 'Order Completed', window: { last: '180d' }, count: { op: 'at_least', value: 2 } },
    { type: 'event_time', event: 'Order Completed', which: 'last', op: 'before', value: { ago: '60d' } },
  ],
};
const newWithoutFirstOrder = {
  type: 'and',
  conditions: [
    { type: 'performed', event: 'Signed Up', window: { last: '30d' } },
    { type: 'not_performed', event: 'Order Completed' },
  ],
};
const viewedRecommendedNotBought = {
  type: 'sequence',
  first: { event: 'Product Viewed', where: [{ property: 'recommendation_id', op: 'exists' }] },
  // biome-ignore lint/suspicious/noThenProperty: a sequence's second step (plain data, never awaited)
  then: { event: 'Order Completed' },
  thenPerformed: false,
  within: '15d',
  window: { last: '30d' },
  sameProduct: true,
};

function track(userId: string, event: string, daysAgo: number, properties: Record<string, unknown> = {}) {
  return { type: 'track', userId, event, properties, timestamp: new Date(start - daysAgo * DAY).toISOString() };
}
const order = (userId: string, daysAgo: number, productId = 'p-1', total = 300) =>
  track(userId, 'Order Completed', daysAgo, {
    order_id: `${userId}-${daysAgo}`,
    total,
    currency: 'USD',
    products: [{ product_id: productId, category: 'Electronics > Phones', price: total, quantity: 1 }],
  });
const view = (userId: string, daysAgo: number, productId: string) =>
  track(userId, 'Product Viewed', daysAgo, { product_id: productId, recommendation_id: 'rec-1' });

const history = [
  track('u1', 'Product Added', 5, { product_id: 'p-1' }),
  track('u2', 'Product Added to Wishlist', 7, { product_id: 'p-1' }),
  order('u2', 2),
  track('u3', 'Product Added', 1, { product_id: 'p-1' }),
  order('u4', 150),
  order('u4', 90),
  order('u5', 100),
  order('u5', 20),
  track('u6', 'Signed Up', 10),
  track('u7', 'Signed Up', 10),
  order('u7', 8),
  view('u8', 20, 'p-8'),
  view('u9', 20, 'p-9'),
  order('u9', 15, 'p-9'),
  view('u10', 5, 'p-10'),
  view('u11', 20, 'p-11'),
  order('u11', 18, 'p-other'),
];

describe.each(engines)('segments API on %s', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(start);
  const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
    h.server.app.inject({ method, url, headers: { authorization: h.adminAuth }, payload });
  const userIdsOf = (people: { userId: string | null }[]) => people.map((p) => p.userId).sort();
  const members = async (id: number) => userIdsOf((await api('GET', `/api/segments/${id}/members?limit=100`)).json().members);

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch: history },
    });
    expect(res.statusCode).toBe(200);
  });
  afterAll(async () => h?.dispose());

  it.each([
    ['interest group', interestGroup, ['u1']],
    ['dormant high value', dormantHighValue, ['u4']],
    ['new without a first order', newWithoutFirstOrder, ['u6']],
    ['viewed a recommended product but did not buy it in 15 days', viewedRecommendedNotBought, ['u11', 'u8']],
  ])('estimates, saves and lists the %s audience', async (name, definition, expected) => {
    const estimate = await api('POST', '/api/segments/estimate', { definition, sample: 5 });
    expect(estimate.statusCode).toBe(200);
    expect(estimate.json().size).toBe(expected.length);
    expect(userIdsOf(estimate.json().sample)).toEqual(expected);

    const created = await api('POST', '/api/segments', { name, definition });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name, memberCount: expected.length, refresh: { mode: 'realtime' } });
    expect(await members(created.json().segmentId)).toEqual(expected);
    const listed = (await api('GET', '/api/segments')).json().segments.map((s: { name: string }) => s.name);
    expect(listed).toContain(name);
  });

  it('keeps a realtime segment current: new events, and time passing without events', async () => {
    const seg = (await api('GET', '/api/segments')).json().segments.find((s: { name: string }) => s.name === 'interest group');
    expect(await members(seg.segmentId)).toEqual(['u1']);

    // u1 pays: leaves on the next tick (an incremental re-evaluation of the people with new events).
    clock.advance(30_000); // less than the time-driven refresh interval (60 s)
    await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch: [{ ...order('u1', 0), timestamp: new Date(clock.now()).toISOString() }] },
    });
    const tick = await h.server.segments.tickWorkspace(h.keys.workspaceId);
    expect(tick.find((r) => r.segmentId === seg.segmentId)).toMatchObject({ incremental: true, exited: 1 });
    expect(await members(seg.segmentId)).toEqual([]);

    // Six days later u3's cart (then 1 day old) is 7 days old: u3 enters without any new event.
    clock.advance(6 * DAY);
    await h.server.segments.tickWorkspace(h.keys.workspaceId);
    expect(await members(seg.segmentId)).toEqual(['u3']);

    const changes = (await api('GET', `/api/segments/${seg.segmentId}/changes`)).json().changes;
    expect(changes.map((c: { change: string }) => c.change)).toEqual(['entered', 'exited', 'entered']);
    const after = changes[1];
    const later = (
      await api('GET', `/api/segments/${seg.segmentId}/changes?afterRefresh=${after.refreshNo}&afterUserKey=${after.userKey}`)
    ).json();
    expect(later.changes).toHaveLength(1);
  });

  it('refuses bad definitions naming the node, unknown segments and unknown ids', async () => {
    const bad = await api('POST', '/api/segments/estimate', {
      definition: { type: 'and', conditions: [{ type: 'performed', event: 'X', window: { from: 'ten days', to: '3d' } }] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_request', path: expect.stringContaining('definition.conditions[0].window') });

    const missing = await api('POST', '/api/segments', { name: 'uses a ghost', definition: { type: 'in_segment', segmentId: 999 } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ path: 'definition.segmentId' });

    expect((await api('GET', '/api/segments/999')).statusCode).toBe(404);
    expect((await api('GET', '/api/segments/abc')).json()).toMatchObject({ code: 'invalid_request', path: 'id' });
    const dupe = await api('POST', '/api/segments', { name: 'interest group', definition: interestGroup });
    expect(dupe.statusCode).toBe(409);
  });

  it('exports members as CSV and as a DMP audience with hashed identifiers only, and builds a lookalike', async () => {
    const dormant = (await api('GET', '/api/segments')).json().segments.find((s: { name: string }) => s.name === 'dormant high value');
    const csv = await api('GET', `/api/segments/${dormant.segmentId}/export?format=csv&traits=plan`);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const [header, row, ...rest] = csv.body.trim().split(/\r?\n/);
    expect(header).toBe('user_key,user_id,email,phone,entered_at,plan');
    expect(row).toContain(',u4,');
    expect(rest).toEqual([]);

    const dmp = await api('GET', `/api/segments/${dormant.segmentId}/export?format=dmp`);
    expect(dmp.statusCode).toBe(200); // u4 has no email or phone: a header and no rows, nothing raw
    expect(dmp.body).not.toContain('u4');
    expect((await api('GET', `/api/segments/${dormant.segmentId}/export?format=xml`)).json()).toMatchObject({ path: 'format' });

    const lookalike = await api('POST', '/api/segments/lookalike', { seedSegmentId: dormant.segmentId, name: 'like dormant', size: 3 });
    expect(lookalike.statusCode).toBe(201);
    expect(lookalike.json()).toMatchObject({ kind: 'static', name: 'like dormant' });
    expect(lookalike.json().memberCount).toBeLessThanOrEqual(3);
    const like = userIdsOf((await api('GET', `/api/segments/${lookalike.json().segmentId}/members`)).json().members);
    expect(like).not.toContain('u4'); // the seed itself is never a lookalike
    expect((await api('POST', '/api/segments/lookalike', { seedSegmentId: 999, name: 'x', size: 3 })).statusCode).toBe(404);
  });

  it('uses one segment in another, and archives only unused segments', async () => {
    const list = (await api('GET', '/api/segments')).json().segments;
    const dormant = list.find((s: { name: string }) => s.name === 'dormant high value');
    const combined = await api('POST', '/api/segments', {
      name: 'dormant, half',
      definition: {
        type: 'and',
        conditions: [
          { type: 'in_segment', segmentId: dormant.segmentId },
          { type: 'random_bucket', from: 0, to: 100 },
        ],
      },
      refresh: { mode: 'scheduled', cron: '0 9 * * 1', timezone: 'Asia/Shanghai' },
    });
    expect(combined.statusCode).toBe(201);
    expect(combined.json().memberCount).toBe(1);
    expect(combined.json().nextRefreshAt).toBeGreaterThan(clock.now());
    expect((await api('DELETE', `/api/segments/${dormant.segmentId}`)).statusCode).toBe(409);
    expect((await api('DELETE', `/api/segments/${combined.json().segmentId}`)).statusCode).toBe(204);
    expect((await api('DELETE', `/api/segments/${dormant.segmentId}`)).statusCode).toBe(204);
  });

  it('describes the segment API and definition schema in OpenAPI', async () => {
    const doc = (await h.server.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/segments', '/api/segments/estimate', '/api/segments/{id}/changes']),
    );
    expect(JSON.stringify(doc.components.schemas.SegmentDefinition)).toContain('random_bucket');
  });
});
