import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR, VirtualClock } from '../src/core/clock.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const START = Date.UTC(2026, 5, 1, 9);

/**
 * A visitor browses and gets coupons anonymously, then signs in as a known customer: identity
 * resolution merges the two people, and what commerce knows of the visitor follows.
 */
describe.each(engines)('coupons and recommendations follow identity merges (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(START);
  const call: Harness['admin'] = (method, url, body) => h.admin(method, url, body);
  let seq = 0;
  const send = async (events: Record<string, unknown>[]) => {
    const batch = events.map((e) => ({ type: 'track', messageId: `mg-${++seq}`, timestamp: new Date(clock.now()).toISOString(), ...e }));
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch },
    });
    expect(res.statusCode, res.body).toBe(200);
  };
  const campaign = async (name: string) => {
    const res = await call('POST', '/api/coupon-campaigns', { name, discount: { kind: 'amount', value: 5 }, perPersonLimit: 1 });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.campaignId as number;
  };
  const issue = async (id: number, who: Record<string, unknown>) => {
    const res = await call('POST', `/api/coupon-campaigns/${id}/issue`, who);
    expect(res.body.issued, JSON.stringify(res.body)).toBe(true);
    return res.body.coupon.code as string;
  };

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    const products = [
      { product_id: 'tee', name: 'Tee', category: 'Apparel > Tops > T-Shirts', price: 10 },
      { product_id: 'cap', name: 'Cap', category: 'Apparel > Hats > Caps', price: 12 },
    ];
    expect((await call('POST', '/api/products', { products })).status).toBe(200);
  });
  afterAll(() => h.dispose());

  it('a merged-away visitor’s codes move to the customer, numbered after theirs, and are redeemed as theirs', async () => {
    await send([{ type: 'identify', userId: 'zoe', anonymousId: 'dev-1', traits: { name: 'Zoe' } }]);
    await send([{ anonymousId: 'dev-2', event: 'Product Viewed', properties: { product_id: 'cap' } }]);
    await h.server.ingest.flush();
    const welcome = await campaign('welcome-5');
    const browse = await campaign('browse-5');
    const zoes = await issue(welcome, { userId: 'zoe' });
    const visitorWelcome = await issue(welcome, { identity: { type: 'anonymous_id', value: 'dev-2' } });
    const visitorBrowse = await issue(browse, { identity: { type: 'anonymous_id', value: 'dev-2' } });

    clock.advance(HOUR);
    // Zoe signs in on the visitor's device: the visitor is merged into her.
    await send([{ userId: 'zoe', anonymousId: 'dev-2', event: 'Signed In' }]);
    await h.server.ingest.flush();
    const sync = await call('POST', '/api/coupons/sync');
    expect(sync.body.merged).toBe(2);
    expect((await call('POST', '/api/coupons/sync')).body.merged).toBe(0);

    const mine = await call('GET', '/api/people/zoe/coupons');
    expect(mine.body.coupons.map((c: { code: string }) => c.code).sort()).toEqual([zoes, visitorWelcome, visitorBrowse].sort());
    const seqs = await h.store.query<{ person_seq: number }>(
      'SELECT person_seq FROM coupon_codes WHERE workspace_id = $1 AND campaign_id = $2 ORDER BY person_seq',
      [h.keys.workspaceId, welcome],
    );
    expect(seqs.map((r) => Number(r.person_seq))).toEqual([1, 2]);

    // She uses the visitor's code on her order: redeemed, by her.
    clock.advance(HOUR);
    await send([{ userId: 'zoe', event: 'Order Completed', properties: { order_id: 'Z1', total: 40, coupon: visitorBrowse } }]);
    await h.server.ingest.flush();
    expect((await call('POST', '/api/coupons/sync')).body.redeemed).toBe(1);
    const used = (await call('GET', '/api/people/zoe/coupons')).body.coupons.find((c: { code: string }) => c.code === visitorBrowse);
    expect(used.state).toBe('redeemed');
  });

  it('what the visitor viewed shapes the customer’s recommendations', async () => {
    const r = await call('GET', '/api/people/zoe/recommendations?strategy=recently_viewed&fallback=false');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.products.map((p: { productId: string }) => p.productId)).toEqual(['cap']);
  });
});
