import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { upsertProducts } from '../src/commerce/index.ts';
import {
  buildModel,
  evaluateRecommendations,
  formatEvaluation,
  modelState,
  NO_ONE,
  type RecommendationSpec,
  recommendationSpecSchema,
  recommendFor,
  recommendForPerson,
  referencedRecommendations,
  specForTemplateKey,
} from '../src/commerce/recommendations/index.ts';
import { journeyDefinitionSchema } from '../src/journeys/index.ts';
import { engines } from './engines.ts';
import { DAY, HOUR, Shop } from './journey-fixtures.ts';

/**
 * The strategies and rules on a small shop where the right answers can be worked out by hand:
 * phone buyers go on to buy a case (three of them) or earbuds (two), the charger they also buy is
 * out of stock, Apparel buyers buy tees and shorts, and a new tee is selling this week.
 */
const catalog = [
  { product_id: 'phone-a', name: 'Phone A', category: 'Electronics > Phones > Smartphones', price: 500 },
  { product_id: 'phone-b', name: 'Phone B', category: 'Electronics > Phones > Smartphones', price: 400 },
  { product_id: 'case-1', name: 'Case 1', category: 'Electronics > Phones > Cases', price: 20 },
  { product_id: 'case-2', name: 'Case 2', category: 'Electronics > Phones > Cases', price: 25 },
  { product_id: 'buds', name: 'Earbuds', category: 'Electronics > Audio > Earphones', price: 50 },
  { product_id: 'charger', name: 'Charger', category: 'Electronics > Power > Chargers', price: 15, stock: 0 },
  { product_id: 'tee-1', name: 'Tee 1', category: 'Apparel > Tops > T-Shirts', price: 10 },
  { product_id: 'tee-2', name: 'Tee 2', category: 'Apparel > Tops > T-Shirts', price: 12, stock: 40 },
  { product_id: 'shorts', name: 'Shorts', category: 'Apparel > Bottoms > Shorts', price: 18 },
  { product_id: 'pan', name: 'Pan', category: 'Home > Kitchen > Pans', price: 30 },
];

const spec = (s: Partial<RecommendationSpec> & { strategy: RecommendationSpec['strategy'] }) => recommendationSpecSchema.parse(s);

describe.each(engines)('recommendations (%s)', (engine) => {
  let shop: Shop;
  let now: number;
  let vipSegment: number;
  const order = (userId: string, products: string[], at: number) =>
    shop.track(
      userId,
      'Order Completed',
      {
        order_id: `${userId}-${at}`,
        total: 10 * products.length,
        products: products.map((product_id) => ({ product_id, price: 10, quantity: 1 })),
      },
      at,
    );
  const view = (userId: string, productId: string, at: number) => shop.track(userId, 'Product Viewed', { product_id: productId }, at);
  /** One person's list as product ids. */
  const ids = async (userId: string | null, s: RecommendationSpec, triggerProducts: string[] = []) => {
    const userKey = userId === null ? NO_ONE : shop.key(userId);
    const list = await recommendForPerson(shop.store, shop.ws, now, s, { userKey, triggerProducts });
    return list.map((p) => p.productId);
  };

  beforeAll(async () => {
    shop = await Shop.open(engine);
    now = shop.clock.now();
    await upsertProducts(shop.store, shop.ws, catalog, now);
    const old = now - 60 * DAY;
    await order('p1', ['phone-a'], old);
    await order('p1', ['case-1', 'charger'], old + 2 * DAY);
    await order('p2', ['phone-a'], old);
    await order('p2', ['case-1', 'buds', 'charger'], old + 3 * DAY);
    await order('p3', ['phone-a', 'case-1'], old);
    await order('p3', ['buds'], old + 5 * DAY);
    for (const who of ['p4', 'p5']) {
      await order(who, ['phone-b'], old);
      await order(who, ['case-2'], old + DAY);
    }
    await order('a1', ['tee-1', 'shorts'], old);
    await order('a2', ['tee-1', 'shorts'], old);
    await order('a3', ['tee-1'], old);
    for (const who of ['h1', 'h2', 'h3', 'h4', 'h5']) await order(who, ['pan'], old);
    for (const who of ['t1', 't2', 't3']) await order(who, ['tee-2'], now - 2 * DAY);
    await order('ann', ['phone-a'], now - DAY);
    // cal bought a pan, then browsed a phone, the pan again and a tee (the last thing she looked at).
    await order('cal', ['pan'], old);
    await view('cal', 'phone-b', now - 3 * DAY);
    await view('cal', 'pan', now - 2 * DAY);
    await view('cal', 'tee-1', now - DAY);
    // dan is an Apparel person: shorts, then a look at a tee.
    await order('dan', ['shorts'], old);
    await view('dan', 'tee-2', now - DAY);
    // eve bought a phone B and, a month later, a case: it looked at the case an hour before buying it.
    await order('eve', ['phone-b'], now - 40 * DAY);
    await view('eve', 'case-2', now - DAY - HOUR);
    await order('eve', ['case-2'], now - DAY);
    await shop.identify('a1', { vip: true });
    await shop.identify('a2', { vip: true });
    vipSegment = await shop.segment('VIP', { type: 'trait', trait: 'vip', op: 'eq', value: true } as never);
  });
  afterAll(() => shop.dispose());

  it('related: what buyers of the latest purchase bought with it or soon after, by cosine; out of stock and bought left out; best sellers fill up', async () => {
    const list = await recommendForPerson(shop.store, shop.ws, now, spec({ strategy: 'related', count: 4 }), { userKey: shop.key('ann') });
    // case-1 was bought after phone-a by three people, earbuds and the charger by two; the charger is out of stock.
    expect(list.map((p) => [p.productId, p.source])).toEqual([
      ['case-1', 'related'],
      ['buds', 'related'],
      ['pan', 'fallback'],
      ['case-2', 'fallback'],
    ]);
    expect(list[0]).toMatchObject({ rank: 1, name: 'Case 1', category: 'Electronics > Phones > Cases', price: 20 });
    expect(list[0]!.score).toBeGreaterThan(list[1]!.score);
    // Without the fill-up: only what the strategy found.
    expect(await ids('ann', spec({ strategy: 'related', fallback: false }))).toEqual(['case-1', 'buds']);
  });

  it('related from trigger products: anchors for no one in particular, never recommended back', async () => {
    expect(await ids(null, spec({ strategy: 'related', fallback: false }), ['phone-b'])).toEqual(['case-2']);
    expect(await ids(null, spec({ strategy: 'related', fallback: false }), ['phone-a', 'case-1'])).toEqual(['buds']);
  });

  it('the precomputed model gives the lists that live similarities give, and is fresh for a day', async () => {
    expect((await modelState(shop.store, shop.ws, now)).builtAt).toBeNull();
    const live = await recommendFor(
      shop.store,
      shop.ws,
      now,
      spec({ strategy: 'related' }),
      [{ pk: 1, userKey: shop.key('ann'), asOf: now }],
      {
        similarity: 'live',
      },
    );
    const state = await buildModel(shop.store, shop.ws, now, { force: false });
    expect(state).toMatchObject({ builtAt: now, fresh: true });
    expect(state.pairs).toBeGreaterThan(0);
    const model = await recommendFor(
      shop.store,
      shop.ws,
      now,
      spec({ strategy: 'related' }),
      [{ pk: 1, userKey: shop.key('ann'), asOf: now }],
      {
        similarity: 'model',
      },
    );
    expect(model.get(1)!.map((r) => r.productId)).toEqual(live.get(1)!.map((r) => r.productId));
    expect(model.get(1)!.map((r) => r.score)).toEqual(live.get(1)!.map((r) => r.score));
    // Not rebuilt while fresh; stale a day later.
    expect((await buildModel(shop.store, shop.ws, now + HOUR, { force: false })).builtAt).toBe(now);
    expect((await modelState(shop.store, shop.ws, now + 2 * DAY)).fresh).toBe(false);
  });

  it('same_category: best sellers of the middle category of the last purchase or view', async () => {
    expect(await ids('cal', spec({ strategy: 'same_category', fallback: false }))).toEqual(['tee-1', 'tee-2']);
    // ann's phone: phones and cases (Electronics > Phones), never the phone she has.
    expect(await ids('ann', spec({ strategy: 'same_category', fallback: false }))).toEqual(['case-1', 'case-2', 'phone-b']);
    // Other levels of the tree: the leaf (smartphones only) or the top (all of Electronics).
    expect(await ids('ann', spec({ strategy: 'same_category', level: 'leaf', fallback: false }))).toEqual(['phone-b']);
    expect(await ids('ann', spec({ strategy: 'same_category', level: 'top', fallback: false }))).toEqual([
      'case-1',
      'case-2',
      'phone-b',
      'buds',
    ]);
  });

  it('recently_viewed: newest first, without what the person bought unless asked', async () => {
    expect(await ids('cal', spec({ strategy: 'recently_viewed', fallback: false }))).toEqual(['tee-1', 'phone-b']);
    expect(await ids('cal', spec({ strategy: 'recently_viewed', fallback: false, excludePurchased: false }))).toEqual([
      'tee-1',
      'pan',
      'phone-b',
    ]);
  });

  it('popular and trending, overall or in a category (names taken literally)', async () => {
    // Units: pan 6, phone-a 4, then 3 each (ties by id).
    expect(await ids(null, spec({ strategy: 'popular', count: 3 }))).toEqual(['pan', 'phone-a', 'case-1']);
    expect(await ids(null, spec({ strategy: 'popular', category: 'Apparel', fallback: false }))).toEqual(['shorts', 'tee-1', 'tee-2']);
    expect(await ids(null, spec({ strategy: 'popular', category: 'Apparel > Tops', fallback: false }))).toEqual(['tee-1', 'tee-2']);
    expect(await ids(null, spec({ strategy: 'popular', category: 'Appar%', fallback: false }))).toEqual([]);
    expect((await ids(null, spec({ strategy: 'trending', fallback: false })))[0]).toBe('tee-2');
  });

  it('persona and segment favourites', async () => {
    // dan's favourite top category is Apparel: what Apparel people bought most (not the shorts he has).
    expect(await ids('dan', spec({ strategy: 'persona', fallback: false }))).toEqual(['tee-1', 'tee-2']);
    expect(await ids(null, spec({ strategy: 'segment', segmentId: vipSegment, fallback: false }))).toEqual(['shorts', 'tee-1']);
    expect(recommendationSpecSchema.safeParse({ strategy: 'segment' }).error?.issues[0]?.path).toEqual(['segmentId']);
  });

  it('rules: at most n per leaf category; the trigger product is never recommended', async () => {
    const list = await ids(null, spec({ strategy: 'popular', perCategory: 1, count: 10 }));
    expect(list).toContain('phone-a');
    expect(list).not.toContain('phone-b');
    expect(list).toContain('tee-1');
    expect(list).not.toContain('tee-2');
    expect(list).not.toContain('charger');
    expect(await ids(null, spec({ strategy: 'popular', count: 2 }), ['pan'])).toEqual(['phone-a', 'case-1']);
  });

  it('many people in one statement, each list by its own key', async () => {
    const people = ['ann', 'cal', 'dan'].map((u, i) => ({ pk: 100 + i, userKey: shop.key(u), asOf: now }));
    const lists = await recommendFor(shop.store, shop.ws, now, spec({ strategy: 'recently_viewed', count: 2 }), [
      ...people,
      { pk: 7, userKey: NO_ONE, asOf: now },
    ]);
    expect(lists.get(101)!.map((r) => r.productId)).toEqual(['tee-1', 'phone-b']);
    expect(lists.get(102)!.map((r) => [r.productId, r.source])).toEqual([
      ['tee-2', 'recently_viewed'],
      ['pan', 'fallback'],
    ]);
    // ann viewed nothing: best sellers (not her phone).
    expect(lists.get(100)!.map((r) => r.source)).toEqual(['fallback', 'fallback']);
    expect(lists.get(7)!.map((r) => r.productId)).toEqual(['pan', 'phone-a']);
  });

  it('templates: the lists a source names', () => {
    expect(
      referencedRecommendations([
        '{% for p in recommendations.related limit: 3 %}{{ p.name }}{% endfor %}',
        "{{ recommendations['trending'].first.name }} {{ recommendations.segment_12 | size }} {{ recommendations.nope }}",
        'no lists here',
      ]),
    ).toEqual(['related', 'segment_12', 'trending']);
    expect(specForTemplateKey('bestsellers')).toMatchObject({ strategy: 'popular', count: 10 });
    expect(specForTemplateKey('segment_12')).toMatchObject({ strategy: 'segment', segmentId: 12 });
  });

  it('journeys: the recommend node takes every strategy; the order that triggered it anchors related', async () => {
    expect(
      journeyDefinitionSchema.safeParse({ nodes: [{ id: 'r', type: 'recommend', strategy: 'segment' }], edges: [] }).error?.issues[0]?.path,
    ).toEqual(['nodes', 0, 'segmentId']);
    const journeyId = await shop.journey('Goes with', {
      nodes: [
        { id: 'ordered', type: 'entry', trigger: { kind: 'event', event: 'Order Completed' } },
        { id: 'picks', type: 'recommend', strategy: 'related', count: 3, perCategory: 1, template: 'picks' },
      ],
      edges: [{ from: 'ordered', to: 'picks' }],
    });
    // fay's first order: a phone and a case. Earbuds go with both (the charger is out of stock),
    // then best sellers: one per leaf category, never the phone or the case she has just bought.
    await order('fay', ['phone-a', 'case-1'], shop.clock.now());
    await shop.tick();
    const row = await shop.outboxRow(journeyId, 'fay', 'picks');
    expect(row.payload.strategy).toBe('related');
    expect(row.payload.products).toEqual(['buds', 'pan', 'case-2']);
  });

  it('offline evaluation: last orders held out, history before them, global figures as of the test window', async () => {
    const options = { strategies: ['popular', 'related', 'recently_viewed'] as const, k: 2, testDays: 30, gapMs: DAY };
    const report = await evaluateRecommendations(shop.store, shop.ws, { ...options, strategies: [...options.strategies] }, silentProgress);
    expect(report).not.toBeNull();
    // eve (a repeat buyer: her case) and the first-time buyers of the last 30 days: ann, t1–t3 (fay came later).
    expect(report!.evaluatedUsers).toBeGreaterThanOrEqual(5);
    const row = (strategy: string, excludePurchased = true) =>
      report!.rows.find((r) => r.strategy === strategy && r.excludePurchased === excludePurchased)!;
    expect(row('related')).toMatchObject({ repeatUsers: 1, repeatHits: 1, repeatHitRate: 1 });
    expect(row('popular')).toMatchObject({ repeatHits: 0, vsPopular: 1 });
    // The view an hour before the purchase is inside the 24-hour gap: not seen.
    expect(row('recently_viewed').repeatHits).toBe(0);
    const noGap = await evaluateRecommendations(
      shop.store,
      shop.ws,
      { ...options, strategies: ['recently_viewed'], gapMs: 0 },
      silentProgress,
    );
    expect(noGap!.rows[0]).toMatchObject({ repeatHits: 1 });
    expect(report!.rows).toHaveLength(6);
    expect(formatEvaluation(report!)).toContain('hit@2');
  });
});
