import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { couponCampaignInputSchema, createCampaign, issueToPerson, syncCoupons } from '../src/commerce/coupons/index.ts';
import { joinMember, MemberJobs, membershipSettingsSchema, saveMembershipSettings } from '../src/commerce/members/index.ts';
import { type Clock, DAY, MINUTE, systemClock, VirtualClock } from '../src/core/clock.ts';
import { importFile } from '../src/ingest/bulk/index.ts';
import { IngestBuffer, normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { createJourney, defaultEngineOptions, JourneyEngine, journeyDefinitionSchema, publishJourney } from '../src/journeys/index.ts';
import { defaultProfileJobOptions, ProfileJobs } from '../src/profiles/index.ts';
import { createSegment, defaultRefresherOptions, SegmentRefresher, segmentInputSchema } from '../src/segments/index.ts';
import { advisoryLock, openStore, type SqlExecutor, type Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';

/**
 * Events are stamped received when their write's turn comes, not when the request (or the import)
 * began; and on PostgreSQL the readers of new events (journey engine, segment refresher) move their
 * cursors only as far as writes are known committed (SettledEvents). Without both, a write that
 * waited for its workspace's turn behind another process's large write, or a late slice of a long
 * import, commits events already behind the readers' cursors: acknowledged, stored, and never
 * enrolled, converted or counted in a segment (docs/operations.md).
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function shop(engine: (typeof engines)[number], clock: Clock) {
  const fresh = await freshStore(engine, clock);
  cleanups.push(fresh.dispose);
  const ws = await createWorkspace(fresh.store, 'shop', clock.now());
  return { ...fresh, ws: ws.workspaceId };
}

function order(workspaceId: number, i: number, receivedAt: number) {
  const r = normalizeEvent(
    { type: 'track', userId: `u${i}`, event: 'Order Placed', messageId: `o-${i}`, properties: { order_id: `o-${i}`, total: 30 } },
    [],
    { workspaceId, receivedAt, source: 'api' },
  );
  if (!r.ok) throw new Error('invalid order');
  return r.event;
}

const receivedTimes = async (store: Store, ws: number) =>
  (await store.query<{ t: number }>('SELECT DISTINCT received_at AS t FROM events WHERE workspace_id = $1 ORDER BY t', [ws])).map((r) =>
    Number(r.t),
  );

describe.each(engines)('receive times on %s', (engine) => {
  it('an API write stamps its events when its turn comes, and hands the engine those times', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 1));
    const { store, ws } = await shop(engine, clock);
    const handed: number[] = [];
    const ingest = new IngestBuffer(store, clock, {
      maxEvents: 5_000,
      maxDelayMs: 60_000,
      onCommitted: (_ws, events) => handed.push(...events.map((e) => e.receivedAt)),
    });
    const requestAt = clock.now();
    const acknowledged = ingest.submit([order(ws, 1, requestAt)]);
    clock.advance(5_000);
    await ingest.flush();
    expect(await acknowledged).toEqual({ stored: 1, duplicates: 0 });
    expect(await receivedTimes(store, ws)).toEqual([requestAt + 5_000]);
    expect(handed).toEqual([requestAt + 5_000]);
  });

  it('each slice of an import is stamped when its turn comes', async () => {
    // A clock that moves a second each time it is read: slices written later read it later.
    let t = Date.UTC(2026, 10, 1);
    const clock: Clock = { now: () => (t += 1_000) };
    const { store, ws } = await shop(engine, clock);
    const dir = mkdtempSync(join(tmpdir(), 'turn-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'orders.ndjson');
    const lines = [1, 2, 3, 4].map((i) => ({ type: 'track', userId: `u${i}`, event: 'Signed Up', messageId: `s-${i}` }));
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const summary = await importFile(
      store,
      clock,
      ws,
      { kind: 'events', file, format: 'ndjson', skipInvalid: false, sliceLines: 2 },
      silentProgress,
    );
    expect(summary).toMatchObject({ stored: 4, errors: [] });
    const times = await receivedTimes(store, ws);
    expect(times).toHaveLength(2);
    expect(times[1]!).toBeGreaterThan(times[0]!);
  });
});

describe('an ingest write that waits for its turn on PostgreSQL', () => {
  it('commits events stamped after the wait, which an engine in another process enrols', async () => {
    const { store: engineStore, url, ws } = await shop('postgres', systemClock);
    const apiStore = await openStore({ url, dataDir: '.', dedupeDays: 8 }, systemClock);
    cleanups.push(() => apiStore.close());
    const definition = journeyDefinitionSchema.parse({
      nodes: [
        { id: 'placed', type: 'entry', trigger: { kind: 'event', event: 'Order Placed', key: 'order_id' } },
        { id: 'tag', type: 'update_trait', tag: 'ordered' },
      ],
      edges: [{ from: 'placed', to: 'tag' }],
    });
    const journey = await createJourney(engineStore, ws, { name: 'Orders', definition }, systemClock.now());
    await publishJourney(engineStore, ws, journey.journeyId, systemClock.now());
    const engine = new JourneyEngine(engineStore, systemClock, { ...defaultEngineOptions, overlapMs: 300, settleWaitMs: 100 });
    await engine.tick();

    // Another process's long write holds the workspace's turn.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(${advisoryLock.identities}, $1)`, [ws]);
    const ingest = new IngestBuffer(apiStore, systemClock, { maxEvents: 5_000, maxDelayMs: 0 });
    const acknowledged = ingest.submit([order(ws, 1, systemClock.now())]);
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await engine.tick();
    }
    const turnCame = systemClock.now();
    await holder.query('COMMIT');
    expect(await acknowledged).toEqual({ stored: 1, duplicates: 0 });
    expect((await receivedTimes(apiStore, ws))[0]).toBeGreaterThanOrEqual(turnCame);

    await engine.tick();
    const instances = await engineStore.query<{ instance_key: string }>(
      'SELECT instance_key FROM journey_instances WHERE workspace_id = $1',
      [ws],
    );
    expect(instances.map((r) => r.instance_key)).toEqual(['o-1']);
  });
});

/** A store whose next event write takes its turn (the workspace lock), stamps, and then waits at the gate before writing. */
function gatedStore(store: Store) {
  let reached!: () => void;
  let open!: () => void;
  const atGate = new Promise<void>((r) => {
    reached = r;
  });
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const gatedTx = (tx: SqlExecutor): SqlExecutor => ({
    query: (sql, params) => tx.query(sql, params),
    execute: (sql, params) => tx.execute(sql, params),
    append: async (table, columns, rows) => {
      if (table === 'events') {
        reached();
        await gate;
      }
      return tx.append(table, columns, rows);
    },
  });
  const gated: Store = { ...store, transaction: (fn) => store.transaction((tx) => fn(gatedTx(tx))) };
  return { gated, atGate, open };
}

describe('readers of new events on PostgreSQL, while another process writes for long', () => {
  it('see an event that commits after they moved on: the refresher a segment entry, the coupon sync a redemption, computed traits and the membership job an order, the engine a goal', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 1));
    const { store, url, ws } = await shop('postgres', clock);
    const other = await openStore({ url, dataDir: '.', dedupeDays: 8 }, clock);
    cleanups.push(() => other.close());
    const definition = journeyDefinitionSchema.parse({
      nodes: [
        { id: 'joined', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
        { id: 'day', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
        { id: 'a', type: 'update_trait', tag: 'a' },
        { id: 'week', type: 'wait', wait: { kind: 'duration', duration: '5d' } },
        { id: 'b', type: 'update_trait', tag: 'b' },
      ],
      edges: [
        { from: 'joined', to: 'day' },
        { from: 'day', to: 'a' },
        { from: 'a', to: 'week' },
        { from: 'week', to: 'b' },
      ],
      settings: { goal: { event: 'Order Completed' } },
    });
    const journey = await createJourney(store, ws, { name: 'Welcome', definition }, clock.now());
    await publishJourney(store, ws, journey.journeyId, clock.now());
    const engine = new JourneyEngine(store, clock, { ...defaultEngineOptions, overlapMs: 300, settleWaitMs: 100 });
    const buyers = await createSegment(
      store,
      ws,
      segmentInputSchema.parse({
        name: 'buyers',
        definition: { type: 'performed', event: 'Order Completed' },
        refresh: { mode: 'realtime' },
      }),
      clock.now(),
    );
    const refresher = new SegmentRefresher(store, clock, { ...defaultRefresherOptions, overlapMs: 300, settleWaitMs: 100 });
    const traits = new ProfileJobs(store, clock, { ...defaultProfileJobOptions, overlapMs: 300, settleWaitMs: 100 });
    // No reconcile during the test: it re-reads a week of orders and would hide a missed one.
    const memberJobs = new MemberJobs(store, clock, { overlapMs: 300, settleWaitMs: 100, reconcileEveryMs: 30 * DAY });
    const track = (userId: string, event: string, messageId: string, properties: Record<string, unknown> = {}) => {
      const r = normalizeEvent({ type: 'track', userId, event, messageId, properties }, [], {
        workspaceId: ws,
        receivedAt: clock.now(),
        source: 'api',
      });
      if (!r.ok) throw new Error('invalid event');
      return r.event;
    };
    clock.advance(MINUTE);
    await writeBatch(store, ws, [track('ann', 'Signed Up', 's-ann'), track('bob', 'Signed Up', 's-bob')], clock.now(), () => clock.now());
    await engine.tick();
    // Cat bought before: the segment's first refresh has a member, and later ones are incremental.
    await writeBatch(store, ws, [track('cat', 'Order Completed', 'o-cat', { order_id: 'o0', total: 10 })], clock.now(), () => clock.now());
    await refresher.tick();
    await traits.tick();
    const campaign = await createCampaign(
      store,
      ws,
      couponCampaignInputSchema.parse({ name: 'welcome', discount: { kind: 'amount', value: 5 } }),
      clock.now(),
    );
    const [cat] = await store.query<{ user_key: number }>("SELECT user_key FROM identities WHERE type = 'user_id' AND value = 'cat'");
    const issued = await issueToPerson(store, ws, campaign.campaignId, Number(cat!.user_key), 'cat-1', clock.now());
    if (!issued.issued) throw new Error('no code');
    await syncCoupons(store, ws, clock.now());
    await saveMembershipSettings(store, ws, membershipSettingsSchema.parse({}), clock.now());
    await joinMember(store, ws, { userKey: Number(cat!.user_key), source: 'test' }, clock.now());
    await memberJobs.tick();

    // Ann's order, Dan's (who is in no journey) and Cat's second, with her code, are written by
    // another process, which takes the turn, stamps them, and then is slow.
    clock.advance(MINUTE);
    const slow = gatedStore(other);
    const orders = [
      track('ann', 'Order Completed', 'o-ann', { order_id: 'o1', total: 40 }),
      track('dan', 'Order Completed', 'o-dan', { order_id: 'o2', total: 15 }),
      track('cat', 'Order Completed', 'o-cat-2', { order_id: 'o3', total: 25, coupon: issued.coupon.code }),
    ];
    const order = writeBatch(slow.gated, ws, orders, clock.now(), () => clock.now());
    await slow.atGate;
    // Meanwhile a day passes: both step on, and the journey events they leave are new events to
    // both readers, which then move their cursors.
    clock.advance(DAY);
    await engine.tick();
    await engine.tick();
    await refresher.tick();
    await syncCoupons(store, ws, clock.now());
    await traits.tick();
    await memberJobs.tick();
    slow.open();
    expect(await order).toMatchObject({ stored: 3 });
    // The refresher first: the engine's conversion would write an event of Ann's that it reads anyway.
    await refresher.tick();
    const members = await store.query<{ user_id: string }>(
      `SELECT d.value AS user_id FROM segment_members m
       JOIN identities d ON d.workspace_id = m.workspace_id AND d.user_key = m.user_key AND d.type = 'user_id'
       WHERE m.workspace_id = $1 AND m.segment_id = $2`,
      [ws, buyers.segmentId],
    );
    expect(members.map((m) => m.user_id).sort()).toEqual(['ann', 'cat', 'dan']);
    await syncCoupons(store, ws, clock.now());
    await traits.tick();
    const [dan] = await store.query<{ order_count: number }>(
      `SELECT t.order_count FROM computed_traits t
       JOIN identities d ON d.workspace_id = t.workspace_id AND d.user_key = t.user_key AND d.type = 'user_id' AND d.value = 'dan'`,
    );
    expect(Number(dan?.order_count)).toBe(1);
    const [code] = await store.query<{ state: string; order_id: string }>(
      'SELECT state, order_id FROM coupon_codes WHERE workspace_id = $1',
      [ws],
    );
    expect(code).toEqual({ state: 'redeemed', order_id: 'o3' });
    // Cat is a member: her order earns its points (25 at one point per unit), as her first did.
    await memberJobs.tick();
    const earned = await store.query<{ order_id: string; points: number }>(
      "SELECT order_id, points FROM points_ledger WHERE workspace_id = $1 AND kind = 'earn' ORDER BY order_id",
      [ws],
    );
    expect(earned.map((e) => [e.order_id, Number(e.points)])).toEqual([
      ['o0', 10],
      ['o3', 25],
    ]);
    await engine.tick();
    const rows = await store.query<{ user_id: string; status: string }>(
      `SELECT d.value AS user_id, i.status FROM journey_instances i
       JOIN identities d ON d.workspace_id = i.workspace_id AND d.user_key = i.user_key AND d.type = 'user_id'
       WHERE i.workspace_id = $1 ORDER BY d.value`,
      [ws],
    );
    expect(rows).toEqual([
      { user_id: 'ann', status: 'converted' },
      { user_id: 'bob', status: 'active' },
    ]);
  });
});
