import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { couponPaths, couponSchemas } from '../src/api/openapi-coupons.ts';
import { generateCodes, issueInTransaction, issueToPerson, redeemCoupon } from '../src/commerce/coupons/index.ts';
import { DAY, VirtualClock } from '../src/core/clock.ts';
import { openStore, type Store, writingEvents } from '../src/store/index.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const START = Date.UTC(2026, 2, 2);

describe('coupon codes', () => {
  it('are 65 random bits in an unambiguous alphabet, never a hash of anything', () => {
    const codes = generateCodes(20_000);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes.slice(0, 100)) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{13}$/);
    // Every character is used about equally (uniform 5 bits per character).
    const counts = new Map<string, number>();
    for (const c of codes) for (const ch of c) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(32);
    const expected = (codes.length * 13) / 32;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.05);
    expect(generateCodes(2, 'PAY')[0]).toMatch(/^PAY-[0-9A-Z]{13}$/);
  });
});

describe('coupons OpenAPI', () => {
  it('documents every route with components that exist', () => {
    const refs = [...JSON.stringify(couponPaths).matchAll(/#\/components\/schemas\/(\w+)/g)].map((m) => m[1]);
    for (const name of new Set(refs)) expect(name === 'Error' || name! in couponSchemas, name).toBe(true);
    expect(Object.keys(couponPaths)).toContain('/api/coupons/redeem');
    expect(JSON.stringify(couponSchemas.CouponCampaignInput)).toContain('perPersonLimit');
  });
});

describe.each(engines)('coupons API (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(START);
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
  const campaign = async (body: Record<string, unknown>) => {
    const res = await api('POST', '/api/coupon-campaigns', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.campaignId as number;
  };
  const issue = (id: number, userId: string, idempotencyKey?: string) =>
    api('POST', `/api/coupon-campaigns/${id}/issue`, { userId, ...(idempotencyKey ? { idempotencyKey } : {}) });

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    await send([
      { type: 'identify', userId: 'mia', traits: { name: 'Mia', phone: '+8613800000001' } },
      { userId: 'mia', event: 'Member Joined', properties: { member_no: 'M001', store_id: 'sh-01' } },
      { type: 'identify', userId: 'ned', traits: { name: 'Ned', phone: '+8613800000002' } },
      { type: 'identify', userId: 'ola', traits: { name: 'Ola', member: true } },
      { type: 'identify', userId: 'pam', traits: { name: 'Pam' } },
    ]);
  });
  afterAll(() => h.dispose());

  it('validates campaigns: every bad field with its path, unique names, names that never change', async () => {
    const bad = await api('POST', '/api/coupon-campaigns', {
      name: 'x',
      discount: { kind: 'percent', value: 150 },
      validity: { kind: 'dates', from: '2026-03-10T00:00:00Z', until: '2026-03-01T00:00:00Z' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['discount.value', 'validity.until']);
    const budget = await api('POST', '/api/coupon-campaigns', {
      name: 'y',
      discount: { kind: 'percent', value: 10 },
      budget: { maxValue: 100 },
    });
    expect(budget.body).toMatchObject({ code: 'invalid_request', path: 'discount.maxDiscount' });
    const id = await campaign({ name: 'spring', discount: { kind: 'amount', value: 10 }, minSpend: 50 });
    expect((await api('POST', '/api/coupon-campaigns', { name: 'spring', discount: { kind: 'amount', value: 5 } })).status).toBe(409);
    const renamed = await api('PUT', `/api/coupon-campaigns/${id}`, { name: 'autumn', discount: { kind: 'amount', value: 10 } });
    expect(renamed.body).toMatchObject({ code: 'invalid_request', path: 'name' });
    const got = await api('GET', `/api/coupon-campaigns/${id}`);
    expect(got.body).toMatchObject({
      name: 'spring',
      status: 'active',
      adhoc: false,
      definition: { minSpend: 50, perPersonLimit: 1, scope: { kind: 'shop' }, validity: { kind: 'after_issue', duration: '7d' } },
      report: { issued: 0, redeemed: 0 },
    });
  });

  let member = '';
  it('issues through the API once per idempotency key and once per person (the per-person limit)', async () => {
    const id = await campaign({ name: 'app-claim', discount: { kind: 'amount', value: 20 }, minSpend: 100, codePrefix: 'APP' });
    const first = await issue(id, 'mia', 'claim-1');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ issued: true, replay: false, coupon: { state: 'issued', value: 20, campaign: 'app-claim' } });
    expect(first.body.coupon.code).toMatch(/^APP-[0-9A-Z]{13}$/);
    expect(first.body.coupon.expiresAt).toBe(clock.now() + 7 * DAY);
    const again = await issue(id, 'mia', 'claim-1');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ issued: true, replay: true, coupon: { code: first.body.coupon.code } });
    expect((await issue(id, 'mia', 'claim-2')).body).toEqual({ issued: false, reason: 'per_person_limit' });
    member = first.body.coupon.code;
    const mine = await api('GET', '/api/people/mia/coupons');
    expect(mine.body.coupons.map((c: { code: string; state: string }) => [c.code, c.state])).toEqual([[member, 'issued']]);
  });

  it('leaves out a code that would collide with a stored one (same issue key, or the person slot), without failing', async () => {
    const id = await campaign({ name: 'collide', discount: { kind: 'amount', value: 5 }, perPersonLimit: null });
    const ws = h.keys.workspaceId;
    const issueNow = (key: string) =>
      writingEvents(h.store, ws, clock.now(), (tx) => issueInTransaction(tx, h.store.dialect, ws, id, 9001, key, clock.now()));
    const first = await issueNow('race-1');
    expect(first).toMatchObject({ code: expect.any(String), reason: null });
    // The same issue key again, as a retry racing the first would meet it (the API reads it first,
    // this does not): nothing new is stored, and the stored code answers.
    expect(await issueNow('race-1')).toEqual(first);
    // The person's next slot is taken: they hold one code, numbered 2 (as a merge may leave it).
    await h.store.query('UPDATE coupon_codes SET person_seq = 2 WHERE workspace_id = $1 AND code = $2', [ws, first!.code]);
    expect(await issueNow('race-2')).toEqual({ code: null, reason: 'code_conflict' });
    const stored = await h.store.query<{ n: number }>(
      'SELECT count(*) AS n FROM coupon_codes WHERE workspace_id = $1 AND campaign_id = $2',
      [ws, id],
    );
    expect(Number(stored[0]!.n)).toBe(1);
  });

  it('member-only coupons: issued to members only, redeemed at the till by a named member, once', async () => {
    const id = await campaign({
      name: 'members-day',
      discount: { kind: 'percent', value: 20, maxDiscount: 30 },
      memberOnly: true,
      perPersonLimit: null,
    });
    expect((await issue(id, 'ned')).body).toEqual({ issued: false, reason: 'not_a_member' });
    const ola = await issue(id, 'ola');
    expect(ola.body.issued).toBe(true);
    const mia = await issue(id, 'mia');
    const code = mia.body.coupon.code as string;
    const till = { code: code.toLowerCase(), orderTotal: 200, storeId: 'sh-01' };
    expect((await api('POST', '/api/coupons/verify', till)).body).toMatchObject({ valid: false, reason: 'member_required' });
    const ned = { type: 'phone', value: '+86 138 0000 0002' };
    expect((await api('POST', '/api/coupons/verify', { ...till, person: ned })).body).toMatchObject({
      valid: false,
      reason: 'not_a_member',
    });
    // A member, but not the one it was issued to.
    const olaPerson = { type: 'user_id', value: 'ola' };
    expect((await api('POST', '/api/coupons/verify', { ...till, person: olaPerson })).body).toMatchObject({
      valid: false,
      reason: 'not_holder',
    });
    const miaPhone = { type: 'phone', value: '+8613800000001' };
    const ok = await api('POST', '/api/coupons/verify', { ...till, person: miaPhone });
    // 20 % of 200 is 40, capped at 30.
    expect(ok.body).toMatchObject({ valid: true, reason: null, eligibleAmount: 200, discount: 30, coupon: { code, state: 'issued' } });
    const redeemed = await api('POST', '/api/coupons/redeem', { ...till, person: miaPhone, orderId: 'T-1', idempotencyKey: 'till-1' });
    expect(redeemed.status).toBe(200);
    expect(redeemed.body).toMatchObject({
      valid: true,
      discount: 30,
      payable: 170,
      replay: false,
      coupon: { state: 'redeemed', storeId: 'sh-01' },
    });
    // The till retries (lost answer): the same answer; another till: refused.
    const retry = await api('POST', '/api/coupons/redeem', { ...till, person: miaPhone, orderId: 'T-1', idempotencyKey: 'till-1' });
    expect(retry.body).toMatchObject({ valid: true, discount: 30, replay: true });
    const twice = await api('POST', '/api/coupons/redeem', { ...till, person: miaPhone, idempotencyKey: 'till-2' });
    expect(twice.status).toBe(409);
    expect(twice.body).toMatchObject({ code: 'conflict', path: 'code' });
    expect(twice.body.message).toMatch(/^already_redeemed/);
    const report = await api('GET', `/api/coupon-campaigns/${id}/report`);
    expect(report.body).toMatchObject({
      issued: 2,
      redeemed: 1,
      redemptionRate: 0.5,
      redeemedVia: { till: 1, event: 0 },
      discountCost: 30,
      attributedRevenue: 170,
    });
    const events = await h.store.query<{ event: string }>(
      `SELECT event FROM events WHERE workspace_id = $1 AND source = 'coupons' AND event = 'Coupon Redeemed'`,
      [h.keys.workspaceId],
    );
    expect(events).toHaveLength(1);
  });

  it('a member who joined through the members API is found at the till by the member number given then', async () => {
    const id = await campaign({ name: 'joined-by-api', discount: { kind: 'amount', value: 20 }, memberOnly: true });
    const joined = await api('POST', '/api/members', { userId: 'pia', memberNo: 'M-0042' });
    expect(joined.status).toBe(201);
    const code = (await issue(id, 'pia')).body.coupon.code as string;
    const till = { code, person: { type: 'member_no', value: 'M-0042' }, orderTotal: 129, orderId: 'POS-1' };
    expect((await api('POST', '/api/coupons/redeem', { ...till, idempotencyKey: 'pia-1' })).body).toMatchObject({
      valid: true,
      payable: 109,
    });
    expect((await api('POST', '/api/coupons/redeem', { ...till, orderId: 'POS-2', idempotencyKey: 'pia-2' })).status).toBe(409);
  });

  it('concurrent redeems of one code: exactly one wins', async () => {
    const id = await campaign({ name: 'race', discount: { kind: 'amount', value: 5 }, perPersonLimit: null });
    const code = (await issue(id, 'pam')).body.coupon.code as string;
    const tries = await Promise.all(
      Array.from({ length: 8 }, (_, i) => api('POST', '/api/coupons/redeem', { code, orderTotal: 50, idempotencyKey: `k${i}` })),
    );
    expect(tries.filter((t) => t.status === 200)).toHaveLength(1);
    expect(tries.filter((t) => t.status === 409)).toHaveLength(7);
  });

  it('scope and minimum spend: only lines in the categories count, from the catalog when the till does not say', async () => {
    await api('POST', '/api/products', {
      products: [
        { product_id: 'buds', name: 'Earbuds', category: 'Electronics > Phones > Earphones', price: 50 },
        { product_id: 'pan', name: 'Pan', category: 'Home > Kitchen > Pans', price: 30 },
      ],
    });
    const id = await campaign({
      name: 'phones-10',
      discount: { kind: 'amount', value: 10 },
      minSpend: 40,
      scope: { kind: 'categories', categories: ['Phones'] },
      perPersonLimit: null,
    });
    const code = (await issue(id, 'pam')).body.coupon.code as string;
    const verify = (body: object) => api('POST', '/api/coupons/verify', { code, ...body });
    expect((await verify({ lines: [{ product_id: 'pan', price: 30, quantity: 2 }] })).body).toMatchObject({
      valid: false,
      reason: 'nothing_in_scope',
    });
    expect((await verify({ lines: [{ product_id: 'buds', price: 35 }] })).body).toMatchObject({
      valid: false,
      reason: 'min_spend_not_met',
    });
    const ok = await verify({
      lines: [
        { product_id: 'buds', price: 50 },
        { product_id: 'pan', price: 30 },
      ],
    });
    expect(ok.body).toMatchObject({ valid: true, eligibleAmount: 50, discount: 10 });
    expect((await verify({ orderTotal: 80 })).body).toMatchObject({ code: 'invalid_request', path: 'lines' });
    // A till that names the category itself needs no catalog.
    expect((await verify({ lines: [{ product_id: 'x', category: 'Electronics > Phones', price: 45 }] })).body.valid).toBe(true);
  });

  it('pool campaigns hand out uploaded codes in order and say when the pool is empty', async () => {
    const id = await campaign({ name: 'printed', discount: { kind: 'amount', value: 8 }, codes: 'pool', perPersonLimit: null });
    const up = await api('POST', `/api/coupon-campaigns/${id}/codes`, { codes: ['card-0001', 'CARD-0002', 'card-0001', member] });
    expect(up.body).toEqual({ added: 2, duplicates: 2 });
    expect((await issue(id, 'ned')).body.coupon.code).toBe('CARD-0001');
    expect((await issue(id, 'pam')).body.coupon.code).toBe('CARD-0002');
    expect((await issue(id, 'ola')).body).toEqual({ issued: false, reason: 'pool_empty' });
    expect((await api('GET', `/api/coupon-campaigns/${id}`)).body.report.pool).toEqual({ uploaded: 2, left: 0 });
  });

  it('budgets stop issuing cleanly and the report says so', async () => {
    const id = await campaign({ name: 'tight', discount: { kind: 'amount', value: 15 }, perPersonLimit: null, budget: { maxValue: 40 } });
    expect((await issue(id, 'ned')).body.issued).toBe(true);
    expect((await issue(id, 'pam')).body.issued).toBe(true);
    expect((await issue(id, 'ola')).body).toEqual({ issued: false, reason: 'budget_exhausted' });
    const report = (await api('GET', `/api/coupon-campaigns/${id}/report`)).body;
    expect(report.budget).toEqual({ maxCount: null, maxValue: 40, usedCount: 2, usedValue: 30, exhausted: true });
  });

  it('pausing stops issuing; fixed dates bound validity', async () => {
    const id = await campaign({
      name: 'double-11',
      discount: { kind: 'amount', value: 11 },
      perPersonLimit: null,
      validity: { kind: 'dates', from: new Date(START + DAY).toISOString(), until: new Date(START + 3 * DAY).toISOString() },
    });
    const early = await issue(id, 'ned');
    expect(early.body.coupon).toMatchObject({ validFrom: START + DAY, expiresAt: START + 3 * DAY });
    expect((await api('POST', '/api/coupons/verify', { code: early.body.coupon.code })).body.reason).toBe('not_yet_valid');
    await api('POST', `/api/coupon-campaigns/${id}/pause`);
    expect((await issue(id, 'pam')).body).toEqual({ issued: false, reason: 'campaign_paused' });
    await api('POST', `/api/coupon-campaigns/${id}/resume`);
    expect((await issue(id, 'pam')).body.issued).toBe(true);
  });

  it('order events redeem codes and credit the order; unused codes expire, each with its lifecycle event', async () => {
    const id = await campaign({ name: 'web', discount: { kind: 'amount', value: 12 }, perPersonLimit: null });
    const a = (await issue(id, 'ned')).body.coupon.code as string;
    const b = (await issue(id, 'pam')).body.coupon.code as string;
    await send([
      { userId: 'ned', event: 'Coupon Applied', properties: { coupon_id: a.toLowerCase(), order_id: 'W-1' } },
      { userId: 'ned', event: 'Order Completed', properties: { order_id: 'W-1', total: 88, coupon: a } },
    ]);
    const ned = (await api('GET', `/api/coupons/${a}`)).body;
    expect(ned).toMatchObject({ state: 'redeemed', redeemedVia: 'event', orderId: 'W-1', orderTotal: 88, discount: 12 });
    clock.advance(8 * DAY);
    expect((await api('GET', `/api/coupons/${b}`)).body.state).toBe('expired');
    expect((await api('POST', '/api/coupons/verify', { code: b })).body.reason).toBe('expired');
    const report = (await api('GET', `/api/coupon-campaigns/${id}/report`)).body;
    expect(report).toMatchObject({ issued: 2, redeemed: 1, open: { expired: 1 }, attributedRevenue: 88, discountCost: 12 });
    const lifecycle = await h.store.query<{ event: string; n: number }>(
      `SELECT event, count(*) AS n FROM events WHERE workspace_id = $1 AND source = 'coupons' AND (properties ->> 'code') IN ($2, $3)
       GROUP BY event ORDER BY event`,
      [h.keys.workspaceId, a, b],
    );
    expect(lifecycle.map((r) => [r.event, Number(r.n)])).toEqual([
      ['Coupon Expired', 1],
      ['Coupon Issued', 2],
      ['Coupon Redeemed', 1],
    ]);
    // A segment over coupon states: got a "web" code and never used one.
    const estimate = await api('POST', '/api/segments/estimate', {
      definition: {
        type: 'and',
        conditions: [
          { type: 'performed', event: 'Coupon Issued', where: [{ property: 'campaign', op: 'eq', value: 'web' }] },
          { type: 'not_performed', event: 'Coupon Redeemed', where: [{ property: 'campaign', op: 'eq', value: 'web' }] },
        ],
      },
    });
    expect(estimate.body.size).toBe(1);
  });
});

/** Two processes on one PostgreSQL database: the database, not the process, must keep the rules. */
describe('coupons across processes (postgres)', () => {
  let h: Harness;
  let other: Store;
  const clock = new VirtualClock(START);
  beforeAll(async () => {
    h = await startHarness('postgres', clock);
    const url = await h.store.query<{ db: string }>('SELECT current_database() AS db');
    const base = (await import('vitest')).inject('pgUrl');
    other = await openStore({ url: base.replace(/\/postgres$/, `/${url[0]!.db}`), dataDir: '.', dedupeDays: 8 }, clock);
    await h.server.app.inject({
      method: 'POST',
      url: '/v1/identify',
      headers: { authorization: h.writeAuth },
      payload: { userId: 'zoe', traits: {} },
    });
  });
  afterAll(async () => {
    await other.close();
    await h.dispose();
  });

  it('one code per person even when two processes issue at once; one redemption when two tills redeem at once', async () => {
    const created = await h.admin('POST', '/api/coupon-campaigns', { name: 'once', discount: { kind: 'amount', value: 9 } });
    const id = created.body.campaignId as number;
    const [{ user_key }] = (await h.store.query<{ user_key: number }>(
      `SELECT user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id' AND value = 'zoe'`,
      [h.keys.workspaceId],
    )) as [{ user_key: number }];
    const ws = h.keys.workspaceId;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => issueToPerson(i % 2 ? other : h.store, ws, id, Number(user_key), `p${i}`, clock.now())),
    );
    expect(results.filter((r) => r.issued)).toHaveLength(1);
    expect(results.filter((r) => !r.issued && r.reason === 'per_person_limit')).toHaveLength(5);
    const code = (results.find((r) => r.issued) as { coupon: { code: string } }).coupon.code;
    const redeems = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        redeemCoupon(i % 2 ? other : h.store, ws, { code, orderTotal: 30, idempotencyKey: `r${i}` }, clock.now()),
      ),
    );
    expect(redeems.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(redeems.filter((r) => r.status === 'rejected' && /already_redeemed/.test(String(r.reason)))).toHaveLength(5);
  });
});
