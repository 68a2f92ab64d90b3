import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { DAY, VirtualClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { createStaticSegment, listMembers } from '../src/segments/index.ts';
import { createLookalikeSegment, findLookalikes, runLookalike } from '../src/segments/lookalike.ts';
import { buildMember, runDemo, shopContextFor } from '../src/sim/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';

const now = Date.UTC(2026, 2, 1);

/** Raw Segment-spec events of one planted person. */
function planted(userId: string, kind: 'phone' | 'grocery' | 'browser' | 'idle', i: number): Record<string, unknown>[] {
  const at = (daysAgo: number) => new Date(now - daysAgo * DAY - i * 60_000).toISOString();
  const line = (category: string, price: number) => ({ product_id: `${category}-${i % 3}`, category, price });
  const ev = (n: number, event: string, daysAgo: number, properties: Record<string, unknown>) => ({
    type: 'track',
    userId,
    event,
    messageId: `${userId}-${n}`,
    timestamp: at(daysAgo),
    properties,
  });
  const identify = { type: 'identify', userId, messageId: `${userId}-id`, timestamp: at(40), traits: { name: userId } };
  switch (kind) {
    case 'phone': {
      const price = 600 + 25 * (i % 8);
      const views = [1, 2, 3, 4, 5].map((d) => ev(d, 'Product Viewed', 3 + d, line('Electronics > Phones > Smartphones', price)));
      const orders = [0, 1].map((k) =>
        ev(10 + k, 'Order Completed', 2 + 12 * k, {
          order_id: `${userId}-o${k}`,
          total: price,
          products: [line('Electronics > Phones > Smartphones', price)],
        }),
      );
      return [identify, ...views, ...orders];
    }
    case 'grocery': {
      const orders = [0, 1, 2].map((k) =>
        ev(10 + k, 'Order Completed', 5 + 9 * k, {
          order_id: `${userId}-o${k}`,
          total: 20 + i,
          products: [line('Groceries > Fresh > Fruit', 20 + i)],
        }),
      );
      return [identify, ev(1, 'Product Viewed', 6, line('Groceries > Fresh > Fruit', 20)), ...orders];
    }
    case 'browser':
      return [identify, ...[1, 2, 3, 4].map((d) => ev(d, 'Product Viewed', 2 * d + (i % 5), line('Apparel > Tops > T-shirts', 15)))];
    case 'idle':
      return [identify];
    default: {
      const never: never = kind;
      throw new Error(never);
    }
  }
}

describe.each(engines)('lookalike on %s', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  let ws: number;
  const clock = new VirtualClock(now);
  const keys = new Map<string, number>();
  const group = (prefix: string) => [...keys].filter(([id]) => id.startsWith(prefix)).map(([, k]) => k);
  let seedId: number;

  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine, clock));
    ws = (await createWorkspace(store, 'look', clock.now())).workspaceId;
    const raw: Record<string, unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      raw.push(...planted(`seed-${i}`, 'phone', i), ...planted(`twin-${i}`, 'phone', i + 3));
      raw.push(...planted(`grocer-${i}`, 'grocery', i), ...planted(`browser-${i}`, 'browser', i), ...planted(`idle-${i}`, 'idle', i));
    }
    const ctx = { workspaceId: ws, receivedAt: now, source: 'api' as const };
    const events = raw.map((r) => {
      const n = normalizeEvent(r, [], ctx);
      if (!n.ok) throw new Error(JSON.stringify(n.errors));
      return n.event;
    });
    await writeBatch(store, ws, events, now);
    const rows = await store.query<{ value: string; user_key: number }>(
      `SELECT value, user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id'`,
      [ws],
    );
    for (const r of rows) keys.set(r.value, Number(r.user_key));
    seedId = (await createStaticSegment(store, ws, { name: 'phone buyers', userKeys: group('seed-') }, now)).segmentId;
  });
  afterAll(async () => dispose?.());

  it('ranks people who behave like the seed first and never returns the seed', async () => {
    const all = await runLookalike(store, ws, seedId, { size: 100, now });
    expect(all.seedCategories.leaves[0]).toBe('Electronics > Phones > Smartphones');
    expect(all.people).toHaveLength(40 - 8);
    expect(new Set(all.people.slice(0, 8).map((p) => p.userKey))).toEqual(new Set(group('twin-')));
    const seed = new Set(group('seed-'));
    expect(all.people.some((p) => seed.has(p.userKey))).toBe(false);
    // Best first; twins point the seed's way, the grocers the opposite way.
    for (let k = 1; k < all.people.length; k++) expect(all.people[k - 1]!.score).toBeGreaterThanOrEqual(all.people[k]!.score);
    expect(all.people[7]!.score).toBeGreaterThan(0.9);
    const grocers = new Set(group('grocer-'));
    for (const p of all.people.filter((x) => grocers.has(x.userKey))) expect(p.score).toBeLessThan(0);
  });

  it('leaves out an excluded segment and stores a result as a static segment', async () => {
    const twins = await createStaticSegment(store, ws, { name: 'already targeted', userKeys: group('twin-').slice(0, 4) }, now);
    const found = await findLookalikes(store, ws, seedId, { size: 4, now, excludeSegmentId: twins.segmentId });
    expect(new Set(found.map((p) => p.userKey))).toEqual(new Set(group('twin-').slice(4)));

    const made = await createLookalikeSegment(store, ws, seedId, { name: 'phone lookalikes', size: 8, now });
    expect(made.segment).toMatchObject({ kind: 'static', memberCount: 8 });
    expect(made.scores.count).toBe(8);
    expect(made.scores.max!).toBeGreaterThanOrEqual(made.scores.median!);
    expect(made.scores.median!).toBeGreaterThanOrEqual(made.scores.min!);
    const { members } = await listMembers(store, ws, made.segment.segmentId, { limit: 100 });
    expect(new Set(members.map((m) => m.userKey))).toEqual(new Set(group('twin-')));
  });

  it('refuses an empty seed and a bad size', async () => {
    const empty = await createStaticSegment(store, ws, { name: 'empty', userKeys: [] }, now);
    await expect(findLookalikes(store, ws, empty.segmentId, { size: 5, now })).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(findLookalikes(store, ws, seedId, { size: -1, now })).rejects.toMatchObject({ path: 'size' });
    await expect(findLookalikes(store, ws, 9999, { size: 5, now })).rejects.toMatchObject({ code: 'not_found' });
  });
});

/**
 * Quality on simulated shoppers: the group is defined by a hidden preference the shop never sees
 * (favourite top category = Mother & Baby, i.e. parents). Half of the group is the seed; how much
 * of the other half does the top N find, against picking N people at random?
 */
describe.each(engines)('lookalike quality on simulated shoppers (%s)', (engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  const endAt = Date.UTC(2025, 10, 20);
  const clock = new VirtualClock(endAt + 60_000);
  const options = { dataset: 'shop' as const, users: 1000, days: 45, seed: 11, endAt };

  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine, clock));
  });
  afterAll(async () => dispose?.());

  it('finds the rest of a hidden behaviour group several times better than random', async () => {
    const ws = (await createWorkspace(store, 'sim', clock.now())).workspaceId;
    await runDemo(store, clock, ws, options, silentProgress);
    const ctx = shopContextFor(options);
    const rows = await store.query<{ value: string; user_key: number }>(
      `SELECT value, user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id'`,
      [ws],
    );
    const favourite = (w: Record<string, number>) => Object.entries(w).sort((a, b) => b[1] - a[1])[0]![0];
    const parents = rows
      .map((r) => ({ key: Number(r.user_key), index: Number(r.value.split('-')[2]) }))
      .sort((a, b) => a.index - b.index)
      .filter((r) => favourite(buildMember(options.seed, r.index, ctx.start, ctx.end).topWeights) === 'Mother & Baby');
    const seed = parents.filter((_, i) => i % 2 === 0).map((p) => p.key);
    const target = new Set(parents.filter((_, i) => i % 2 === 1).map((p) => p.key));
    expect(target.size).toBeGreaterThan(30);
    const seedId = (await createStaticSegment(store, ws, { name: 'parents (half)', userKeys: seed }, clock.now())).segmentId;
    const found = await findLookalikes(store, ws, seedId, { size: target.size, now: endAt });
    const recall = found.filter((p) => target.has(p.userKey)).length / target.size;
    const random = target.size / (rows.length - seed.length);
    console.log(
      `lookalike quality (${engine}): group ${parents.length}, recall@${target.size} ${recall.toFixed(3)}, random ${random.toFixed(3)}`,
    );
    expect(recall).toBeGreaterThan(3 * random);
  });
});
