import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, VirtualClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import {
  expectedNextPurchaseIn,
  expectedPurchases,
  loadModel,
  logLikelihood,
  pAlive,
  predictFor,
  refreshPredictions,
  refreshRepurchaseCycles,
} from '../src/profiles/predictions/index.ts';
import { Rng } from '../src/sim/rng.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';

const start = Date.UTC(2026, 0, 1);
const now = start + 300 * DAY + 6 * 3_600_000; // a quarter past the day: T is fractional
const products = [
  { product_id: 'serum-1', category: 'Beauty > Skincare > Serums', price: 30 },
  { product_id: 'cream-1', category: 'Beauty>Skincare>Creams', price: 20 }, // unnormalised path on purpose
  { product_id: 'coffee-1', category: 'Grocery > Coffee', price: 12 },
];

interface Order {
  userId?: string;
  anonymousId?: string;
  ts: number;
  product: number;
  event?: string;
}

/** A seeded shop: 80 customers buying at their own pace, some of them stopping. */
function scenario(): Order[] {
  const orders: Order[] = [];
  for (let i = 0; i < 80; i++) {
    const rng = Rng.of(42, i);
    const mean = 10 + 50 * rng.next();
    const product = i % 3;
    let t = start + rng.int(0, 250) * DAY + rng.int(8, 20) * 3_600_000;
    while (t <= now) {
      orders.push({ userId: `c${i}`, ts: t, product });
      if (rng.chance(0.15)) break; // dropped out
      t += Math.max(1, Math.round(rng.exp(mean))) * DAY;
    }
  }
  // Two orders on one day are one purchase; browsing, unpaid and future orders are not purchases.
  orders.push({ userId: 'c0', ts: orders[0]!.ts + 3_600_000, product: 2 });
  orders.push({ userId: 'c1', ts: start + 5 * DAY, product: 0, event: 'Order Placed' });
  orders.push({ userId: 'c1', ts: start + 6 * DAY, product: 0, event: 'Product Viewed' });
  orders.push({ userId: 'c2', ts: now + DAY, product: 0 });
  // An anonymous shopper's order, later joined to c3 (merged: only the survivor is a person).
  orders.push({ anonymousId: 'anon-3', ts: start + 2 * DAY, product: 1 });
  return orders;
}

async function write(store: Store, ws: number, orders: readonly Order[], prefix: string) {
  const events = orders.map((o, i) => {
    const raw = {
      type: 'track',
      userId: o.userId,
      anonymousId: o.anonymousId,
      event: o.event ?? 'Order Completed',
      messageId: `${prefix}-${i}`,
      timestamp: new Date(o.ts).toISOString(),
      properties:
        o.event === 'Product Viewed'
          ? products[o.product]
          : { order_id: `${prefix}-o${i}`, total: products[o.product]!.price, products: [products[o.product]] },
    };
    const r = normalizeEvent(raw, [], { workspaceId: ws, receivedAt: now, source: 'import' });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.event;
  });
  for (let i = 0; i < events.length; i += 500) await writeBatch(store, ws, events.slice(i, i + 500), now);
}

/** (x, tx, T) in days by hand, from the scenario, per user id. */
function expectedSummaries(orders: readonly Order[]) {
  const days = new Map<string, Set<number>>();
  for (const o of orders) {
    if ((o.event ?? 'Order Completed') !== 'Order Completed' || o.ts > now) continue;
    const who = o.userId ?? 'c3'; // anon-3 is merged into c3
    if (!days.has(who)) days.set(who, new Set());
    days.get(who)!.add(Math.floor(o.ts / DAY));
  }
  return new Map(
    [...days].map(([who, set]) => {
      const sorted = [...set].sort((a, b) => a - b);
      return [who, { x: sorted.length - 1, tx: sorted.at(-1)! - sorted[0]!, T: now / DAY - sorted[0]! }];
    }),
  );
}

const byLevelItem = (a: { level: string; item: string }, b: { level: string; item: string }) =>
  a.level === b.level ? (a.item < b.item ? -1 : 1) : a.level < b.level ? -1 : 1;

/** Cycles by hand: distinct purchase days per (level, item, person), their gaps, type-7 percentiles. */
function expectedCycles(orders: readonly Order[], minIntervals: number, minBuyers: number) {
  const days = new Map<string, Set<number>>();
  const add = (level: string, item: string, who: string, day: number) => {
    const key = `${level}\u0000${item}\u0000${who}`;
    if (!days.has(key)) days.set(key, new Set());
    days.get(key)!.add(day);
  };
  for (const o of orders) {
    if ((o.event ?? 'Order Completed') !== 'Order Completed' || o.ts > now) continue;
    const who = o.userId ?? 'c3';
    const day = Math.floor(o.ts / DAY);
    const p = products[o.product]!;
    add('product', p.product_id, who, day);
    const parts = p.category.split('>').map((x) => x.trim());
    for (let n = 1; n <= parts.length; n++) add('category', parts.slice(0, n).join(' > '), who, day);
  }
  const gaps = new Map<string, { gaps: number[]; buyers: Set<string> }>();
  for (const [key, set] of days) {
    const [level, item, who] = key.split('\u0000') as [string, string, string];
    const sorted = [...set].sort((a, b) => a - b);
    const id = `${level}\u0000${item}`;
    if (!gaps.has(id)) gaps.set(id, { gaps: [], buyers: new Set() });
    for (let i = 1; i < sorted.length; i++) {
      gaps.get(id)!.gaps.push(sorted[i]! - sorted[i - 1]!);
      gaps.get(id)!.buyers.add(who);
    }
  }
  const pct = (xs: number[], f: number) => {
    const h = (xs.length - 1) * f;
    const lo = Math.floor(h);
    return xs[lo]! + (h - lo) * ((xs[Math.min(lo + 1, xs.length - 1)] ?? 0) - xs[lo]!);
  };
  return [...gaps]
    .filter(([, g]) => g.gaps.length >= minIntervals && g.buyers.size >= minBuyers)
    .map(([id, g]) => {
      const [level, item] = id.split('\u0000') as [string, string];
      const xs = g.gaps.sort((a, b) => a - b);
      const [median_days, p25_days, p75_days] = [pct(xs, 0.5), pct(xs, 0.25), pct(xs, 0.75)];
      return { level, item, median_days, p25_days, p75_days, buyers: g.buyers.size, intervals: xs.length };
    })
    .sort(byLevelItem);
}

const predictionsOf = async (store: Store, ws: number) =>
  store.query<Record<string, number | null>>(
    `SELECT user_key, repeat_purchases, recency_days, age_days, p_alive, expected_purchases_30d, expected_purchases_90d,
       expected_next_order_at, computed_at FROM customer_predictions WHERE workspace_id = $1 ORDER BY user_key`,
    [ws],
  );

describe.each(engines)('predictions on %s', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  let ws: number;
  const orders = scenario();
  const keyOf = async (userId: string) =>
    Number(
      (
        await store.query<{ user_key: number }>(
          `SELECT user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id' AND value = $2`,
          [ws, userId],
        )
      )[0]!.user_key,
    );

  beforeAll(async () => {
    const fresh = await freshStore(engine, new VirtualClock(now));
    store = fresh.store;
    dispose = fresh.dispose;
    ws = (await createWorkspace(store, 'p', now)).workspaceId;
    await write(store, ws, orders, 'm');
    const alias = normalizeEvent({ type: 'alias', userId: 'c3', previousId: 'anon-3', messageId: 'alias-3' }, [], {
      workspaceId: ws,
      receivedAt: now,
      source: 'api',
    });
    if (!alias.ok) throw new Error('invalid alias');
    await writeBatch(store, ws, [alias.event], now);
  });
  afterAll(async () => dispose?.());

  it('summarises paid orders per distinct day, fits the model and predicts every buyer', async () => {
    const result = await refreshPredictions(store, ws, now);
    expect(result).toMatchObject({ status: 'ok', refitted: true, people: 80 });
    const model = (await loadModel(store, ws))!;
    const want = expectedSummaries(orders);
    expect(model.customers).toBe(80);
    expect(model.logLikelihood).toBeCloseTo(logLikelihood(model.params, [...want.values()]), 6);
    const rows = await predictionsOf(store, ws);
    expect(rows).toHaveLength(80);
    for (const [userId, c] of want) {
      const key = await keyOf(userId);
      const r = rows.find((x) => Number(x.user_key) === key)!;
      expect({ x: r.repeat_purchases, tx: r.recency_days, T: r.age_days }, userId).toEqual({ x: c.x, tx: c.tx, T: expect.closeTo(c.T, 9) });
      expect(r.p_alive).toBeCloseTo(pAlive(model.params, c), 9);
      expect(r.expected_purchases_30d).toBeCloseTo(expectedPurchases(model.params, 30, c), 9);
      expect(r.expected_purchases_90d).toBeCloseTo(expectedPurchases(model.params, 90, c), 9);
      const next = expectedNextPurchaseIn(model.params, c, 365, 1 / 24);
      expect(r.expected_next_order_at).toBe(next === null ? null : now + Math.round(next * DAY));
      expect(r.computed_at).toBe(now);
    }
    const c0 = want.get('c0')!;
    const on = await predictFor(store, ws, await keyOf('c0'), 45, now);
    expect(on).toMatchObject({ repeatPurchases: c0.x, pAlive: expect.closeTo(pAlive(model.params, c0), 12) });
    expect(on!.expectedPurchases).toBeCloseTo(expectedPurchases(model.params, 45, c0), 12);
    expect(await predictFor(store, ws, -1, 30, now)).toBeNull();
  });

  it('repurchase cycles: per product and per category level, with minimum samples', async () => {
    const want = expectedCycles(orders, 5, 3);
    expect(await refreshRepurchaseCycles(store, ws, now)).toEqual({ items: want.length });
    const rows = await store.query<Record<string, unknown>>(
      `SELECT level, item, median_days, p25_days, p75_days, buyers, intervals, computed_at FROM repurchase_cycles
       WHERE workspace_id = $1`,
      [ws],
    );
    // Sorted here, not by ORDER BY: PostgreSQL's collation may order 'A > B' differently.
    rows.sort((p, q) => byLevelItem(p as { level: string; item: string }, q as { level: string; item: string }));
    expect(rows.map((r) => `${r.level}:${r.item}`)).toEqual(want.map((w) => `${w.level}:${w.item}`));
    expect(rows.map((r) => r.item)).toContain('Beauty > Skincare > Creams'); // normalised path
    for (const [i, w] of want.entries()) {
      expect(rows[i]).toEqual({
        ...w,
        median_days: expect.closeTo(w.median_days, 9),
        p25_days: expect.closeTo(w.p25_days, 9),
        p75_days: expect.closeTo(w.p75_days, 9),
        computed_at: now,
      });
    }
    // A stricter minimum leaves fewer items; a rerun replaces rather than adds.
    const strict = await refreshRepurchaseCycles(store, ws, now, { minIntervals: 1000 });
    expect(strict).toEqual({ items: 0 });
  });

  it('an incremental refresh of the changed people equals a full refresh with the same model', async () => {
    await refreshPredictions(store, ws, now);
    const fitted = await loadModel(store, ws);
    const more: Order[] = [
      { userId: 'c5', ts: now - 2 * DAY, product: 0 },
      { userId: 'c6', ts: now - 3 * DAY, product: 2 },
      { userId: 'new-buyer', ts: now - 10 * DAY, product: 1 },
    ];
    await write(store, ws, more, 'inc');
    const keys = await Promise.all(['c5', 'c6', 'new-buyer'].map(keyOf));
    const inc = await refreshPredictions(store, ws, now, { userKeys: keys });
    expect(inc).toMatchObject({ status: 'ok', refitted: false, people: 3 });
    expect(await loadModel(store, ws)).toEqual(fitted);
    const incremental = await predictionsOf(store, ws);
    expect(incremental).toHaveLength(81);
    const full = await refreshPredictions(store, ws, now, { reuseModel: true });
    expect(full).toMatchObject({ refitted: false, people: 81 });
    expect(await predictionsOf(store, ws)).toEqual(incremental);
  });

  it('leaves a workspace with too few buyers without predictions', async () => {
    const small = (await createWorkspace(store, 'small', now)).workspaceId;
    await write(
      store,
      small,
      orders.filter((o) => o.userId === 'c0' || o.userId === 'c1'),
      's',
    );
    expect(await refreshPredictions(store, small, now)).toMatchObject({ status: 'insufficient_data', people: 0 });
    expect(await predictionsOf(store, small)).toEqual([]);
  });
});
