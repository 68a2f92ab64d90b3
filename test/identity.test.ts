import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeEvent } from '../src/ingest/index.ts';
import { resolveIdentities } from '../src/ingest/resolve-identities.ts';
import { reserveKeys, type SqlExecutor } from '../src/store/index.ts';
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

  it('decides merges and conflicts from stored user_ids the cache does not hold, read once for the batch', async () => {
    await send('/v1/identify', { userId: 'carol', traits: { phone: '+12025550111' } });
    await send('/v1/identify', { userId: 'dave', traits: { email: 'dave@shop.cn' } });
    await send('/v1/track', { anonymousId: 'anon-c', event: 'Product Viewed', properties: { product_id: 'p1' } });
    await send('/v1/track', { anonymousId: 'anon-d', event: 'Product Viewed', properties: { product_id: 'p2' } });
    const key = async (id: string, by = '') => (await get(`/api/people/${id}${by}`)).userKey as number;
    const [carol, dave, anonC, anonD] = [
      await key('carol'),
      await key('dave'),
      await key('anon-c', '?by=anonymous_id'),
      await key('anon-d', '?by=anonymous_id'),
    ];
    // Two visitors sign in by the phone and the email of two members; then the first claims the
    // second member's email too: two merges, then a conflict (two user_ids), all in one batch.
    const events = [
      { type: 'identify', anonymousId: 'anon-c', traits: { phone: '+12025550111' } },
      { type: 'identify', anonymousId: 'anon-d', traits: { email: 'dave@shop.cn' } },
      { type: 'identify', anonymousId: 'anon-c', traits: { email: 'dave@shop.cn' } },
    ].map((raw) => {
      const n = normalizeEvent(raw, [], { workspaceId: h.keys.workspaceId, receivedAt: Date.now(), source: 'api' });
      if (!n.ok) throw new Error(JSON.stringify(n.errors));
      return n.event;
    });
    let userIdReads = 0;
    const resolution = await h.store
      .transaction(async (tx) => {
        const counted: SqlExecutor = {
          ...tx,
          query: (sql, params) => {
            if (sql.includes("type = 'user_id'")) userIdReads++;
            return tx.query(sql, params);
          },
        };
        // As `shopflow import` resolves: no cache, so every user_id comes from the store.
        const r = await resolveIdentities(counted, h.keys.workspaceId, events, null, (n) => reserveKeys(tx, 'user_key', n));
        throw Object.assign(new Error('roll back'), { r });
      })
      .catch((e: { r?: Awaited<ReturnType<typeof resolveIdentities>> }) => e.r!);
    expect(resolution.merges).toEqual([
      expect.objectContaining({ from: anonC, into: carol, via: { type: 'phone', value: '+12025550111' } }),
      expect.objectContaining({ from: anonD, into: dave, via: { type: 'email', value: 'dave@shop.cn' } }),
    ]);
    expect(resolution.conflicts).toEqual([expect.objectContaining({ owner: dave, claimant: carol })]);
    expect(resolution.userKeys).toEqual([carol, dave, carol]);
    expect(userIdReads).toBe(1);
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
