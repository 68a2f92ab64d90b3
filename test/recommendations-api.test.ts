import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recommendationPaths, recommendationSchemas } from '../src/api/openapi-recommendations.ts';
import { DAY, VirtualClock } from '../src/core/clock.ts';
import { type OutboxMessageLike, renderMessage } from '../src/messaging/index.ts';
import { loadPeople } from '../src/messaging/templates/context.ts';
import { loadRenderBatch } from '../src/messaging/templates/render.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const START = Date.UTC(2026, 2, 2, 8);

/** Phone buyers go on to buy a case; ann has just bought a phone, bob browsed tees. */
describe.each(engines)('recommendations API and templates (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(START);
  const call: Harness['admin'] = (method, url, body) => h.admin(method, url, body);
  const line = (product_id: string) => ({ product_id, price: 10, quantity: 1 });
  const event = (userId: string, name: string, properties: Record<string, unknown>, at: number) => ({
    type: 'track',
    userId,
    event: name,
    properties,
    timestamp: new Date(at).toISOString(),
  });
  const order = (userId: string, ids: string[], at: number) =>
    event(userId, 'Order Completed', { order_id: `${userId}-${at}`, total: 10 * ids.length, products: ids.map(line) }, at);

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    const products = [
      { product_id: 'phone', name: 'Phone', category: 'Electronics > Phones > Smartphones', price: 500 },
      {
        product_id: 'case',
        name: 'Case <Slim>',
        category: 'Electronics > Phones > Cases',
        price: 20,
        image_url: 'https://img.example/case.jpg',
      },
      { product_id: 'buds', name: 'Earbuds', category: 'Electronics > Audio > Earphones', price: 50 },
      { product_id: 'tee', name: 'Tee', category: 'Apparel > Tops > T-Shirts', price: 10 },
      { product_id: 'socks', name: 'Socks', category: 'Apparel > Bottoms > Socks', price: 5, stock: 0 },
    ];
    expect((await call('POST', '/api/products', { products })).status).toBe(200);
    const old = START - 20 * DAY;
    const batch = [
      ...['p1', 'p2', 'p3'].flatMap((u) => [order(u, ['phone'], old), order(u, ['case'], old + DAY)]),
      order('p1', ['buds'], old + 2 * DAY),
      order('p2', ['buds'], old + 2 * DAY),
      ...['t1', 't2', 't3', 't4'].map((u) => order(u, ['tee', 'socks'], old)),
      order('ann', ['phone'], START - DAY),
      event('bob', 'Product Viewed', { product_id: 'tee' }, START - DAY),
      { type: 'identify', userId: 'ann', traits: { email: 'ann@example.com', first_name: 'Ann' }, timestamp: new Date(old).toISOString() },
    ];
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch },
    });
    expect(res.statusCode, res.body).toBe(200);
    await h.server.ingest.flush();
  });
  afterAll(() => h.dispose());

  it("a person's list by strategy: details, sources, the model built on first use", async () => {
    expect((await call('GET', '/api/recommendations/model')).body).toMatchObject({ builtAt: null, fresh: false });
    const r = await call('GET', '/api/people/ann/recommendations?strategy=related&count=3');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ strategy: 'related', similarity: 'model' });
    expect(r.body.products).toEqual([
      expect.objectContaining({
        productId: 'case',
        rank: 1,
        source: 'related',
        name: 'Case <Slim>',
        category: 'Electronics > Phones > Cases',
        price: 20,
        imageUrl: 'https://img.example/case.jpg',
      }),
      expect.objectContaining({ productId: 'buds', rank: 2, source: 'related' }),
      // Socks sell as well as tees but are out of stock.
      expect.objectContaining({ productId: 'tee', rank: 3, source: 'fallback' }),
    ]);
    expect((await call('GET', '/api/recommendations/model')).body).toMatchObject({ builtAt: START, fresh: true });
    // Any identity names the person; the rules are query parameters.
    const byEmail = await call('GET', '/api/people/ann@example.com/recommendations?by=email&strategy=related&fallback=false&count=1');
    expect(byEmail.body.products.map((p: { productId: string }) => p.productId)).toEqual(['case']);
    const bob = await call('GET', '/api/people/bob/recommendations?strategy=recently_viewed&excludePurchased=false');
    expect(bob.body.products[0]).toMatchObject({ productId: 'tee', source: 'recently_viewed' });
  });

  it('lists for no one in particular: best sellers, or what goes with given products', async () => {
    const popular = await call('GET', '/api/recommendations?count=2');
    expect(popular.body).toMatchObject({ userKey: null, strategy: 'popular' });
    expect(popular.body.products.map((p: { productId: string }) => p.productId)).toEqual(['phone', 'tee']);
    const goesWith = await call('GET', '/api/recommendations?strategy=related&product=phone&fallback=false');
    expect(goesWith.body.products.map((p: { productId: string }) => p.productId)).toEqual(['case', 'buds']);
    const inApparel = await call('GET', `/api/recommendations?category=${encodeURIComponent('Apparel')}&fallback=false`);
    expect(inApparel.body.products.map((p: { productId: string }) => p.productId)).toEqual(['tee']);
  });

  it('refuses what it cannot answer with {code, message, path}', async () => {
    const cases: [string, number, string][] = [
      ['/api/people/nobody/recommendations', 404, 'id'],
      ['/api/people/ann/recommendations?strategy=psychic', 400, 'strategy'],
      ['/api/people/ann/recommendations?count=0', 400, 'count'],
      ['/api/people/ann/recommendations?count=many', 400, 'count'],
      ['/api/people/ann/recommendations?excludePurchased=maybe', 400, 'excludePurchased'],
      ['/api/people/ann/recommendations?strategy=segment', 400, 'segmentId'],
      ['/api/people/ann/recommendations?strategy=segment&segmentId=999', 404, 'segmentId'],
      ['/api/people/ann/recommendations?colour=red', 400, ''],
      ['/api/recommendations?strategy=related', 400, 'product'],
      ['/api/recommendations?strategy=persona', 400, 'strategy'],
    ];
    for (const [url, status, path] of cases) {
      const r = await call('GET', url);
      expect([url, r.status], JSON.stringify(r.body)).toEqual([url, status]);
      expect(r.body.code).toMatch(/invalid_request|not_found/);
      if (path) expect(r.body.path).toBe(path);
    }
    const noKey = await h.server.app.inject({ method: 'GET', url: '/api/recommendations' });
    expect(noKey.statusCode).toBe(401);
  });

  it('rebuilds the model on demand', async () => {
    clock.advance(DAY + 1);
    expect((await call('GET', '/api/recommendations/model')).body.fresh).toBe(false);
    const built = await call('POST', '/api/recommendations/model');
    expect(built.body).toMatchObject({ builtAt: clock.now(), fresh: true });
    expect(built.body.pairs).toBeGreaterThan(0);
    expect(built.body.products).toBeGreaterThan(0);
  });

  it('templates name lists (`recommendations.related`); previews and batches compute them first', async () => {
    const text =
      '{{ person.traits.first_name }}: {% for p in recommendations.related limit: 2 %}{{ p.name }}{% unless forloop.last %}, {% endunless %}{% endfor %}' +
      ' | {{ recommendations["popular"].first.id }}';
    expect((await call('POST', '/api/templates', { name: 'goes-with', channel: 'sms', fields: { text } })).status).toBe(201);
    const preview = await call('POST', '/api/templates/goes-with/preview', { userId: 'ann' });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.fields.text).toBe('Ann: Case <Slim>, Earbuds | tee');
    expect(Object.keys(preview.body.context.recommendations)).toEqual(['popular', 'related']);

    // A batch: each message its own lists; a trigger's products anchor related and are left out.
    const [ann, bob] = await Promise.all(
      ['ann', 'bob'].map(async (u) => {
        const [row] = await h.store.query<{ user_key: number }>(`SELECT user_key FROM identities WHERE workspace_id = $1 AND value = $2`, [
          h.keys.workspaceId,
          u,
        ]);
        return Number(row!.user_key);
      }),
    );
    const rows: OutboxMessageLike[] = [
      { template: 'goes-with', channel: 'sms', user_key: ann!, payload: { trigger: {} } },
      { template: 'goes-with', channel: 'sms', user_key: bob!, payload: { trigger: { products: [line('case')] } } },
      { template: 'goes-with', channel: 'sms', user_key: bob!, payload: { trigger: { product_id: 'tee' } } },
    ];
    const people = await loadPeople(h.store, h.keys.workspaceId, [ann!, bob!]);
    const render = await loadRenderBatch(h.store, h.keys.workspaceId, rows, ['goes-with'], people, clock.now());
    const texts = await Promise.all(rows.map(async (r) => (await render(r, 'goes-with', 'sms')).fields.text));
    expect(texts).toEqual(['Ann: Case <Slim>, Earbuds | tee', ': Earbuds, Phone | phone', ': Phone, Case <Slim> | phone']);
    // A template that names no list costs nothing and sees none.
    await call('POST', '/api/templates', { name: 'plain', channel: 'sms', fields: { text: 'hi [{{ recommendations }}]' } });
    expect((await renderMessage(h.store, h.keys.workspaceId, { ...rows[0]!, template: 'plain' }, clock.now())).fields.text).toBe('hi []');
  });

  it('documents its routes for the OpenAPI document', () => {
    expect(Object.keys(recommendationPaths)).toEqual([
      '/api/people/{id}/recommendations',
      '/api/recommendations',
      '/api/recommendations/model',
    ]);
    const params = recommendationPaths['/api/people/{id}/recommendations'].get.parameters.map((p) => p.name);
    expect(params).toEqual([
      'id',
      'strategy',
      'count',
      'category',
      'segmentId',
      'level',
      'perCategory',
      'excludePurchased',
      'fallback',
      'by',
      'product',
    ]);
    expect(JSON.parse(JSON.stringify(recommendationSchemas)).RecommendationList.properties.products.type).toBe('array');
  });
});
