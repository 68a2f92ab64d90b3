import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE, VirtualClock } from '../src/core/clock.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/** The day before Double 11: 2026-11-10 00:00 UTC (08:00 in Shanghai). */
const START = Date.UTC(2026, 10, 10);
/** Double 11 starts at midnight Shanghai time. */
const BURST = Date.parse('2026-11-11T00:00:00+08:00');

const programme = {
  pointsPerUnit: 1,
  expiryDays: 30,
  timezone: 'Asia/Shanghai',
  tiers: [
    { name: 'member' },
    { name: 'silver', rule: { metric: 'spend', min: 1000, periodDays: 365 } },
    { name: 'gold', rule: { metric: 'spend', min: 5000, periodDays: 365 }, multiplier: 1.5 },
  ],
  memberDays: { monthDays: [8, 18, 28], dates: ['2026-11-11'] },
};

describe.each(engines)('membership and points API (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(START);
  const call: Harness['admin'] = (method, url, body) => h.admin(method, url, body);
  let seq = 0;
  const track = async (userId: string, event: string, properties: Record<string, unknown> = {}, messageId = `m${++seq}`) => {
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: h.writeAuth },
      payload: { userId, event, properties, messageId, timestamp: new Date(clock.now()).toISOString() },
    });
    expect(res.statusCode).toBe(200);
  };
  const refresh = async () => {
    const r = await call('POST', '/api/membership/refresh');
    expect(r.status).toBe(200);
    return r.body;
  };
  const spend = async (userId: string, body: Record<string, unknown>, key?: string) => {
    const res = await h.server.app.inject({
      method: 'POST',
      url: `/api/members/${userId}/points/spend`,
      headers: { authorization: h.adminAuth, ...(key ? { 'idempotency-key': key } : {}) },
      payload: body,
    });
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };
  const member = async (userId: string) => (await call('GET', `/api/members/${userId}`)).body;

  beforeAll(async () => {
    h = await startHarness(engine, clock);
  });
  afterAll(() => h.dispose());

  it('validates the programme and campaigns, naming the bad field', async () => {
    const noRule = await call('PUT', '/api/membership/settings', { ...programme, tiers: [{ name: 'a' }, { name: 'b' }] });
    expect(noRule.status).toBe(400);
    expect(noRule.body).toMatchObject({ code: 'invalid_request', path: 'tiers[1].rule' });
    const badDay = await call('PUT', '/api/membership/settings', { ...programme, memberDays: { tiers: ['platinum'] } });
    expect(badDay.body).toMatchObject({ code: 'invalid_request', path: 'memberDays.tiers[0]' });
    const saved = await call('PUT', '/api/membership/settings', programme);
    expect(saved.status).toBe(200);
    expect((await call('GET', '/api/membership/settings')).body).toMatchObject({ pointsPerUnit: 1, expiryDays: 30, minOrderTotal: 0 });
    const backwards = await call('POST', '/api/membership/campaigns', {
      name: 'x',
      startsAt: '2026-11-11T02:00:00+08:00',
      endsAt: '2026-11-11T00:00:00+08:00',
      multiplier: 2,
    });
    expect(backwards.body).toMatchObject({ code: 'invalid_request', path: 'endsAt' });
  });

  let campaignId = 0;
  it('creates the "double points in the first two hours" campaign', async () => {
    const created = await call('POST', '/api/membership/campaigns', {
      name: 'Double 11: double points in the first two hours',
      startsAt: '2026-11-11T00:00:00+08:00',
      endsAt: '2026-11-11T02:00:00+08:00',
      multiplier: 2,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ multiplier: 2, status: 'active', tiers: null, startsAt: new Date(BURST).toISOString() });
    campaignId = created.body.campaignId;
    // A gold-only triple that never applies to our members (nobody is gold during the burst).
    const gold = await call('POST', '/api/membership/campaigns', {
      name: 'gold triple',
      startsAt: '2026-11-11T00:00:00+08:00',
      endsAt: '2026-11-11T01:00:00+08:00',
      multiplier: 3,
      tiers: ['gold'],
    });
    expect(gold.status).toBe(201);
    expect((await call('GET', '/api/membership/campaigns')).body.campaigns).toHaveLength(2);
  });

  it('joins by API (recording a Member Joined event) and by event; a second join changes nothing', async () => {
    const joined = await call('POST', '/api/members', { userId: 'ann', memberNo: 'M001' });
    expect(joined.status).toBe(201);
    expect(joined.body).toMatchObject({ joined: true, member: { status: 'active', memberNo: 'M001', tier: 'member', pointsBalance: 0 } });
    const again = await call('POST', '/api/members', { userId: 'ann', memberNo: 'M001' });
    expect(again.status).toBe(200);
    expect(again.body.joined).toBe(false);
    const person = await call('GET', '/api/people/ann');
    expect(person.body.events.filter((e: { event: string }) => e.event === 'Member Joined')).toHaveLength(1);

    await track('bob', 'Member Joined', { member_no: 'M002', store_id: 'shanghai-1' });
    await track('carol', 'Signed Up');
    const tick = await refresh();
    expect(tick.joined).toBe(1);
    expect(await member('bob')).toMatchObject({
      status: 'active',
      memberNo: 'M002',
      storeId: 'shanghai-1',
      source: 'event',
      tier: 'member',
    });
    expect(await member('carol')).toMatchObject({ status: 'none', pointsBalance: 0 });
    expect((await call('GET', '/api/members/M001?by=member_no')).body.userKey).toBe((await member('ann')).userKey);
    expect((await call('GET', '/api/members/nobody')).status).toBe(404);
    expect((await call('GET', '/api/members')).body.total).toBe(2);
  });

  it('earns double points inside the window, once per order however often its event is sent', async () => {
    clock.set(BURST + 30 * MINUTE);
    await track('ann', 'Order Completed', { order_id: 'O1', total: 120.5 });
    await track('ann', 'Order Completed', { order_id: 'O1', total: 120.5 }); // replayed with a new messageId
    await track('carol', 'Order Completed', { order_id: 'O3', total: 999 }); // not a member
    clock.set(BURST + 2 * HOUR); // the window has ended (end exclusive)
    await track('bob', 'Order Completed', { order_id: 'O2', total: 100 });
    const tick = await refresh();
    expect(tick.earned).toEqual({ orders: 2, people: 2, points: 341 });
    expect(await refresh()).toMatchObject({ earned: { orders: 0, points: 0 } }); // the overlap re-reads; nothing twice

    const ann = await call('GET', '/api/members/ann/points');
    expect(ann.body.pointsBalance).toBe(241);
    expect(ann.body.entries).toHaveLength(1);
    expect(ann.body.entries[0]).toMatchObject({ kind: 'earn', points: 241, orderId: 'O1', multiplier: 2, campaignId, balanceAfter: 241 });
    const bob = await call('GET', '/api/members/bob/points');
    expect(bob.body.entries[0]).toMatchObject({ points: 100, multiplier: 1, campaignId: null });
    expect((await member('carol')).pointsBalance).toBe(0);
  });

  it('moves up a tier by spend over the period; the tier multiplier applies to later orders', async () => {
    clock.set(BURST + 3 * HOUR);
    await track('ann', 'Order Completed', { order_id: 'O4', total: 5000 });
    const tick = await refresh();
    expect(tick.earned.points).toBe(5000); // earned at her tier when ordering (member, ×1)
    expect(tick.tiers.changed).toBe(1);
    expect(await member('ann')).toMatchObject({ tier: 'gold', pointsBalance: 5241 });
    clock.set(BURST + 4 * HOUR);
    await track('ann', 'Order Completed', { order_id: 'O5', total: 100 });
    await refresh();
    expect(await member('ann')).toMatchObject({ tier: 'gold', pointsBalance: 5391 }); // 100 × 1.5
  });

  it('mirrors status, tier and balance into traits that segments can use', async () => {
    const person = await call('GET', '/api/people/ann');
    expect(person.body.traits).toMatchObject({ member_status: 'active', member_tier: 'gold', points_balance: 5391 });
    const estimate = await call('POST', '/api/segments/estimate', {
      definition: {
        type: 'and',
        conditions: [
          { type: 'trait', trait: 'member_tier', op: 'eq', value: 'gold' },
          { type: 'trait', trait: 'points_balance', op: 'gte', value: 1000 },
        ],
      },
      sample: 5,
    });
    expect(estimate.status).toBe(200);
    expect(estimate.body.size).toBe(1);
  });

  it('spends points with an idempotency key: a retry spends once, a different reuse is refused', async () => {
    expect((await spend('ann', { points: 300 })).body).toMatchObject({ code: 'invalid_request', path: 'idempotencyKey' });
    const first = await spend('ann', { points: 300, reference: 'coupon-15-off' }, 'redeem-1');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ replayed: false, balance: 5091, entry: { kind: 'spend', points: -300, balanceAfter: 5091 } });
    const retry = await spend('ann', { points: 300, reference: 'coupon-15-off' }, 'redeem-1');
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ replayed: true, balance: 5091, entry: { entryId: first.body.entry.entryId } });
    const reused = await spend('ann', { points: 10 }, 'redeem-1');
    expect(reused.status).toBe(409);
    const tooMuch = await spend('ann', { points: 999_999, idempotencyKey: 'redeem-2' });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body).toMatchObject({ code: 'conflict', path: 'points' });
    expect((await spend('carol', { points: 1 }, 'redeem-3')).status).toBe(404);
    expect((await member('ann')).pointsBalance).toBe(5091);
  });

  it('adjusts by hand, never below zero', async () => {
    const credit = await call('POST', '/api/members/bob/points/adjust', { points: 50, reason: 'goodwill', idempotencyKey: 'adj-1' });
    expect(credit.status).toBe(201);
    expect(credit.body.balance).toBe(150);
    const debit = await call('POST', '/api/members/bob/points/adjust', { points: -151, reason: 'correction', idempotencyKey: 'adj-2' });
    expect(debit.status).toBe(409);
    expect((await member('bob')).pointsBalance).toBe(150);
  });

  it('tells whether a person gets member pricing now (member days in the programme time zone)', async () => {
    clock.set(BURST + 30 * MINUTE); // 2026-11-11 00:30 in Shanghai, still 11-10 in UTC
    expect((await call('GET', '/api/membership/member-day')).body).toMatchObject({ memberDay: true, localDate: '2026-11-11' });
    expect((await call('GET', '/api/members/ann/pricing')).body).toMatchObject({ memberPricing: true, member: true, tier: 'gold' });
    expect((await call('GET', '/api/members/carol/pricing')).body).toMatchObject({ memberPricing: false, member: false, memberDay: true });
    clock.set(Date.parse('2026-11-12T12:00:00+08:00'));
    expect((await call('GET', '/api/members/ann/pricing')).body).toMatchObject({ memberPricing: false, memberDay: false });
    clock.set(Date.parse('2026-11-18T09:00:00+08:00'));
    expect((await call('GET', '/api/members/bob/pricing')).body.memberPricing).toBe(true);
    await call('PUT', '/api/membership/settings', { ...programme, memberDays: { ...programme.memberDays, tiers: ['gold'] } });
    expect((await call('GET', '/api/members/bob/pricing')).body.memberPricing).toBe(false);
    expect((await call('GET', '/api/members/ann/pricing')).body.memberPricing).toBe(true);
  });

  it('expires what is left of each credit 30 days on, oldest first, as ledger entries', async () => {
    // Ann's credits: O1 241, O4 5000, O5 150 (credited at the burst + 2h, 3h, 4h); she spent 300,
    // which used all of O1 and 59 of O4.
    const before = await member('ann');
    expect(before.expiring[0]).toMatchObject({ points: 4941 });
    clock.set(BURST + 2 * HOUR + 30 * DAY + MINUTE);
    // Nothing of Ann's O1 is left (spent); Bob's O2 (100, credited at the same time) expires whole.
    expect((await refresh()).expired).toEqual({ lots: 1, people: 1, points: 100 });
    expect((await member('ann')).pointsBalance).toBe(5091);
    clock.set(BURST + 3 * HOUR + 30 * DAY + MINUTE);
    const tick = await refresh();
    expect(tick.expired).toMatchObject({ lots: 1, points: 4941 });
    expect((await member('ann')).pointsBalance).toBe(150);
    const ledger = (await call('GET', '/api/members/ann/points?limit=1')).body.entries;
    expect(ledger[0]).toMatchObject({ kind: 'expire', points: -4941, balanceAfter: 150, reason: 'expired' });
    expect((await refresh()).expired.lots).toBe(0);
    const summary = await call('GET', '/api/membership/summary?from=2026-11-01T00:00:00Z');
    expect(summary.body).toMatchObject({ members: 2, period: { earned: 5491, spent: 300, expired: 4941 + 100, adjusted: 50 } });
  });

  it('edits and archives a campaign; archived campaigns no longer apply', async () => {
    const edited = await call('PUT', `/api/membership/campaigns/${campaignId}`, {
      name: 'Double 11: triple points in the first hour',
      startsAt: '2026-11-11T00:00:00+08:00',
      endsAt: '2026-11-11T01:00:00+08:00',
      multiplier: 3,
    });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ multiplier: 3, endsAt: new Date(BURST + HOUR).toISOString() });
    const archived = await call('DELETE', `/api/membership/campaigns/${campaignId}`);
    expect(archived.body.status).toBe('archived');
    expect((await call('GET', '/api/membership/campaigns')).body.campaigns).toHaveLength(1);
    expect((await call('GET', '/api/membership/campaigns/999999')).status).toBe(404);
  });

  it('spends points on a coupon: the code and the debit commit together, or neither', async () => {
    const made = await call('POST', '/api/coupon-campaigns', {
      name: 'points-5-off',
      discount: { kind: 'amount', value: 5 },
      budget: { maxCount: 1 },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const campaignId = made.body.campaignId as number;
    await call('POST', '/api/members/bob/points/adjust', { points: 300, reason: 'goodwill', idempotencyKey: 'adj-coupon' });
    const before = (await call('GET', '/api/members/bob/points')).body.pointsBalance as number;
    const bought = await call('POST', '/api/members/bob/points/coupon', { campaignId, points: 100, idempotencyKey: 'pc-1' });
    expect(bought.status, JSON.stringify(bought.body)).toBe(201);
    expect(bought.body).toMatchObject({ balance: before - 100, coupon: { campaign: 'points-5-off', state: 'issued', value: 5 } });
    const again = await call('POST', '/api/members/bob/points/coupon', { campaignId, points: 100, idempotencyKey: 'pc-1' });
    expect(again.status).toBe(200);
    expect(again.body.coupon.code).toBe(bought.body.coupon.code);
    // The budget of one code is used up: refused, and no points move.
    const refused = await call('POST', '/api/members/bob/points/coupon', { campaignId, points: 100, idempotencyKey: 'pc-2' });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/^no coupon issued: /);
    expect((await call('GET', '/api/members/bob/points')).body.pointsBalance).toBe(before - 100);
  });
});
