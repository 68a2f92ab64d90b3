import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

describe.each(engines)('identity resolution on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(engine);
  });
  afterAll(async () => h?.dispose());

  const send = async (path: string, body: object) => {
    const r = await h.server.app.inject({ method: 'POST', url: path, headers: { authorization: h.writeAuth }, payload: body });
    expect(r.statusCode, r.body).toBe(200);
  };
  const get = (url: string) => h.server.app.inject({ method: 'GET', url, headers: { authorization: h.adminAuth } }).then((r) => r.json());

  it('joins anonymous browsing to the member on identify', async () => {
    await send('/v1/track', { anonymousId: 'anon-1', event: 'Product Viewed', properties: { product_id: 'p1' } });
    await send('/v1/track', { anonymousId: 'anon-1', event: 'Product Added', properties: { product_id: 'p1' } });
    await send('/v1/identify', { userId: 'member-1', anonymousId: 'anon-1', traits: { phone: '+86 138 0013 8000', email: 'M1@Shop.CN' } });
    const p = await get('/api/people/member-1');
    expect(p.identities).toEqual([
      { type: 'anonymous_id', value: 'anon-1' },
      { type: 'email', value: 'm1@shop.cn' },
      { type: 'phone', value: '+8613800138000' },
      { type: 'user_id', value: 'member-1' },
    ]);
    expect(p.events.map((e: { event: string | null }) => e.event).sort()).toEqual(['Product Added', 'Product Viewed', null]);
    // The same person is found by any identity.
    expect((await get('/api/people/%2B8613800138000?by=phone')).userKey).toBe(p.userKey);
  });

  it('merges an existing anonymous person into the member and records the merge', async () => {
    await send('/v1/track', { anonymousId: 'anon-2', event: 'Product Viewed', properties: { product_id: 'p2' } });
    await send('/v1/identify', { userId: 'member-2', traits: { email: 'two@shop.cn', timezone: 'Europe/Berlin' } });
    await send('/v1/alias', { userId: 'member-2', previousId: 'anon-2' });
    const p = await get('/api/people/member-2');
    expect(p.identities).toContainEqual({ type: 'anonymous_id', value: 'anon-2' });
    expect(p.events.some((e: { event: string }) => e.event === 'Product Viewed')).toBe(true);
    expect(p.traits).toMatchObject({ email: 'two@shop.cn', timezone: 'Europe/Berlin' });
    const history = await get('/api/people/member-2/identity-history');
    expect(history.merges).toHaveLength(1);
    expect(history.merges[0]).toMatchObject({ intoUserKey: p.userKey, via: { type: 'anonymous_id', value: 'anon-2' } });
  });

  it('never joins two user ids through a shared phone: the conflict is recorded', async () => {
    await send('/v1/identify', { userId: 'alice', traits: { phone: '+12025550101' } });
    await send('/v1/identify', { userId: 'bob', traits: { phone: '+12025550101', name: 'Bob' } });
    const alice = await get('/api/people/alice');
    const bob = await get('/api/people/bob');
    expect(alice.userKey).not.toBe(bob.userKey);
    expect(alice.identities).toContainEqual({ type: 'phone', value: '+12025550101' });
    expect(bob.identities).not.toContainEqual({ type: 'phone', value: '+12025550101' });
    expect(bob.traits.name).toBe('Bob'); // the rest of the call still applies
    const history = await get('/api/people/bob/identity-history');
    expect(history.conflicts).toEqual([
      expect.objectContaining({
        type: 'phone',
        value: '+12025550101',
        ownerUserKey: alice.userKey,
        claimantUserKey: bob.userKey,
        resolution: 'kept_with_owner',
      }),
    ]);
  });

  it('resolves a whole batch consistently, including merges within it', async () => {
    const r = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: {
        batch: [
          { type: 'track', anonymousId: 'dev-9', event: 'Product Viewed', properties: { product_id: 'p9' } },
          { type: 'identify', anonymousId: 'dev-9', traits: { email: 'nine@shop.cn' } },
          { type: 'identify', userId: 'member-9', traits: { email: 'nine@shop.cn', country: 'de' } },
          { type: 'track', userId: 'member-9', event: 'Order Completed', properties: { order_id: 'o9', total: 10 } },
        ],
      },
    });
    expect(r.statusCode).toBe(200);
    const p = await get('/api/people/member-9');
    expect(p.identities).toEqual(
      expect.arrayContaining([
        { type: 'anonymous_id', value: 'dev-9' },
        { type: 'email', value: 'nine@shop.cn' },
        { type: 'user_id', value: 'member-9' },
      ]),
    );
    expect(p.events).toHaveLength(4);
    expect(p.traits).toMatchObject({ email: 'nine@shop.cn', country: 'DE' });
    const [live] = await h.store.query<{ n: number }>(
      `SELECT count(DISTINCT user_key) AS n FROM identities WHERE value IN ('dev-9', 'nine@shop.cn', 'member-9')`,
    );
    expect(Number(live!.n)).toBe(1);
  });
});
