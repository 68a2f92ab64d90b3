import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshSegment, type SegmentDefinition } from '../src/segments/index.ts';
import { readsComputedTraits, readsOnlyComputedTraits } from '../src/sim/journey-sim/cadence.ts';
import { engines } from './engines.ts';
import { DAY, HOUR, Shop } from './journey-fixtures.ts';

/**
 * `shopflow simulate` ticks segments and journeys at every step of virtual time; most steps have
 * nothing to do. These tests pin down the work skipped there: the skips must leave exactly what
 * the full work would (same members, same changes, same conversions), and never drop needed work.
 */
describe.each(engines)('work skipped at idle steps (%s)', (engine) => {
  let shop: Shop;
  beforeAll(async () => {
    shop = await Shop.open(engine);
    await shop.send(['a', 'b', 'c', 'd'].map((userId) => ({ type: 'identify', userId, traits: { email: `${userId}@example.com` } })));
  });
  afterAll(() => shop.dispose());

  const members = async (segmentId: number) =>
    (
      await shop.store.query<{ user_key: number }>(
        'SELECT user_key FROM segment_members WHERE workspace_id = $1 AND segment_id = $2 ORDER BY user_key',
        [shop.ws, segmentId],
      )
    ).map((r) => Number(r.user_key));
  const changes = async (segmentId: number) =>
    (
      await shop.store.query<{ user_key: number; change: string; changed_at: number }>(
        'SELECT user_key, change, changed_at FROM segment_changes WHERE workspace_id = $1 AND segment_id = $2 ORDER BY changed_at, user_key, change',
        [shop.ws, segmentId],
      )
    ).map((r) => `${Number(r.changed_at)} ${Number(r.user_key)} ${r.change}`);
  const refreshNo = async (segmentId: number) =>
    Number(
      (
        await shop.store.query<{ n: number }>('SELECT refresh_no AS n FROM segments WHERE workspace_id = $1 AND segment_id = $2', [
          shop.ws,
          segmentId,
        ])
      )[0]!.n,
    );

  it('a segment refresh that would change nobody is skipped, with the same members and changes as a full refresh', async () => {
    // Changes with events (an order) and with time alone (the 2-day window moves on).
    const definition = { type: 'performed', event: 'Order Completed', window: { last: '2d' } } as SegmentDefinition;
    const skipping = await shop.segment('recent buyers (skipping)', definition);
    const full = await shop.segment('recent buyers (full)', definition);
    const timeline: [number, string | null][] = [
      [HOUR, null],
      [HOUR, 'a'],
      [HOUR, null],
      [HOUR, 'b'],
      [DAY, null],
      [DAY + HOUR, null], // a leaves with time alone
      [HOUR, 'a'],
      [3 * DAY, null], // both leave
      [HOUR, null],
    ];
    let skipped = 0;
    for (const [wait, buyer] of timeline) {
      shop.clock.set(shop.clock.now() + wait);
      if (buyer) await shop.track(buyer, 'Order Completed', { order_id: `o-${buyer}-${shop.clock.now()}`, total: 10 });
      const now = shop.clock.now();
      const before = await refreshNo(skipping);
      const a = await refreshSegment(shop.store, shop.ws, skipping, now, { skipIfUnchanged: true, eventsWatermark: now });
      const b = await refreshSegment(shop.store, shop.ws, full, now, { eventsWatermark: now });
      expect({ entered: a.entered, exited: a.exited, size: a.size }).toEqual({ entered: b.entered, exited: b.exited, size: b.size });
      expect(await members(skipping)).toEqual(await members(full));
      if ((await refreshNo(skipping)) === before) skipped++;
    }
    expect(await changes(skipping)).toEqual(await changes(full));
    // Entries: a, b, a again; exits: a (time), a and b (time).
    expect((await changes(full)).length).toBe(6);
    expect(skipped).toBeGreaterThanOrEqual(4);
  });

  it('a journey tick skips goal checks for orders of people not in the journey, and converts those in it', async () => {
    const journeyId = await shop.journey('Welcome', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
        { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '5d' } },
        { id: 'out', type: 'exit' },
      ],
      edges: [
        { from: 'in', to: 'wait' },
        { from: 'wait', to: 'out' },
      ],
      settings: { goal: { event: 'Order Completed' } },
    });
    shop.clock.set(shop.clock.now() + HOUR);
    await shop.track('c', 'Signed Up');
    const entered = await shop.engine.tickWorkspace(shop.ws);
    expect(entered.find((r) => r.journeyId === journeyId)).toMatchObject({ entered: 1 });

    // A tick later (the entry trigger re-reads its last events once, with an overlap)…
    shop.clock.set(shop.clock.now() + HOUR);
    await shop.engine.tickWorkspace(shop.ws);
    // … d, who is not in the journey, pays an order: the tick has nothing to do for it.
    shop.clock.set(shop.clock.now() + HOUR);
    await shop.track('d', 'Order Completed', { order_id: 'o-d', total: 20 });
    expect((await shop.engine.tickWorkspace(shop.ws)).find((r) => r.journeyId === journeyId)).toBeUndefined();
    expect((await shop.stats(journeyId)).converted).toBe(0);

    // c is: converted at this tick, with the order's revenue.
    shop.clock.set(shop.clock.now() + HOUR);
    await shop.track('c', 'Order Completed', { order_id: 'o-c', total: 30 });
    expect((await shop.engine.tickWorkspace(shop.ws)).find((r) => r.journeyId === journeyId)).toMatchObject({ converted: 1 });
    expect(await shop.stats(journeyId)).toMatchObject({ entered: 1, converted: 1, revenue: 30 });
  });
});

describe('segments the simulation refreshes once a virtual day', () => {
  it('are those that read computed traits and predictions only', () => {
    const lapsed = {
      type: 'and',
      conditions: [
        { type: 'computed', trait: 'order_count', op: 'gte', value: 1 },
        { type: 'not', condition: { type: 'computed', trait: 'last_order_at', op: 'after', value: { ago: '45d' } } },
      ],
    } as SegmentDefinition;
    expect(readsOnlyComputedTraits(lapsed)).toBe(true);
    expect(readsOnlyComputedTraits({ type: 'computed', trait: 'p_alive', op: 'lt', value: 0.3 } as SegmentDefinition)).toBe(true);
    // Events, profile traits (identify) and other segments can change at any step.
    expect(readsOnlyComputedTraits({ type: 'performed', event: 'Order Completed', window: { last: '30d' } } as SegmentDefinition)).toBe(
      false,
    );
    expect(readsOnlyComputedTraits({ type: 'trait', trait: 'city', op: 'eq', value: 'Shanghai' } as SegmentDefinition)).toBe(false);
    expect(
      readsOnlyComputedTraits({
        type: 'or',
        conditions: [lapsed, { type: 'in_segment', segmentId: 1 }],
      } as SegmentDefinition),
    ).toBe(false);
  });
});

describe('computed traits in a simulation', () => {
  const example = (name: string) =>
    JSON.parse(readFileSync(join(import.meta.dirname, '..', 'examples', 'journeys', `${name}.json`), 'utf8')) as Record<string, unknown>;

  it('are recomputed daily only when a segment, an audience condition or a wait reads one', () => {
    // Segments on order_count / last_order_at read them…
    expect(readsComputedTraits([example('dormant-recall')])).toBe(true);
    expect(readsComputedTraits([example('vip-flash-sale')])).toBe(true);
    // … a profile trait that happens to share a computed trait's name does not.
    expect(readsComputedTraits([example('new-member-first-order')])).toBe(false);
    expect(readsComputedTraits([example('cart-abandonment')])).toBe(false);
    const audience = {
      kind: 'audience',
      definition: { type: 'not', condition: { type: 'computed', trait: 'lifecycle', op: 'eq', value: 'vip' } },
    };
    expect(
      readsComputedTraits([{ nodes: [{ id: 'c', type: 'condition', cases: [{ branch: 'yes', when: audience }], otherwise: 'no' }] }]),
    ).toBe(true);
    const waitUntil = (trait: string) => ({ nodes: [{ id: 'w', type: 'wait', wait: { kind: 'trait', trait, offset: '-3d' } }] });
    expect(readsComputedTraits([waitUntil('expected_next_order_at')])).toBe(true);
    expect(readsComputedTraits([waitUntil('last_order_at')])).toBe(true);
    expect(readsComputedTraits([waitUntil('birthday')])).toBe(false);
  });
});
