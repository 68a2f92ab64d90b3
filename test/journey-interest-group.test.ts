import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './engines.ts';
import { DAY, HOUR, Shop } from './journey-fixtures.ts';
import { interestGroup, interestJourney } from './scenario-journeys.ts';

describe.each(engines)('interest group (%s)', (engine) => {
  let shop: Shop;
  let journeyId: number;
  beforeAll(async () => {
    shop = await Shop.open(engine);
    const now = shop.clock.now();
    await shop.track('ann', 'Product Added', { product_id: 'p1', price: 20 }, now - 5 * DAY);
    await shop.track('bob', 'Product Added to Wishlist', { product_id: 'p2' }, now - 4 * DAY);
    await shop.track('bob', 'Order Completed', { order_id: 'B1', total: 20 }, now - 2 * DAY);
    await shop.track('cat', 'Product Added', { product_id: 'p3' }, now - DAY);
    await shop.track('dan', 'Product Added', { product_id: 'p4' }, now - 20 * DAY);
    const segmentId = await shop.segment('Interest group', interestGroup as never);
    journeyId = await shop.journey('Interest group', interestJourney(segmentId));
    await shop.tick();
  });
  afterAll(() => shop.dispose());

  it('enrols the audience (members at publish) with a coupon and an SMS', async () => {
    expect(await shop.sent(journeyId, 'ann')).toEqual(['coupon:coupon', 'sms:interest-coupon']);
    for (const who of ['bob', 'cat', 'dan']) expect(await shop.path(journeyId, who)).toEqual([]);
  });

  it('reminds at 6 hours and stops at an order', async () => {
    await shop.advance(7 * HOUR);
    expect(await shop.sent(journeyId, 'ann')).toEqual(['coupon:coupon', 'sms:interest-coupon', 'r6h:reminder']);
    await shop.track('ann', 'Order Completed', { order_id: 'A1', total: 20 });
    await shop.advance(4 * DAY, 6 * HOUR);
    expect(await shop.sent(journeyId, 'ann')).toHaveLength(3);
    expect((await shop.path(journeyId, 'ann'))[0]).toMatchObject({ status: 'converted', revenue: 20 });
  });

  it('enrols people as they enter the audience (cat, once her cart is 3 days old) and reminds on day 1 and 3', async () => {
    // cat's cart turned 3 days old during the 4 days above; the segment's time refresh let her in.
    const [cat] = await shop.path(journeyId, 'cat');
    expect(cat).toBeDefined();
    await shop.advance(3 * DAY, 6 * HOUR);
    expect(await shop.sent(journeyId, 'cat')).toEqual([
      'coupon:coupon',
      'sms:interest-coupon',
      'r6h:reminder',
      'r1d:reminder',
      'r3d:last-reminder',
    ]);
    const times = (await shop.path(journeyId, 'cat'))[0]!.outbox.map((o) => (o.at - cat!.enteredAt) / HOUR);
    expect(times[2]).toBeGreaterThanOrEqual(6);
    expect(times[3]).toBeGreaterThanOrEqual(24);
    expect(times[4]).toBeGreaterThanOrEqual(72);
    expect(times[4]).toBeLessThan(72 + 7);
  });
});
