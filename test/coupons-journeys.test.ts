import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DAY, HOUR, VirtualClock } from '../src/core/clock.ts';
import { JourneyEngine } from '../src/journeys/index.ts';
import { openStore } from '../src/store/index.ts';
import { engines } from './engines.ts';
import * as scenarios from './scenario-journeys.ts';
import { type Harness, startHarness } from './server-harness.ts';
import { addMissingTemplates } from './template-fixtures.ts';

const START = Date.UTC(2026, 2, 2);

/**
 * The coupon scenarios end to end through the HTTP API on both engines: campaigns made
 * through the API, journeys that issue from them, events through the tracking API, the till.
 */
async function shopHarness(engine: (typeof engines)[number]) {
  const clock = new VirtualClock(START);
  const h = await startHarness(engine, clock);
  const api: Harness['admin'] = (method, url, body) => h.admin(method, url, body);
  const send = async (events: Record<string, unknown>[]) => {
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch: events.map((e) => ({ type: 'track', timestamp: new Date(clock.now()).toISOString(), ...e })) },
    });
    expect(res.statusCode).toBe(200);
  };
  const tick = () => h.server.journeys.tickWorkspace(h.keys.workspaceId);
  const advance = async (ms: number, step = HOUR) => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      clock.set(Math.min(end, clock.now() + step));
      await tick();
    }
  };
  const journey = async (name: string, definition: object) => {
    await addMissingTemplates(h.store, h.keys.workspaceId, definition, clock.now());
    const created = await api('POST', '/api/journeys', { name, definition });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const published = await api('POST', `/api/journeys/${created.body.journeyId}/publish`);
    expect(published.status, JSON.stringify(published.body)).toBe(200);
    return created.body.journeyId as number;
  };
  const campaign = async (body: object) => {
    const res = await api('POST', '/api/coupon-campaigns', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.campaignId as number;
  };
  const coupons = async (userId: string) => (await api('GET', `/api/people/${userId}/coupons`)).body.coupons as Record<string, unknown>[];
  const path = async (journeyId: number, userId: string) =>
    (await api('GET', `/api/journeys/${journeyId}/people/${userId}`)).body.instances;
  return { h, clock, api, send, tick, advance, journey, campaign, coupons, path };
}

/** The unpaid-order scenario, plus a branch for orders that get no code (the budget ran out): a plain pay link. */
const unpaidOrder = {
  ...scenarios.unpaidOrder,
  nodes: [
    ...scenarios.unpaidOrder.nodes.map((n) => (n.id === 'coupon' ? { ...n, notIssuedBranch: true } : n)),
    { id: 'pay-link', type: 'send', channel: 'sms', template: 'pay-link' },
  ],
  edges: [...scenarios.unpaidOrder.edges, { from: 'coupon', branch: 'not_issued', to: 'pay-link' }],
};

describe.each(engines)('unpaid order: tiered coupon from a budgeted campaign (%s)', (engine) => {
  let s: Awaited<ReturnType<typeof shopHarness>>;
  let journeyId = 0;
  let campaignId = 0;
  beforeAll(async () => {
    s = await shopHarness(engine);
    campaignId = await s.campaign({
      name: 'pay-now',
      discount: { kind: 'amount', value: 5 },
      validity: { kind: 'after_issue', duration: '2d' },
      perPersonLimit: null,
      budget: { maxCount: 4 },
    });
    journeyId = await s.journey('Unpaid order', unpaidOrder);
  });
  afterAll(() => s.h.dispose());

  it('issues the tier the order total reaches, with an unguessable code the templates get', async () => {
    await s.send([
      { userId: 'ann', event: 'Order Placed', properties: { order_id: 'A1', total: 120 } },
      { userId: 'bob', event: 'Order Placed', properties: { order_id: 'B1', total: 40 } },
      { userId: 'cat', event: 'Order Placed', properties: { order_id: 'C1', total: 500 } },
    ]);
    await s.tick();
    const [ann] = await s.coupons('ann');
    expect(ann).toMatchObject({ campaign: 'pay-now', value: 15, state: 'issued', journeyId, nodeId: 'coupon', expiresAt: START + 2 * DAY });
    expect(ann!.code).toMatch(/^[0-9A-Z]{13}$/);
    expect((await s.coupons('bob'))[0]).toMatchObject({ value: 5 });
    expect((await s.coupons('cat'))[0]).toMatchObject({ value: 40 });
    // The coupon node's outbox row is what templates read: {code, campaign, value, expires_at}.
    const outbox = (await s.api('GET', `/api/outbox?journeyId=${journeyId}&status=issued`)).body.messages;
    const annRow = outbox.find((m: { userId: string }) => m.userId === 'ann');
    expect(annRow.payload).toMatchObject({ code: ann!.code, campaign: 'pay-now', value: 15, expires_at: START + 2 * DAY, kind: 'amount' });
    // The journey was published with a plain `coupon-arrived`: rewritten, it reads the coupon.
    const notice = await s.api('PUT', '/api/templates/coupon-arrived', {
      channel: 'sms',
      fields: {
        text: '{{ coupon.code }}: {{ coupon.value }} off order {{ event.order_id }} until {{ coupon.expires_at | date: "%Y-%m-%d" }}',
      },
    });
    expect(notice.status).toBe(200);
    const preview = await s.api('GET', `/api/outbox?journeyId=${journeyId}&status=queued`);
    expect(preview.body.messages.length).toBe(3);
  });

  it('a paid order with the code redeems it: the instance converts and the report credits the order', async () => {
    s.clock.advance(HOUR);
    const [cat] = await s.coupons('cat');
    await s.send([{ userId: 'cat', event: 'Order Completed', properties: { order_id: 'C1', total: 460, coupon: cat!.code } }]);
    await s.tick();
    expect((await s.path(journeyId, 'cat'))[0]).toMatchObject({ status: 'converted', revenue: 460 });
    expect((await s.coupons('cat'))[0]).toMatchObject({
      state: 'redeemed',
      redeemedVia: 'event',
      orderId: 'C1',
      orderTotal: 460,
      discount: 40,
    });
  });

  it('reminds who has not used it; their coupon is then "reminded"', async () => {
    await s.advance(5 * HOUR);
    const sent = (await s.api('GET', `/api/outbox?journeyId=${journeyId}`)).body.messages as { userId: string; nodeId: string }[];
    expect(
      sent
        .filter((m) => m.nodeId === 'reminder')
        .map((m) => m.userId)
        .sort(),
    ).toEqual(['ann', 'bob']);
    expect((await s.coupons('ann'))[0]).toMatchObject({ state: 'reminded' });
    expect((await s.coupons('cat'))[0]).toMatchObject({ state: 'redeemed' });
  });

  it('stops at the budget: the fifth order gets no code, with the reason, and goes down its own branch', async () => {
    await s.send([
      { userId: 'dee', event: 'Order Placed', properties: { order_id: 'D1', total: 60 } },
      { userId: 'eve', event: 'Order Placed', properties: { order_id: 'E1', total: 60 } },
    ]);
    await s.tick();
    // The budget is spent in entry order: one of the two gets the last code.
    const dee = (await s.coupons('dee')).length;
    expect(dee + (await s.coupons('eve')).length).toBe(1);
    const unlucky = dee === 0 ? 'dee' : 'eve';
    const [instance] = await s.path(journeyId, unlucky);
    const row = instance.outbox.find((o: { nodeId: string }) => o.nodeId === 'coupon');
    expect(row.payload).toMatchObject({ code: null, campaign: 'pay-now', reason: 'budget_exhausted' });
    expect(instance.outbox.map((o: { nodeId: string }) => o.nodeId)).toEqual(['coupon', 'pay-link']);
    const skipped = (await s.api('GET', `/api/outbox?journeyId=${journeyId}&status=skipped`)).body.messages;
    expect(skipped.map((m: { userId: string; reason: string }) => [m.userId, m.reason])).toEqual([[unlucky, 'budget_exhausted']]);
    const report = (await s.api('GET', `/api/coupon-campaigns/${campaignId}/report`)).body;
    expect(report).toMatchObject({
      issued: 4,
      redeemed: 1,
      redemptionRate: 0.25,
      faceValueIssued: 15 + 5 + 40 + 5,
      discountCost: 40,
      attributedRevenue: 460,
      notIssued: { budget_exhausted: 1 },
      budget: { maxCount: 4, usedCount: 4, exhausted: true },
    });
  });
});

/** The cross-sell scenario, its coupon node taking the value from the named campaign (no inline value). */
const crossSell = {
  ...scenarios.crossSell,
  nodes: scenarios.crossSell.nodes.map((n) => (n.id === 'coupon' ? { id: 'coupon', type: 'coupon', campaign: 'phones-accessories' } : n)),
};

const line = (product_id: string, price: number) => ({ product_id, price, quantity: 1 });

describe.each(engines)('cross-sell: a category coupon for who viewed a pick and did not buy (%s)', (engine) => {
  let s: Awaited<ReturnType<typeof shopHarness>>;
  let journeyId = 0;
  let campaignId = 0;
  beforeAll(async () => {
    s = await shopHarness(engine);
    await s.api('POST', '/api/products', {
      products: [
        { product_id: 'phone-a', name: 'Phone A', category: 'Electronics > Phones > Smartphones', price: 500 },
        { product_id: 'buds', name: 'Earbuds', category: 'Electronics > Phones > Earphones', price: 50 },
        { product_id: 'watch', name: 'Watch', category: 'Electronics > Phones > Watches', price: 150 },
        { product_id: 'pan', name: 'Pan', category: 'Home > Kitchen > Pans', price: 30 },
      ],
    });
    campaignId = await s.campaign({
      name: 'phones-accessories',
      description: 'Accessories for a new phone',
      discount: { kind: 'percent', value: 10, maxDiscount: 20 },
      minSpend: 40,
      scope: { kind: 'categories', categories: ['Electronics > Phones'] },
      validity: { kind: 'after_issue', duration: '7d' },
    });
    await s.send([
      { userId: 'x', event: 'Order Completed', properties: { order_id: 'X1', total: 100, products: [line('buds', 50), line('buds', 50)] } },
      { userId: 'y', event: 'Order Completed', properties: { order_id: 'Y1', total: 150, products: [line('watch', 150)] } },
    ]);
    journeyId = await s.journey('Cross-sell', crossSell);
    await s.send([
      { userId: 'ann', event: 'Order Completed', properties: { order_id: 'A1', total: 500, products: [line('phone-a', 500)] } },
      { userId: 'bob', event: 'Order Completed', properties: { order_id: 'B1', total: 500, products: [line('phone-a', 500)] } },
    ]);
    await s.tick();
  });
  afterAll(() => s.h.dispose());

  it("issues the campaign's category coupon after 15 days only to who viewed a pick and did not buy it", async () => {
    const picks = (await s.path(journeyId, 'ann'))[0].outbox.find((o: { nodeId: string }) => o.nodeId === 'picks');
    await s.advance(2 * DAY, 12 * HOUR);
    await s.send([{ userId: 'ann', event: 'Product Viewed', properties: { product_id: 'buds', recommendation_id: picks.messageKey } }]);
    await s.advance(14 * DAY, 12 * HOUR);
    const [ann] = await s.coupons('ann');
    expect(ann).toMatchObject({
      campaign: 'phones-accessories',
      kind: 'percent',
      value: 10,
      maxDiscount: 20,
      minSpend: 40,
      state: 'issued',
    });
    expect(await s.coupons('bob')).toEqual([]);
  });

  it('applies to the phone category only: the till checks the basket lines against the catalog', async () => {
    const [ann] = await s.coupons('ann');
    const verify = (lines: object[]) => s.api('POST', '/api/coupons/verify', { code: ann!.code, lines });
    expect((await verify([line('pan', 30)])).body).toMatchObject({ valid: false, reason: 'nothing_in_scope' });
    expect((await verify([line('buds', 50), line('pan', 30)])).body).toMatchObject({ valid: true, eligibleAmount: 50, discount: 5 });
  });

  it('used online on an order: redeemed, with the discount and the paid total in the report', async () => {
    const [ann] = await s.coupons('ann');
    await s.send([
      { userId: 'ann', event: 'Coupon Applied', properties: { coupon: ann!.code, order_id: 'A2', discount: 15 } },
      { userId: 'ann', event: 'Order Completed', properties: { order_id: 'A2', total: 135, products: [line('watch', 150)] } },
    ]);
    const report = (await s.api('GET', `/api/coupon-campaigns/${campaignId}`)).body.report;
    expect(report).toMatchObject({ issued: 1, redeemed: 1, redemptionRate: 1, discountCost: 15, attributedRevenue: 135 });
  });
});

const memberWelcome = {
  nodes: [
    { id: 'joined', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
    { id: 'gift', type: 'coupon', campaign: 'member-gift', notIssuedBranch: true },
    { id: 'tell', type: 'send', channel: 'sandbox', template: 'member-gift' },
    { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
    { id: 'used', type: 'condition', cases: [{ branch: 'yes', when: { kind: 'coupon_used' } }], otherwise: 'no' },
    { id: 'thanks', type: 'send', channel: 'sandbox', template: 'thanks' },
    { id: 'nudge', type: 'send', channel: 'sandbox', template: 'nudge' },
    { id: 'join-us', type: 'send', channel: 'sandbox', template: 'join-us' },
  ],
  edges: [
    { from: 'joined', to: 'gift' },
    { from: 'gift', to: 'tell' },
    { from: 'gift', branch: 'not_issued', to: 'join-us' },
    { from: 'tell', to: 'wait' },
    { from: 'wait', to: 'used' },
    { from: 'used', branch: 'yes', to: 'thanks' },
    { from: 'used', branch: 'no', to: 'nudge' },
  ],
};

describe.each(engines)('member-only coupon from a journey, redeemed at a store till (%s)', (engine) => {
  let s: Awaited<ReturnType<typeof shopHarness>>;
  let journeyId = 0;
  beforeAll(async () => {
    s = await shopHarness(engine);
    await s.campaign({ name: 'member-gift', discount: { kind: 'amount', value: 30 }, minSpend: 100, memberOnly: true });
    journeyId = await s.journey('Member gift', memberWelcome);
    await s.send([
      { type: 'identify', userId: 'mia', traits: { member_no: 'M-0001' } },
      { userId: 'mia', event: 'Member Joined', properties: { member_no: 'M-0001', store_id: 'sh-01' } },
      { userId: 'mia', event: 'Signed Up' },
      { type: 'identify', userId: 'ned', traits: { phone: '+8613800000002' } },
      { userId: 'ned', event: 'Signed Up' },
    ]);
    await s.tick();
  });
  afterAll(() => s.h.dispose());

  it('only members get the code; the others are told why and take the other branch', async () => {
    expect((await s.coupons('mia'))[0]).toMatchObject({ campaign: 'member-gift', state: 'issued', value: 30 });
    expect(await s.coupons('ned')).toEqual([]);
    const [ned] = await s.path(journeyId, 'ned');
    expect(ned.outbox.map((o: { nodeId: string; payload: { reason?: string } }) => [o.nodeId, o.payload.reason ?? null])).toEqual([
      ['gift', 'not_a_member'],
      ['join-us', null],
    ]);
  });

  it('the till redeems it once for the member, by member number; the journey sees it used', async () => {
    const [mia] = await s.coupons('mia');
    const till = { code: mia!.code, person: { type: 'member_no', value: 'M-0001' }, orderTotal: 129, storeId: 'sh-01' };
    expect((await s.api('POST', '/api/coupons/verify', { ...till, orderTotal: 80 })).body).toMatchObject({
      valid: false,
      reason: 'min_spend_not_met',
    });
    const redeemed = await s.api('POST', '/api/coupons/redeem', { ...till, orderId: 'POS-77' });
    expect(redeemed.status).toBe(200);
    expect(redeemed.body).toMatchObject({ discount: 30, payable: 99, coupon: { state: 'redeemed', storeId: 'sh-01', orderId: 'POS-77' } });
    expect((await s.api('POST', '/api/coupons/redeem', till)).status).toBe(409);
    await s.advance(DAY + HOUR);
    const sent = (await s.path(journeyId, 'mia'))[0].outbox.map((o: { nodeId: string }) => o.nodeId);
    expect(sent).toEqual(['gift', 'tell', 'thanks']);
  });
});

const welcomeFrom = (campaign: string) => ({
  nodes: [
    { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
    { id: 'gift', type: 'coupon', campaign },
  ],
  edges: [{ from: 'in', to: 'gift' }],
});

describe.each(engines)('one code per person per campaign across journeys (%s)', (engine) => {
  let s: Awaited<ReturnType<typeof shopHarness>>;
  afterAll(() => s.h.dispose());

  it('two journeys issuing from one campaign at once give each person one code; the other step records why', async () => {
    s = await shopHarness(engine);
    await s.campaign({ name: 'welcome', discount: { kind: 'amount', value: 10 } });
    await s.journey('Welcome A', welcomeFrom('welcome'));
    await s.journey('Welcome B', welcomeFrom('welcome'));
    const people = Array.from({ length: 20 }, (_, i) => `p${i}`);
    await s.send(people.map((userId) => ({ userId, event: 'Signed Up' })));
    if (engine === 'postgres') {
      // A second engine process on the same database, ticking at the same moment.
      const db = (await s.h.store.query<{ db: string }>('SELECT current_database() AS db'))[0]!.db;
      const other = await openStore({ url: inject('pgUrl').replace(/\/postgres$/, `/${db}`), dataDir: '.', dedupeDays: 8 }, s.clock);
      try {
        await Promise.all([s.tick(), new JourneyEngine(other, s.clock).tickWorkspace(s.h.keys.workspaceId), s.tick()]);
      } finally {
        await other.close();
      }
    }
    await s.tick();
    const rows = await s.h.store.query<{ user_key: number; n: number }>(
      'SELECT user_key, count(*) AS n FROM coupon_codes WHERE workspace_id = $1 GROUP BY user_key',
      [s.h.keys.workspaceId],
    );
    expect(rows).toHaveLength(20);
    expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
    const skipped = await s.h.store.query<{ reason: string; n: number }>(
      `SELECT reason, count(*) AS n FROM outbox WHERE workspace_id = $1 AND action = 'coupon' AND status = 'skipped' GROUP BY reason`,
      [s.h.keys.workspaceId],
    );
    expect(skipped.map((r) => [r.reason, Number(r.n)])).toEqual([['per_person_limit', 20]]);
  });

  it('a journey written before campaigns existed makes an ad-hoc campaign from its inline value', async () => {
    await s.journey('Inline', {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Order Placed' } },
        { id: 'gift', type: 'coupon', campaign: 'inline-5', value: 5, validFor: '3d' },
      ],
      edges: [{ from: 'in', to: 'gift' }],
    });
    await s.send([
      { userId: 'p1', event: 'Order Placed', properties: { order_id: 'O1', total: 10 } },
      { userId: 'p1', event: 'Order Placed', properties: { order_id: 'O2', total: 10 } },
    ]);
    await s.tick();
    await s.tick();
    const list = (await s.api('GET', '/api/coupon-campaigns')).body.campaigns as { name: string; adhoc: boolean; definition: object }[];
    expect(list.find((c) => c.name === 'inline-5')).toMatchObject({
      adhoc: true,
      definition: { discount: { kind: 'amount', value: 5 }, perPersonLimit: null, validity: { duration: '3d' } },
    });
  });
});
