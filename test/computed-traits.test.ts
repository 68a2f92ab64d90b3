import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE, VirtualClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import {
  defaultLifecycleRules,
  getLifecycleRules,
  reapplyLifecycle,
  refreshComputedTraits,
  saveLifecycleRules,
} from '../src/profiles/computed-traits/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const NOW = Date.UTC(2026, 5, 1); // 2026-06-01T00:00Z, summer time in New York and Berlin
/** An instant `days` before NOW at the given UTC hour and minute. */
const at = (days: number, utcHour = 2, minute = 15) => NOW - days * DAY - 24 * HOUR + utcHour * HOUR + minute * MINUTE;

type Raw = Record<string, unknown>;
let seq = 0;
const track = (userId: string, event: string, ts: number, properties: Raw = {}, context: Raw = {}): Raw => ({
  type: 'track',
  userId,
  event,
  timestamp: new Date(ts).toISOString(),
  properties,
  context,
  messageId: `ct-${++seq}`,
});
const identify = (userId: string, traits: Raw): Raw => ({ type: 'identify', userId, traits, messageId: `ct-${++seq}` });
const order = (userId: string, id: string, ts: number, total: number, category: string, extra: Raw = {}, context: Raw = {}) =>
  track(
    userId,
    'Order Completed',
    ts,
    { order_id: id, total, products: [{ product_id: `p-${id}`, category, price: total }], ...extra },
    context,
  );
const view = (userId: string, ts: number, category: string, context: Raw = {}) =>
  track(userId, 'Product Viewed', ts, { product_id: `v-${category}`, category }, context);
const ny = { timezone: 'America/New_York' };

/** Batch A: the scenario people (see each person's comment for what they exercise). */
function batchA(): Raw[] {
  return [
    // ann: Shanghai, 3 paid orders (one partly refunded, one with a coupon), an unpaid order,
    // clicks on SMS, a conversion by email, pushes only delivered.
    identify('ann', { timezone: 'Asia/Shanghai' }),
    order('ann', 'a1', at(100), 100, 'Apparel > Tops > Shirts', { coupon: 'WELCOME10', discount: 10 }),
    order('ann', 'a2', at(20), 50, 'Apparel > Bottoms > Shorts'),
    order('ann', 'a3', at(5), 80, 'Shoes > Sneakers > Running'),
    track('ann', 'Order Refunded', at(4), { order_id: 'a3', total: 30 }),
    track('ann', 'Order Placed', at(3), { order_id: 'a4', total: 999 }),
    ...[0, 1, 2].map(() => view('ann', at(1), 'Apparel > Tops > T-shirts')),
    view('ann', at(1), 'Apparel>Tops>Shirts'),
    track('ann', 'Message Clicked', at(2), { channel: 'sms', journey_id: 'j1' }),
    track('ann', 'Message Clicked', at(6), { channel: 'sms', journey_id: 'j1' }),
    track('ann', 'Journey Converted', at(5), { channel: 'email', journey_id: 'j2' }),
    ...[1, 2, 3, 4, 5].map((d) => track('ann', 'Message Delivered', at(d, 13), { channel: 'push', journey_id: 'j3' })),
    track('ann', 'Product Added', at(7, 13), { product_id: 'x', category: 'Shoes > Sneakers > Running' }),
    // bob: no timezone trait, New York in the event context; one order via Coupon Applied; one
    // order fully refunded (no total) and one cancelled after payment: neither counts.
    order('bob', 'b1', at(10, 14, 30), 300, 'Home > Kitchen > Knives', {}, ny),
    track('bob', 'Coupon Applied', at(10, 14, 20), { order_id: 'b1', coupon_id: 'C5' }, ny),
    order('bob', 'b2', at(9, 14, 30), 70, 'Home > Kitchen > Pans', {}, ny),
    track('bob', 'Order Refunded', at(2, 14, 30), { order_id: 'b2' }, ny),
    order('bob', 'b3', at(8, 14, 30), 90, 'Home > Kitchen > Pans', {}, ny),
    track('bob', 'Order Cancelled', at(8, 15, 30), { order_id: 'b3' }, ny),
    track('bob', 'Message Clicked', at(6, 14, 30), { channel: 'sms' }, ny),
    track('bob', 'Message Clicked', at(3, 14, 30), { channel: 'email' }, ny),
    // cat, dan: one old order each (dormant, churned); fay: one order 45 days ago (returning).
    order('cat', 'c1', at(200), 40, 'Apparel > Tops > Shirts'),
    order('dan', 'd1', at(400), 60, 'Apparel > Tops > Shirts'),
    order('fay', 'f1', at(45), 80, 'Apparel > Tops > Shirts'),
    // gus: New York trait; two orders 150 and 120 days ago (returning, not active); activity at
    // 10:xx local in winter (UTC−5) and summer (UTC−4).
    identify('gus', ny),
    order('gus', 'g1', at(150, 15, 10), 35, 'Apparel > Tops > Shirts'),
    order('gus', 'g2', at(120, 15, 10), 35, 'Apparel > Tops > Shirts'),
    view('gus', at(30, 14, 10), 'Apparel > Tops > Shirts'),
    view('gus', at(31, 14, 10), 'Apparel > Tops > Shirts'),
    // eve: Berlin, views only (a prospect) in a two-level category.
    identify('eve', { timezone: 'Europe/Berlin' }),
    view('eve', at(3, 20), 'Beauty > Skincare'),
    view('eve', at(4, 20), 'Beauty > Skincare'),
    view('eve', at(4, 21), 'Beauty > Makeup'),
  ];
}

async function send(store: Store, ws: number, raws: Raw[], receivedAt: number) {
  const events = raws.map((raw, i) => {
    const r = normalizeEvent(raw, [i], { workspaceId: ws, receivedAt, source: 'api' });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.event;
  });
  await writeBatch(store, ws, events, receivedAt);
}

type Traits = Record<string, unknown>;
async function traitsByUser(store: Store, ws: number): Promise<Record<string, Traits>> {
  const rows = await store.query<Traits & { uid: string }>(
    `SELECT i.value AS uid, c.* FROM computed_traits c JOIN identities i ON i.workspace_id = c.workspace_id AND i.user_key = c.user_key
     AND i.type = 'user_id' WHERE c.workspace_id = $1 ORDER BY i.value`,
    [ws],
  );
  return Object.fromEntries(
    rows.map(({ uid, workspace_id: _w, user_key: _k, ...t }) => [
      uid,
      { ...t, category_affinity: typeof t.category_affinity === 'string' ? JSON.parse(t.category_affinity) : t.category_affinity },
    ]),
  );
}

/** Affinity decay of an interaction at `ts`: half-life 90 days. */
const decay = (ts: number) => 2 ** (-(NOW - ts) / DAY / 90);

describe.each(engines)('computed traits on %s', (engine) => {
  const clock = new VirtualClock(NOW);
  let store: Store;
  let ws: number;
  let dispose: () => Promise<void>;
  let t: Record<string, Traits>;
  beforeAll(async () => {
    const fresh = await freshStore(engine, clock);
    store = fresh.store;
    dispose = fresh.dispose;
    ws = (await createWorkspace(store, 'traits', NOW)).workspaceId;
    await send(store, ws, batchA(), NOW);
    const result = await refreshComputedTraits(store, ws, NOW);
    expect(result).toMatchObject({ mode: 'full', people: 7, buyers: 6 });
    t = await traitsByUser(store, ws);
  });
  afterAll(async () => dispose?.());

  it('counts paid orders net of refunds and cancellations', () => {
    expect(t.ann).toMatchObject({
      order_count: 3,
      total_spend: 200,
      avg_order_value: 66.67,
      first_order_at: at(100),
      last_order_at: at(5),
      avg_days_between_orders: 47.5,
      discount_sensitivity: 1 / 3,
      computed_at: NOW,
    });
    expect(t.bob).toMatchObject({ order_count: 1, total_spend: 300, avg_days_between_orders: null, discount_sensitivity: 1 });
    expect(t.eve).toMatchObject({
      order_count: 0,
      total_spend: 0,
      avg_order_value: null,
      first_order_at: null,
      discount_sensitivity: null,
    });
  });

  it('scores RFM in quintiles over the buyers', () => {
    const scores = Object.fromEntries(Object.entries(t).map(([u, x]) => [u, x.rfm_score]));
    expect(scores).toEqual({ ann: '554', bob: '415', cat: '111', dan: '111', eve: null, fay: '313', gus: '242' });
    expect(t.ann).toMatchObject({ rfm_recency: 5, rfm_frequency: 5, rfm_monetary: 4 });
  });

  it('assigns lifecycle stages with the default rules', () => {
    const stages = Object.fromEntries(Object.entries(t).map(([u, x]) => [u, x.lifecycle]));
    expect(stages).toEqual({
      ann: 'active_returning',
      bob: 'new',
      cat: 'dormant',
      dan: 'churned',
      eve: 'prospect',
      fay: 'returning',
      gus: 'returning',
    });
  });

  it('derives category favourites down the tree and normalised affinity', () => {
    // Purchases weigh 5, carts 3, views 1; half-life 90 days.
    const s = {
      running: 5 * decay(at(5)) + 3 * decay(at(7, 13)),
      shorts: 5 * decay(at(20)),
      shirts: 5 * decay(at(100)) + decay(at(1)),
      tshirts: 3 * decay(at(1)),
    };
    // Apparel beats Shoes and Tops beats Bottoms, so the favourite leaf is Shirts even though
    // Running is the single best leaf.
    expect(t.ann).toMatchObject({
      favourite_top_category: 'Apparel',
      favourite_mid_category: 'Apparel > Tops',
      favourite_category: 'Apparel > Tops > Shirts',
    });
    const total = s.running + s.shorts + s.shirts + s.tshirts;
    const aff = t.ann!.category_affinity as { category: string; score: number }[];
    expect(aff.map((a) => a.category)).toEqual([
      'Shoes > Sneakers > Running',
      'Apparel > Bottoms > Shorts',
      'Apparel > Tops > Shirts',
      'Apparel > Tops > T-shirts',
    ]);
    expect(aff[0]!.score).toBeCloseTo(s.running / total, 3);
    expect(aff[3]!.score).toBeCloseTo(s.tshirts / total, 3);
    expect(t.eve).toMatchObject({
      favourite_top_category: 'Beauty',
      favourite_mid_category: null,
      favourite_category: 'Beauty > Skincare',
    });
  });

  it('picks the channel with most responses and the usual local hour', () => {
    expect(t.ann).toMatchObject({ preferred_channel: 'sms', active_hour: 10 });
    expect(t.bob).toMatchObject({ preferred_channel: 'email', active_hour: 10 });
    expect(t.gus).toMatchObject({ preferred_channel: null, active_hour: 10 });
    expect(t.eve).toMatchObject({ active_hour: 22 });
    expect(t.cat).toMatchObject({ active_hour: null, preferred_channel: null });
  });

  it('applies changed lifecycle rules, validated', async () => {
    await expect(saveLifecycleRules(store, ws, { ...defaultLifecycleRules, newWithinDays: 5, activeMinOrders: 4 }, NOW)).resolves.toBe(
      undefined,
    );
    await reapplyLifecycle(store, ws, NOW);
    const changed = await traitsByUser(store, ws);
    expect(changed.bob!.lifecycle).toBe('returning');
    expect(changed.ann!.lifecycle).toBe('returning');
    expect(await getLifecycleRules(store, ws)).toMatchObject({ newWithinDays: 5, activeMinOrders: 4, churnedAfterDays: 365 });
    await saveLifecycleRules(store, ws, defaultLifecycleRules, NOW);
    await reapplyLifecycle(store, ws, NOW);
    expect((await traitsByUser(store, ws)).bob!.lifecycle).toBe('new');
  });

  it('an incremental refresh of the people touched by new events equals a full refresh', async () => {
    const later = NOW + 2 * DAY;
    clock.set(later);
    const batchB = [
      order('ann', 'a5', later - HOUR, 500, 'Shoes > Sneakers > Running'),
      order('hal', 'h1', later - 2 * HOUR, 1000, 'Home > Kitchen > Knives'),
      track('cat', 'Message Clicked', later - 3 * HOUR, { channel: 'wechat' }),
      order('cat', 'c2', later - 3 * HOUR, 45, 'Apparel > Tops > Shirts'),
    ];
    await send(store, ws, batchB, later);
    const touched = await store.query<{ user_key: number }>(
      'SELECT DISTINCT user_key FROM events WHERE workspace_id = $1 AND received_at >= $2',
      [ws, later],
    );
    const inc = await refreshComputedTraits(store, ws, later, { userKeys: touched.map((r) => r.user_key) });
    expect(inc).toMatchObject({ mode: 'incremental', people: 3, buyers: 3 });
    const incremental = await traitsByUser(store, ws);
    expect(incremental.cat).toMatchObject({ order_count: 2, preferred_channel: 'wechat', lifecycle: 'active_returning' });
    expect(incremental.hal).toMatchObject({ order_count: 1, lifecycle: 'new', rfm_monetary: 5 });
    await refreshComputedTraits(store, ws, later);
    // computed_at says when each row was written; everything else must be identical.
    const strip = (all: Record<string, Traits>) => Object.fromEntries(Object.entries(all).map(([u, { computed_at: _, ...x }]) => [u, x]));
    expect(strip(await traitsByUser(store, ws))).toEqual(strip(incremental));
  });
});

describe.each(engines)('lifecycle settings API on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(engine, new VirtualClock(NOW));
  });
  afterAll(async () => h?.dispose());
  const api = (method: 'GET' | 'PUT' | 'POST', url: string, payload?: object) =>
    h.server.app.inject({ method, url, headers: { authorization: h.adminAuth }, payload });

  it('reads defaults, saves valid rules, refuses bad ones naming the field, refreshes', async () => {
    expect((await api('GET', '/api/settings/lifecycle')).json()).toEqual(defaultLifecycleRules);
    const put = await api('PUT', '/api/settings/lifecycle', { newWithinDays: 14, dormantAfterDays: 120 });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ ...defaultLifecycleRules, newWithinDays: 14, dormantAfterDays: 120 });
    expect((await api('GET', '/api/settings/lifecycle')).json()).toMatchObject({ newWithinDays: 14, dormantAfterDays: 120 });

    const bad = await api('PUT', '/api/settings/lifecycle', { dormantAfterDays: 400 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_request', path: 'churnedAfterDays' });
    expect((await api('PUT', '/api/settings/lifecycle', { newWithinDays: -1 })).json()).toMatchObject({ path: 'newWithinDays' });
    expect((await api('PUT', '/api/settings/lifecycle', { newWithinDayz: 3 })).statusCode).toBe(400);
    expect((await h.server.app.inject({ method: 'GET', url: '/api/settings/lifecycle' })).statusCode).toBe(401);

    const refresh = await api('POST', '/api/traits/refresh');
    expect(refresh.statusCode).toBe(200);
    expect(refresh.json()).toMatchObject({ mode: 'full', people: 0, buyers: 0, durationMs: expect.any(Number) });
  });
});
