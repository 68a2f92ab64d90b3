import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../src/core/buckets.ts';
import { engines } from './engines.ts';
import { DAY, Shop } from './journey-fixtures.ts';
import { recall } from './scenario-journeys.ts';

const people = Array.from({ length: 120 }, (_, i) => `p${i}`);

describe.each(engines)('dormant high-value recall with holdout (%s)', (engine) => {
  let shop: Shop;
  let journeyId: number;
  let holdout: Set<string>;
  beforeAll(async () => {
    shop = await Shop.open(engine);
    await shop.send(people.map((userId) => ({ type: 'identify', userId, traits: { email: `${userId}@example.com` } })));
    // Computed traits as the nightly job would leave them: everyone dormant, every other one high-value.
    for (const [i, userId] of people.entries()) {
      await shop.store.query(
        `INSERT INTO computed_traits (workspace_id, user_key, order_count, total_spend, lifecycle, computed_at) VALUES ($1, $2, 3, $3, 'dormant', $4)`,
        [shop.ws, shop.key(userId), i % 2 === 0 ? 900 : 50, shop.clock.now()],
      );
    }
    const segmentId = await shop.segment('Dormant high value', {
      type: 'and',
      conditions: [
        { type: 'computed', trait: 'lifecycle', op: 'eq', value: 'dormant' },
        { type: 'computed', trait: 'total_spend', op: 'gte', value: 500 },
      ],
    } as never);
    journeyId = await shop.journey('Dormant recall', recall(segmentId));
    holdout = new Set(people.filter((p, i) => i % 2 === 0 && bucketOf(shop.key(p), `journey:${journeyId}`) < 10));
    await shop.tick();
  });
  afterAll(() => shop.dispose());

  it('enrols the audience and draws a stable ~10 % holdout (the same draw in SQL as in JS)', async () => {
    const stats = await shop.stats(journeyId);
    expect(stats.entered).toBe(60);
    expect(stats.holdout.entered).toBe(holdout.size);
    expect(holdout.size).toBeGreaterThan(0);
    expect(holdout.size).toBeLessThan(15);
    for (const p of holdout) expect((await shop.path(journeyId, p))[0]!.holdout).toBe(true);
  });

  it('sends on day 0, 7, 14 and 28 to the test group and nothing to the holdout; buyers leave', async () => {
    const treated = people.filter((p, i) => i % 2 === 0 && !holdout.has(p));
    const control = [...holdout];
    await shop.advance(10 * DAY, DAY / 2);
    const buyers: [string, number][] = [
      [treated[0]!, 100],
      [treated[1]!, 200],
      [treated[2]!, 300],
      [control[0]!, 50],
    ];
    for (const [who, total] of buyers) await shop.track(who, 'Order Completed', { order_id: `o-${who}`, total });
    await shop.advance(19 * DAY, DAY / 2);
    const full = treated[3]!;
    expect(await shop.sent(journeyId, full)).toEqual([
      'd0:we-miss-you',
      'd7:we-miss-you-2',
      'd14:coupon',
      'd14-msg:recall-coupon',
      'd28:last-chance',
    ]);
    const times = (await shop.path(journeyId, full))[0]!.outbox.map((o) => o.at);
    expect(times.map((t) => Math.round((t - times[0]!) / DAY))).toEqual([0, 7, 14, 14, 28]);
    expect(await shop.sent(journeyId, treated[0]!)).toEqual(['d0:we-miss-you', 'd7:we-miss-you-2']);
    for (const c of control) expect(await shop.sent(journeyId, c)).toEqual([]);
    // The control group walked the same path (same waits), only silently.
    expect((await shop.path(journeyId, control[1] ?? control[0]!))[0]!.steps.map((s) => s.nodeId)).toEqual(
      (await shop.path(journeyId, full))[0]!.steps.map((s) => s.nodeId),
    );
  });

  it('counts conversions and revenue per group, the basis of lift', async () => {
    const t = 60 - holdout.size;
    const stats = await shop.stats(journeyId);
    expect(stats).toMatchObject({ entered: 60, converted: 4, revenue: 650, completed: 56, active: 0 });
    expect(stats.holdout).toEqual({ entered: holdout.size, converted: 1, revenue: 50 });
    expect(stats.outbox).toEqual({ message: 4 * (t - 3) + 2 * 3, coupon: t - 3 });
    // The lift: 3 of the test group against 1 of the holdout; far too few to tell.
    const lift = stats.lift!;
    expect(lift.testRate).toBeCloseTo(3 / t, 10);
    expect(lift.holdoutRate).toBeCloseTo(1 / holdout.size, 10);
    expect(lift.difference).toBeCloseTo(3 / t - 1 / holdout.size, 10);
    expect(lift.differenceCi95[0]).toBeLessThan(0);
    expect(lift.significant).toBe(false);
    expect(lift.incrementalRevenue).toBeCloseTo((600 / t - 50 / holdout.size) * t, 2);
  });
});
