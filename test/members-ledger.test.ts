import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adjustPoints,
  joinMember,
  MemberJobs,
  membershipSettingsSchema,
  memberView,
  saveMembershipSettings,
  spendPoints,
} from '../src/commerce/members/index.ts';
import { DAY, HOUR, MINUTE } from '../src/core/clock.ts';
import { AppError } from '../src/core/errors.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { engines } from './engines.ts';
import { Shop } from './journey-fixtures.ts';

describe.each(engines)('points ledger (%s)', (engine) => {
  let shop: Shop;
  let jobs: MemberJobs;
  let keySeq = 0;

  const join = async (userId: string) => {
    await shop.identify(userId, { name: userId });
    await joinMember(shop.store, shop.ws, { userKey: shop.key(userId), source: 'test' }, shop.clock.now());
    return shop.key(userId);
  };
  const credit = (userKey: number, points: number) =>
    adjustPoints(shop.store, shop.ws, { userKey, points, idempotencyKey: `c${++keySeq}`, reason: 'test' }, shop.clock.now());
  const spend = (userKey: number, points: number, idempotencyKey = `s${++keySeq}`) =>
    spendPoints(shop.store, shop.ws, { userKey, points, idempotencyKey }, shop.clock.now());
  /** The ledger's own sum and the balance row must always agree, and never be negative. */
  const audit = async (userKey: number) => {
    const [row] = await shop.store.query<{ ledger: number; balance: number }>(
      `SELECT (SELECT COALESCE(SUM(points), 0) FROM points_ledger WHERE workspace_id = $1 AND user_key = $2) AS ledger,
              (SELECT points_balance FROM members WHERE workspace_id = $1 AND user_key = $2) AS balance`,
      [shop.ws, userKey],
    );
    expect(Number(row!.ledger)).toBe(Number(row!.balance));
    expect(Number(row!.balance)).toBeGreaterThanOrEqual(0);
    return Number(row!.balance);
  };
  const settle = <T>(promises: Promise<T>[]) => Promise.allSettled(promises);

  beforeAll(async () => {
    shop = await Shop.open(engine);
    jobs = new MemberJobs(shop.store, shop.clock);
    await saveMembershipSettings(shop.store, shop.ws, membershipSettingsSchema.parse({ expiryDays: 10 }), shop.clock.now());
  });
  afterAll(() => shop.dispose());

  it('concurrent spends never overdraw: exactly as many succeed as the balance allows', async () => {
    const ann = await join('ann');
    await credit(ann, 1000);
    const results = await settle(Array.from({ length: 30 }, () => spend(ann, 50)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(20);
    expect(refused).toHaveLength(10);
    for (const r of refused) expect(r.reason).toMatchObject({ code: 'conflict' });
    expect(await audit(ann)).toBe(0);
    // Each successful spend saw the balance left by the one before it.
    const after = ok
      .map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof spend>>>).value.entry.balanceAfter)
      .sort((a, b) => b - a);
    expect(after).toEqual(Array.from({ length: 20 }, (_, i) => 950 - 50 * i));
  });

  it('the same idempotency key sent concurrently spends once', async () => {
    const ben = await join('ben');
    await credit(ben, 100);
    const results = await Promise.all(Array.from({ length: 10 }, () => spend(ben, 5, 'same-key')));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(new Set(results.map((r) => r.entry.entryId)).size).toBe(1);
    expect(await audit(ben)).toBe(95);
  });

  it('earning from orders while spends run concurrently (and two job runners at once) stays consistent', async () => {
    const cat = await join('cat');
    await credit(cat, 200);
    await shop.send(
      Array.from({ length: 40 }, (_, i) => ({ userId: 'cat', event: 'Order Completed', properties: { order_id: `C${i}`, total: 10 } })),
    );
    const other = new MemberJobs(shop.store, shop.clock);
    const results = await settle<unknown>([
      jobs.tickWorkspace(shop.ws),
      other.tickWorkspace(shop.ws),
      ...Array.from({ length: 30 }, () => spend(cat, 10)),
    ]);
    expect(results[0]!.status).toBe('fulfilled');
    expect(results[1]!.status).toBe('fulfilled');
    const spent = results.slice(2).filter((r) => r.status === 'fulfilled').length;
    const [earned] = await shop.store.query<{ n: number; points: number }>(
      `SELECT COUNT(*) AS n, SUM(points) AS points FROM points_ledger WHERE workspace_id = $1 AND user_key = $2 AND kind = 'earn'`,
      [shop.ws, cat],
    );
    expect(Number(earned!.n)).toBe(40);
    expect(Number(earned!.points)).toBe(400);
    expect(await audit(cat)).toBe(600 - 10 * spent);
  });

  it('spends and expires oldest-expiry first; only what is left of a credit expires', async () => {
    const t0 = shop.clock.now();
    const dan = await join('dan');
    await credit(dan, 100); // expires t0 + 10d
    shop.clock.set(t0 + 5 * DAY);
    await credit(dan, 50); // expires t0 + 15d
    shop.clock.set(t0 + 6 * DAY);
    await spend(dan, 120); // all of the first credit, 20 of the second
    expect((await memberView(shop.store, shop.ws, dan, shop.clock.now())).expiring).toEqual([
      { points: 30, expiresAt: new Date(t0 + 15 * DAY).toISOString() },
    ]);
    shop.clock.set(t0 + 10 * DAY + 1);
    await jobs.tickWorkspace(shop.ws);
    expect(await audit(dan)).toBe(30);
    shop.clock.set(t0 + 15 * DAY + 1);
    const tick = await jobs.tickWorkspace(shop.ws);
    expect(tick.expired.points).toBeGreaterThanOrEqual(30);
    expect(await audit(dan)).toBe(0);
    const rows = await shop.store.query<{ points: number; lot_entry_id: number }>(
      `SELECT points, lot_entry_id FROM points_ledger WHERE workspace_id = $1 AND user_key = $2 AND kind = 'expire'`,
      [shop.ws, dan],
    );
    expect(rows.map((r) => Number(r.points))).toEqual([-30]);
  });

  it('a spend after a credit fell due cannot use it, even before the job has run', async () => {
    const t0 = shop.clock.now();
    const eve = await join('eve');
    await credit(eve, 100);
    shop.clock.set(t0 + 10 * DAY + 1);
    await expect(spend(eve, 1)).rejects.toMatchObject({ code: 'conflict' });
    await credit(eve, 5);
    const r = await spend(eve, 5);
    expect(r.balance).toBe(0);
    expect(await audit(eve)).toBe(0);
  });

  it('the coupon hook runs inside the spend: if it fails, no points move', async () => {
    const fay = await join('fay');
    await credit(fay, 100);
    const failing = spendPoints(
      shop.store,
      shop.ws,
      { userKey: fay, points: 40, idempotencyKey: 'coupon-1' },
      shop.clock.now(),
      async () => {
        throw new AppError('conflict', 'coupon budget exhausted');
      },
    );
    await expect(failing).rejects.toMatchObject({ code: 'conflict', message: 'coupon budget exhausted' });
    expect(await audit(fay)).toBe(100);
    let seen = 0;
    const ok = await spendPoints(
      shop.store,
      shop.ws,
      { userKey: fay, points: 40, idempotencyKey: 'coupon-1', reason: 'coupon', reference: 'campaign-7' },
      shop.clock.now(),
      async (tx, entry) => {
        const [row] = await tx.query<{ n: number }>('SELECT COUNT(*) AS n FROM points_ledger WHERE workspace_id = $1 AND entry_id = $2', [
          shop.ws,
          entry.entryId,
        ]);
        seen = Number(row!.n);
      },
    );
    expect(seen).toBe(1);
    expect(ok.entry).toMatchObject({ reason: 'coupon', reference: 'campaign-7', points: -40 });
    expect(await audit(fay)).toBe(60);
  });

  it('when two members turn out to be one person, their points and ledgers combine', async () => {
    const gus = await join('gus');
    await credit(gus, 70);
    await shop.send([{ anonymousId: 'anon-gus', event: 'Member Joined', properties: { member_no: 'G-1' } }]);
    await shop.send([{ anonymousId: 'anon-gus', event: 'Order Completed', properties: { order_id: 'G-order', total: 30 } }]);
    await jobs.tickWorkspace(shop.ws);
    await shop.send([{ type: 'alias', userId: 'gus', previousId: 'anon-gus' }]);
    const tick = await jobs.tickWorkspace(shop.ws);
    expect(tick.merged).toBe(1);
    const view = await memberView(shop.store, shop.ws, gus, shop.clock.now());
    expect(view).toMatchObject({ status: 'active', memberNo: 'G-1', pointsBalance: 100 });
    expect(await audit(gus)).toBe(100);
    const [left] = await shop.store.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM members m JOIN users u ON u.workspace_id = m.workspace_id AND u.user_key = m.user_key WHERE m.workspace_id = $1 AND u.merged_into IS NOT NULL',
      [shop.ws],
    );
    expect(Number(left!.n)).toBe(0);
  });

  it('an order stored late (behind the watermark) still earns at the daily reconciliation', async () => {
    const hal = await join('hal');
    shop.clock.advance(2 * HOUR);
    await jobs.tickWorkspace(shop.ws);
    const now = shop.clock.now();
    const late = normalizeEvent(
      { type: 'track', userId: 'hal', event: 'Order Completed', messageId: 'late-1', properties: { order_id: 'H1', total: 42 } },
      [],
      { workspaceId: shop.ws, receivedAt: now - HOUR, source: 'api' },
    );
    if (!late.ok) throw new Error('bad event');
    await writeBatch(shop.store, shop.ws, [late.event], now - HOUR);
    shop.clock.set(now + MINUTE);
    expect((await jobs.tickWorkspace(shop.ws)).earned.orders).toBe(0);
    shop.clock.set(now + DAY);
    expect((await jobs.tickWorkspace(shop.ws)).earned).toMatchObject({ orders: 1, points: 42 });
    expect(await audit(hal)).toBe(42);
  });

  it('tiers rise and fall as the period slides, and every change is recorded', async () => {
    const settings = membershipSettingsSchema.parse({
      expiryDays: 10,
      tiers: [{ name: 'basic' }, { name: 'vip', rule: { metric: 'points', min: 50, periodDays: 30 } }],
    });
    await saveMembershipSettings(shop.store, shop.ws, settings, shop.clock.now());
    const ivy = await join('ivy');
    await shop.track('ivy', 'Order Completed', { order_id: 'I1', total: 60 });
    await jobs.tickWorkspace(shop.ws);
    expect((await memberView(shop.store, shop.ws, ivy, shop.clock.now())).tier).toBe('vip');
    shop.clock.advance(31 * DAY);
    const tick = await jobs.tickWorkspace(shop.ws);
    expect(tick.tiers.mode).toBe('full');
    expect((await memberView(shop.store, shop.ws, ivy, shop.clock.now())).tier).toBe('basic');
    const changes = await shop.store.query<{ from_tier: string | null; to_tier: string | null }>(
      'SELECT from_tier, to_tier FROM member_tier_changes WHERE workspace_id = $1 AND user_key = $2 ORDER BY changed_at',
      [shop.ws, ivy],
    );
    expect(changes).toEqual([
      { from_tier: null, to_tier: 'vip' },
      { from_tier: 'vip', to_tier: 'basic' },
    ]);
  });
});
