import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './engines.ts';
import { DAY, HOUR, Shop } from './journey-fixtures.ts';
import { firstOrder } from './scenario-journeys.ts';

describe.each(engines)('new member first order (%s)', (engine) => {
  let shop: Shop;
  let journeyId: number;
  beforeAll(async () => {
    shop = await Shop.open(engine);
    // Some shop history, so "bestsellers" has something to recommend.
    await shop.track(
      'old',
      'Order Completed',
      { order_id: 'O1', total: 30, products: [{ product_id: 'tee', price: 10, quantity: 3 }] },
      shop.clock.now() - 5 * DAY,
    );
    journeyId = await shop.journey('First order', firstOrder);
    for (const who of ['ann', 'bob', 'cat']) await shop.track(who, 'Signed Up');
    await shop.tick();
  });
  afterAll(() => shop.dispose());

  it('gives the coupon at sign-up', async () => {
    for (const who of ['ann', 'bob', 'cat'])
      expect(await shop.sent(journeyId, who)).toEqual(['welcome:coupon', 'welcome-msg:welcome-coupon']);
  });

  it('ends on the first order (ann orders on day 2 with her coupon)', async () => {
    await shop.advance(DAY + HOUR);
    const code = (await shop.outboxRow(journeyId, 'ann', 'welcome')).payload.code;
    await shop.track('ann', 'Order Completed', { order_id: 'A1', total: 45, coupon: code });
    await shop.advance(HOUR);
    expect((await shop.path(journeyId, 'ann'))[0]).toMatchObject({ status: 'converted', revenue: 45, exitReason: 'goal' });
    expect(await shop.sent(journeyId, 'ann')).toEqual(['welcome:coupon', 'welcome-msg:welcome-coupon', 'r1:coupon-reminder']);
  });

  it('reminds on day 3 and 15; cat answers a reminder, bob never does', async () => {
    await shop.advance(2 * DAY);
    const r3 = await shop.outboxRow(journeyId, 'cat', 'r3');
    await shop.track('cat', 'Message Clicked', { message_key: r3.message_key, channel: 'sms' });
    await shop.advance(12 * DAY);
    for (const who of ['bob', 'cat']) {
      expect(await shop.sent(journeyId, who)).toEqual([
        'welcome:coupon',
        'welcome-msg:welcome-coupon',
        'r1:coupon-reminder',
        'r3:coupon-reminder-sms',
        'r15:coupon-reminder-sms',
      ]);
    }
  });

  it('on day 30 switches to recommendations after three unanswered reminders', async () => {
    await shop.advance(16 * DAY, 6 * HOUR);
    expect((await shop.sent(journeyId, 'bob')).slice(5)).toEqual(['picks:picks-for-you']);
    expect((await shop.sent(journeyId, 'cat')).slice(5)).toEqual(['r30:coupon-last-call']);
    expect((await shop.outboxRow(journeyId, 'bob', 'picks')).payload.products).toEqual(['tee']);
    expect((await shop.path(journeyId, 'bob'))[0]).toMatchObject({ status: 'completed', exitReason: 'end_of_path' });
  });

  it('enrols once ever: signing up again does not restart it', async () => {
    await shop.track('bob', 'Signed Up');
    await shop.tick();
    expect(await shop.path(journeyId, 'bob')).toHaveLength(1);
    const stats = await shop.stats(journeyId);
    expect(stats).toMatchObject({ entered: 3, converted: 1, revenue: 45, completed: 2 });
    expect(stats.nodes.answered!.branches).toEqual({ clicked: 1, silent: 1 });
  });
});
