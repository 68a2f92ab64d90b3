import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertProducts } from '../src/commerce/index.ts';
import { engines } from './engines.ts';
import { DAY, HOUR, Shop } from './journey-fixtures.ts';
import { crossSell } from './scenario-journeys.ts';

const line = (product_id: string, price: number) => ({ product_id, price, quantity: 1 });

describe.each(engines)('post-purchase cross-sell (%s)', (engine) => {
  let shop: Shop;
  let journeyId: number;
  beforeAll(async () => {
    shop = await Shop.open(engine);
    await upsertProducts(
      shop.store,
      shop.ws,
      [
        { product_id: 'phone-a', name: 'Phone A', category: 'Electronics > Phones > Smartphones', price: 500 },
        { product_id: 'phone-b', name: 'Phone B', category: 'Electronics > Phones > Smartphones', price: 400 },
        { product_id: 'buds', name: 'Earbuds', category: 'Electronics > Phones > Earphones', price: 50 },
        { product_id: 'watch', name: 'Watch', category: 'Electronics > Phones > Watches', price: 150 },
        { product_id: 'pan', name: 'Pan', category: 'Home > Kitchen > Pans', price: 30 },
      ] as never,
      shop.clock.now(),
    );
    // Earbuds sell best, then the watch: the order recommendations come in.
    const past = shop.clock.now() - 10 * DAY;
    await shop.track('x', 'Order Completed', { order_id: 'X1', total: 100, products: [line('buds', 50), line('buds', 50)] }, past);
    await shop.track('y', 'Order Completed', { order_id: 'Y1', total: 180, products: [line('watch', 150), line('pan', 30)] }, past);
    journeyId = await shop.journey('Cross-sell', crossSell);
    await shop.track('ann', 'Order Completed', { order_id: 'A1', total: 500, products: [line('phone-a', 500)] });
    await shop.track('bob', 'Order Completed', { order_id: 'B1', total: 500, products: [line('phone-a', 500)] });
    await shop.track('cat', 'Order Completed', { order_id: 'C1', total: 30, products: [line('pan', 30)] });
    await shop.tick();
  });
  afterAll(() => shop.dispose());

  it('recommends same-category products the person has not bought, bestsellers first', async () => {
    expect((await shop.outboxRow(journeyId, 'ann', 'picks')).payload.products).toEqual(['buds', 'watch']);
    // Nothing else in Kitchen: the shop's bestsellers fill in (earbuds, and the phone ann and bob just bought).
    expect((await shop.outboxRow(journeyId, 'cat', 'picks')).payload.products).toEqual(['buds', 'phone-a']);
  });

  it('after 15 days, a coupon only for who viewed a recommended product and did not buy it', async () => {
    const annPicks = await shop.outboxRow(journeyId, 'ann', 'picks');
    const bobPicks = await shop.outboxRow(journeyId, 'bob', 'picks');
    await shop.advance(2 * DAY, 12 * HOUR);
    await shop.track('ann', 'Product Viewed', { product_id: 'buds', recommendation_id: annPicks.message_key });
    await shop.track('bob', 'Product Viewed', { product_id: 'watch', recommendation_id: bobPicks.message_key });
    await shop.track('bob', 'Order Completed', { order_id: 'B2', total: 150, products: [line('watch', 150)] });
    // cat looked at the earbuds on her own, not from the recommendation.
    await shop.track('cat', 'Product Viewed', { product_id: 'buds' });
    await shop.advance(14 * DAY, 12 * HOUR);
    expect(await shop.sent(journeyId, 'ann')).toEqual(['picks:goes-well-with', 'coupon:coupon', 'tell:category-coupon']);
    const bob = await shop.path(journeyId, 'bob');
    expect(bob[0]!.outbox.map((o) => o.nodeId)).toEqual(['picks']);
    // bob's second order came while he was still inside: re-entry waits until he has left.
    expect(bob).toHaveLength(1);
    expect(await shop.sent(journeyId, 'cat')).toEqual(['picks:goes-well-with']);
    const stats = await shop.stats(journeyId);
    expect(stats.nodes.looked!.branches).toEqual({ viewed_not_bought: 1, no: 2 });
  });
});
