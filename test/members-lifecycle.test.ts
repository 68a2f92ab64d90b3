import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR, VirtualClock } from '../src/core/clock.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const START = Date.UTC(2026, 10, 1);

const programme = {
  pointsPerUnit: 1,
  tiers: [{ name: 'member' }, { name: 'gold', rule: { metric: 'points', min: 500, periodDays: 365 } }],
};

/** Refunds, leaving and joining again, and the events membership writes for journeys and segments. */
describe.each(engines)('membership lifecycle (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(START);
  const call: Harness['admin'] = (method, url, body) => h.admin(method, url, body);
  let seq = 0;
  const track = async (userId: string, event: string, properties: Record<string, unknown> = {}) => {
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: h.writeAuth },
      payload: { userId, event, properties, messageId: `life-${++seq}`, timestamp: new Date(clock.now()).toISOString() },
    });
    expect(res.statusCode).toBe(200);
  };
  const refresh = async () => {
    clock.advance(HOUR);
    const r = await call('POST', '/api/membership/refresh');
    expect(r.status).toBe(200);
    return r.body;
  };
  const member = async (userId: string) => (await call('GET', `/api/members/${userId}`)).body;
  const ledger = async (userId: string) => (await call('GET', `/api/members/${userId}/points`)).body.entries;
  const eventsOf = async (userId: string, prefix: string) =>
    (await call('GET', `/api/people/${userId}`)).body.events.filter((e: { event: string }) => e.event?.startsWith(prefix));

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    expect((await call('PUT', '/api/membership/settings', programme)).status).toBe(200);
  });
  afterAll(() => h.dispose());

  it('a tick with nothing new reads once and writes nothing; the next order still earns', async () => {
    await call('POST', '/api/members', { userId: 'quiet' });
    await refresh(); // an hour on: the full tier run is due, so this one runs whole
    const state = () =>
      h.store.query('SELECT job, watermark, ran_at FROM job_state WHERE workspace_id = $1 ORDER BY job', [h.keys.workspaceId]);
    const before = await state();
    clock.advance(60_000);
    const idle = (await call('POST', '/api/membership/refresh')).body;
    expect(idle).toMatchObject({ joined: 0, earned: { orders: 0 }, expired: { lots: 0 }, tiers: { mode: 'none' }, traitsSynced: 0 });
    expect(await state()).toEqual(before);

    await track('quiet', 'Order Completed', { order_id: 'Q1', total: 40 });
    clock.advance(60_000);
    const busy = (await call('POST', '/api/membership/refresh')).body;
    expect(busy).toMatchObject({ earned: { orders: 1, points: 40 }, tiers: { mode: 'incremental' }, traitsSynced: 1 });
    expect(await state()).not.toEqual(before);
  });

  it('a refund takes back the points its order earned: in proportion, once, never below zero', async () => {
    await call('POST', '/api/members', { userId: 'ann' });
    await track('ann', 'Order Completed', { order_id: 'A1', total: 200 });
    await track('ann', 'Order Completed', { order_id: 'A2', total: 100 });
    expect((await refresh()).earned.points).toBe(300);

    await track('ann', 'Order Refunded', { order_id: 'A1', total: 50 }); // a quarter of A1
    let tick = await refresh();
    expect(tick.refunded).toEqual({ refunds: 1, points: 50 });
    expect((await member('ann')).pointsBalance).toBe(250);
    expect(await refresh()).toMatchObject({ refunded: { refunds: 0 } }); // the overlap re-reads it; nothing twice

    // Spend most of the rest, then refund all of A1: only what is left can be taken back.
    const spent = await h.server.app.inject({
      method: 'POST',
      url: '/api/members/ann/points/spend',
      headers: { authorization: h.adminAuth, 'idempotency-key': 'ann-spend' },
      payload: { points: 200 },
    });
    expect(spent.statusCode).toBe(201);
    await track('ann', 'Order Refunded', { order_id: 'A1' }); // no total: the whole order
    tick = await refresh();
    expect(tick.refunded).toEqual({ refunds: 1, points: 50 });
    expect((await member('ann')).pointsBalance).toBe(0);
    const refunds = (await ledger('ann')).filter((e: { kind: string }) => e.kind === 'refund');
    expect(refunds.map((e: { points: number }) => e.points).sort()).toEqual([-50, -50]);
    expect(refunds.find((e: { reason: string }) => e.reason.includes('already spent'))?.reason).toBe('refund (100 points already spent)');

    // A third refund of A1 finds nothing left to take back from that order: 150 of 200 is the most ever.
    await track('ann', 'Order Completed', { order_id: 'A3', total: 100 });
    await refresh();
    await track('ann', 'Order Refunded', { order_id: 'A1', total: 200 });
    tick = await refresh();
    expect(tick.refunded.points).toBe(100);
    expect((await member('ann')).pointsBalance).toBe(0);
    const [sum] = await h.store.query<{ taken: number }>(
      `SELECT -SUM(points) AS taken FROM points_ledger WHERE workspace_id = $1 AND kind = 'refund' AND order_id = 'A1'`,
      [h.keys.workspaceId],
    );
    expect(Number(sum!.taken)).toBe(200);
    const reversed = await eventsOf('ann', 'Points Reversed');
    expect(reversed).toHaveLength(3);
  });

  it('writes Points Earned and Tier Changed events that journeys and segments can use', async () => {
    await call('POST', '/api/members', { userId: 'bob' });
    await track('bob', 'Order Completed', { order_id: 'B1', total: 600 });
    const tick = await refresh();
    expect(tick.tiers.changed).toBe(1);
    const earned = await eventsOf('bob', 'Points Earned');
    expect(earned).toHaveLength(1);
    expect(earned[0].properties).toMatchObject({ kind: 'earn', points: 600, balance: 600, order_id: 'B1' });
    const tiers = await eventsOf('bob', 'Tier Changed');
    // Newest first, as a person's events are listed.
    expect(tiers.map((e: { properties: unknown }) => e.properties)).toEqual([
      { from_tier: 'member', to_tier: 'gold' },
      { from_tier: null, to_tier: 'member' },
    ]);
    // A segment over them, like any behaviour.
    const estimate = await call('POST', '/api/segments/estimate', {
      definition: {
        type: 'performed',
        event: 'Tier Changed',
        where: [{ property: 'to_tier', op: 'eq', value: 'gold' }],
        window: { last: '30d' },
      },
    });
    expect(estimate.status).toBe(200);
    expect(estimate.body.size).toBe(1);
  });

  it('leaving forfeits the points and ends member-only offers; joining again starts from zero', async () => {
    await call('POST', '/api/members', { userId: 'cat', memberNo: 'M-CAT' });
    await track('cat', 'Order Completed', { order_id: 'C1', total: 80 });
    await refresh();
    expect((await member('cat')).pointsBalance).toBe(80);

    const left = await call('POST', '/api/members/cat/leave', { reason: 'moved abroad' });
    expect(left.status).toBe(200);
    expect(left.body).toMatchObject({ status: 'left', pointsBalance: 0, tier: null });
    expect(left.body.leftAt).toBe(new Date(clock.now()).toISOString());
    expect((await call('POST', '/api/members/cat/leave', {})).status).toBe(404);
    expect((await ledger('cat'))[0]).toMatchObject({ kind: 'forfeit', points: -80, balanceAfter: 0 });
    expect((await eventsOf('cat', 'Member Left'))[0].properties).toEqual({ reason: 'moved abroad' });
    expect((await call('GET', '/api/members')).body.members.map((m: { userId: string }) => m.userId)).not.toContain('cat');

    // Orders while outside the programme earn nothing.
    await track('cat', 'Order Completed', { order_id: 'C2', total: 50 });
    await refresh();
    expect((await member('cat')).pointsBalance).toBe(0);

    // Member-only coupons: refused now, even though her old Member Joined event is still there.
    const campaign = await call('POST', '/api/coupon-campaigns', {
      name: 'members-5-off',
      discount: { kind: 'amount', value: 5 },
      memberOnly: true,
    });
    expect(campaign.status).toBe(201);
    const issue = (key: string) =>
      call('POST', `/api/coupon-campaigns/${campaign.body.campaignId}/issue`, { userId: 'cat', idempotencyKey: key });
    expect((await issue('cat-1')).body).toEqual({ issued: false, reason: 'not_a_member' });

    clock.advance(HOUR);
    const again = await call('POST', '/api/members', { userId: 'cat' });
    expect(again.status).toBe(201);
    expect(again.body.member).toMatchObject({ status: 'active', pointsBalance: 0, memberNo: 'M-CAT', leftAt: null });
    expect(await eventsOf('cat', 'Member Joined')).toHaveLength(2);
    expect((await issue('cat-2')).status).toBe(201);
  });

  it('a Member Left event ends a membership; a later Member Joined event starts a new one', async () => {
    await track('dan', 'Member Joined', {});
    await refresh();
    await track('dan', 'Order Completed', { order_id: 'D1', total: 40 });
    await refresh();
    clock.advance(HOUR);
    await track('dan', 'Member Left', { reason: 'unsubscribed in app' });
    expect((await refresh()).left).toBe(1);
    expect(await member('dan')).toMatchObject({ status: 'left', pointsBalance: 0 });
    // The daily reconciliation re-reads old joins: the join before leaving must not bring her back.
    expect((await refresh()).joined).toBe(0);
    clock.advance(HOUR);
    await track('dan', 'Member Joined', {});
    expect((await refresh()).joined).toBe(1);
    expect(await member('dan')).toMatchObject({ status: 'active', pointsBalance: 0 });
  });
});
