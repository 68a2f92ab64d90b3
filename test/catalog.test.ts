import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitCategory } from '../src/commerce/index.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

describe('category paths', () => {
  it('splits top > middle > leaf', () => {
    expect(splitCategory('Electronics > Phones > Smartphones')).toEqual({
      path: 'Electronics > Phones > Smartphones',
      top: 'Electronics',
      mid: 'Phones',
      leaf: 'Smartphones',
    });
    expect(splitCategory('Beauty>Skincare')).toEqual({ path: 'Beauty > Skincare', top: 'Beauty', mid: null, leaf: 'Skincare' });
  });
});

describe.each(engines)('catalog on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(engine);
  });
  afterAll(async () => h?.dispose());
  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    h.server.app.inject({ method, url, headers: { authorization: h.adminAuth }, payload });

  it('imports products, lists by category, replaces on re-import and links events to them', async () => {
    const products = [
      {
        product_id: 'ph-1',
        name: 'Phone X',
        category: 'Electronics > Phones > Smartphones',
        price: 699,
        stock: 5,
        image_url: 'https://img.example/ph-1.png',
      },
      { product_id: 'ea-1', name: 'Earbuds', category: 'Electronics > Accessories > Earphones', price: 59 },
      { product_id: 'ts-1', name: 'T-shirt', category: 'Apparel > Tops > T-shirts', price: 15 },
    ];
    expect((await api('POST', '/api/products', { products })).json()).toEqual({ upserted: 3 });
    const electronics = (await api('GET', '/api/products?category=Electronics')).json().products;
    expect(electronics.map((p: { productId: string }) => p.productId)).toEqual(['ea-1', 'ph-1']);
    await api('POST', '/api/products', { products: [{ ...products[0], price: 649 }] });
    const phone = (await api('GET', '/api/products/ph-1')).json();
    expect(phone).toMatchObject({ price: 649, categoryLevels: { top: 'Electronics', mid: 'Phones', leaf: 'Smartphones' } });

    // An event naming the product without a category takes the catalog's category.
    const r = await h.server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: h.writeAuth },
      payload: {
        userId: 'c1',
        event: 'Order Completed',
        messageId: 'cat-1',
        properties: { order_id: 'o1', total: 649, products: [{ product_id: 'ph-1', price: 649 }] },
      },
    });
    expect(r.statusCode).toBe(200);
    const items = await h.store.query<{ category: string }>(`SELECT category FROM event_items WHERE message_id = 'cat-1'`);
    expect(items).toEqual([{ category: 'Electronics > Phones > Smartphones' }]);
  });

  it('rejects a bad product naming the field', async () => {
    const r = await api('POST', '/api/products', { products: [{ product_id: 'x', name: 'X', category: 'A', price: -1 }] });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'invalid_request', path: 'products[0].price' });
    expect((await api('GET', '/api/products/nope')).statusCode).toBe(404);
  });
});
