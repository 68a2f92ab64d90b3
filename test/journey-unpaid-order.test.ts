import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './engines.ts';
import { HOUR, Shop } from './journey-fixtures.ts';
import { unpaidOrder } from './scenario-journeys.ts';

describe.each(engines)('unpaid order journey (%s)', (engine) => {
  let shop: Shop;
  let journeyId: number;
  beforeAll(async () => {
    shop = await Shop.open(engine);
    journeyId = await shop.journey('Unpaid order', unpaidOrder);
  });
  afterAll(() => shop.dispose());

  it('issues a coupon tiered by the order total and says so at once', async () => {
    await shop.track('ann', 'Order Placed', { order_id: 'A1', total: 120 });
    await shop.track('bob', 'Order Placed', { order_id: 'B1', total: 40 });
    await shop.track('cat', 'Order Placed', { order_id: 'C1', total: 500 });
    await shop.tick();
    expect(await shop.sent(journeyId, 'ann')).toEqual(['coupon:coupon', 'notice:coupon-arrived']);
    const [ann] = await shop.path(journeyId, 'ann');
    expect(ann!.key).toBe('A1');
    expect(ann!.outbox[0]!.payload).toMatchObject({ campaign: 'pay-now', value: 15 });
    expect((await shop.path(journeyId, 'bob'))[0]!.outbox[0]!.payload).toMatchObject({ value: 5 });
    expect((await shop.path(journeyId, 'cat'))[0]!.outbox[0]!.payload).toMatchObject({ value: 40 });
  });

  it('keys instances by order: a second order of the same person is its own instance', async () => {
    await shop.track('ann', 'Order Placed', { order_id: 'A2', total: 10 });
    await shop.tick();
    const paths = await shop.path(journeyId, 'ann');
    expect(paths.map((p) => p.key)).toEqual(['A1', 'A2']);
  });

  it('exits when that order is paid, even if the person pays another order', async () => {
    shop.clock.advance(HOUR);
    // ann pays her second order only; cat pays hers, using the coupon.
    await shop.track('ann', 'Order Completed', { order_id: 'A2', total: 10 });
    const catCode = ((await shop.path(journeyId, 'cat'))[0]!.outbox[0]!.payload as { code: string }).code;
    await shop.track('cat', 'Order Completed', { order_id: 'C1', total: 460, coupon: catCode });
    await shop.tick();
    const ann = await shop.path(journeyId, 'ann');
    expect(ann.find((p) => p.key === 'A1')!.status).toBe('active');
    expect(ann.find((p) => p.key === 'A2')).toMatchObject({ status: 'converted', revenue: 10 });
    expect((await shop.path(journeyId, 'cat'))[0]).toMatchObject({ status: 'converted', revenue: 460 });
  });

  it('an order paid before the engine got to it (here: a second after placing) converts at once and gets nothing', async () => {
    const now = shop.clock.now();
    await shop.send([
      { userId: 'dee', event: 'Order Placed', properties: { order_id: 'D1', total: 80 }, at: now - 2000 },
      { userId: 'dee', event: 'Order Completed', properties: { order_id: 'D1', total: 80 }, at: now - 1000 },
    ]);
    await shop.tick();
    expect((await shop.path(journeyId, 'dee'))[0]).toMatchObject({ key: 'D1', status: 'converted', revenue: 80 });
    expect(await shop.sent(journeyId, 'dee')).toEqual([]);
  });

  it('reminds after the wait only where the coupon is still unused, once', async () => {
    await shop.advance(5 * HOUR);
    expect(await shop.sent(journeyId, 'ann')).toEqual([
      'coupon:coupon',
      'notice:coupon-arrived',
      'coupon:coupon',
      'notice:coupon-arrived',
      'reminder:coupon-reminder',
    ]);
    expect(await shop.sent(journeyId, 'bob')).toEqual(['coupon:coupon', 'notice:coupon-arrived', 'reminder:coupon-reminder']);
    expect(await shop.sent(journeyId, 'cat')).toEqual(['coupon:coupon', 'notice:coupon-arrived']);
    await shop.advance(5 * HOUR);
    expect(await shop.sent(journeyId, 'bob')).toHaveLength(3);
    const stats = await shop.stats(journeyId);
    expect(stats).toMatchObject({ entered: 5, converted: 3, revenue: 550, completed: 2, active: 0 });
    expect(stats.nodes.used!.branches).toEqual({ no: 2 });
  });
});
