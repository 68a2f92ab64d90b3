import { afterEach, describe, expect, it } from 'vitest';
import { couponCampaignInputSchema, createCampaign, issueToPerson, redeemCoupon } from '../src/commerce/coupons/index.ts';
import { MINUTE, VirtualClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { createJourney, defaultEngineOptions, JourneyEngine, journeyDefinitionSchema, publishJourney } from '../src/journeys/index.ts';
import { createSegment, defaultRefresherOptions, SegmentRefresher, segmentInputSchema } from '../src/segments/index.ts';
import {
  EventsInFlight,
  eventWritesInFlightSince,
  longEventWriteWarnings,
  openStore,
  type Store,
  writingEvents,
} from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { freshStore } from './engines.ts';

/**
 * Events written outside the ingest path (journey steps, message outcomes and clicks, membership
 * moves, coupon states) are stamped by their writer and commit when its transaction does. Readers
 * of new events (journey engine, segment refresher, computed traits) must not move their cursors
 * past such a stamp while its write is in flight, or the events are stored and never read: a
 * journey triggered by them never starts, a segment on them misses people (EventsInFlight).
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A store whose next transaction does its work, then waits at the gate before it commits. */
function stalledCommit(store: Store) {
  let reached!: () => void;
  let open!: () => void;
  const atGate = new Promise<void>((r) => {
    reached = r;
  });
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const gated: Store = {
    ...store,
    transaction: (fn) =>
      store.transaction(async (tx) => {
        const result = await fn(tx);
        reached();
        await gate;
        return result;
      }),
  };
  return { gated, atGate, open };
}

const writers = [
  ['duckdb', 'this process'],
  ['postgres', 'this process'],
  ['postgres', 'another process'],
] as const;

/** A fresh store with a workspace, and the store the writer uses: the same, or another process's pool on the same database. */
async function shopWithWriter(engine: (typeof writers)[number][0], writer: (typeof writers)[number][1], clock: VirtualClock) {
  const fresh = await freshStore(engine, clock);
  cleanups.push(fresh.dispose);
  const ws = (await createWorkspace(fresh.store, 'shop', clock.now())).workspaceId;
  if (writer === 'this process') return { store: fresh.store, ws, writerStore: fresh.store };
  const writerStore = await openStore({ url: fresh.url, dataDir: '.', dedupeDays: 8 }, clock);
  cleanups.push(() => writerStore.close());
  return { store: fresh.store, ws, writerStore };
}

describe.each(writers)('an event written outside ingest on %s, by %s, that commits late', (engine, writer) => {
  it('still starts the journey it triggers and enters the segment on it', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 1));
    const { store, ws, writerStore } = await shopWithWriter(engine, writer, clock);
    const signUps = ['cat', 'bob'].map((userId) => {
      const r = normalizeEvent({ type: 'track', userId, event: 'Signed Up', messageId: `s-${userId}` }, [], {
        workspaceId: ws,
        receivedAt: clock.now(),
        source: 'api',
      });
      if (!r.ok) throw new Error('invalid event');
      return r.event;
    });
    await writeBatch(store, ws, signUps, clock.now(), () => clock.now());
    const campaign = await createCampaign(
      store,
      ws,
      couponCampaignInputSchema.parse({ name: 'welcome', discount: { kind: 'amount', value: 5 } }),
      clock.now(),
    );
    const people = new Map<string, { userKey: number; code: string }>();
    for (const userId of ['cat', 'bob']) {
      const [p] = await store.query<{ user_key: number }>("SELECT user_key FROM identities WHERE type = 'user_id' AND value = $1", [
        userId,
      ]);
      const issued = await issueToPerson(store, ws, campaign.campaignId, Number(p!.user_key), `${userId}-1`, clock.now());
      if (!issued.issued) throw new Error('no code');
      people.set(userId, { userKey: Number(p!.user_key), code: issued.coupon.code });
    }
    const cat = people.get('cat')!;
    const bob = people.get('bob')!;

    const definition = journeyDefinitionSchema.parse({
      nodes: [
        { id: 'used', type: 'entry', trigger: { kind: 'event', event: 'Coupon Redeemed' } },
        { id: 'thank', type: 'update_trait', tag: 'thanked' },
      ],
      edges: [{ from: 'used', to: 'thank' }],
    });
    const journey = await createJourney(store, ws, { name: 'Thanks', definition }, clock.now());
    await publishJourney(store, ws, journey.journeyId, clock.now());
    const redeemers = await createSegment(
      store,
      ws,
      segmentInputSchema.parse({
        name: 'redeemers',
        definition: { type: 'performed', event: 'Coupon Redeemed' },
        refresh: { mode: 'realtime' },
      }),
      clock.now(),
    );
    // As `serve` runs them: on DuckDB the engine re-reads only the millisecond of its cursor,
    // since its process's ingest buffer tells it what is not written yet (pendingSince).
    const engineOptions = { ...defaultEngineOptions, overlapMs: 300, settleWaitMs: 100 };
    const journeys = new JourneyEngine(store, clock, engine === 'duckdb' ? { ...engineOptions, pendingSince: () => null } : engineOptions);
    const refresher = new SegmentRefresher(store, clock, { ...defaultRefresherOptions, overlapMs: 300, settleWaitMs: 100 });
    clock.advance(MINUTE);
    await journeys.tick();
    await refresher.tick();

    // A till redeems Cat's code; the write is slow to commit. Meanwhile a minute passes (far more
    // than the readers' overlap), another till redeems Bob's at once, and both readers look for new
    // events: they see Bob's, and would move their cursors past Cat's stamp.
    const slow = stalledCommit(writerStore);
    const catRedeems = redeemCoupon(slow.gated, ws, { code: cat.code, orderTotal: 40 }, clock.now());
    await slow.atGate;
    clock.advance(MINUTE);
    await redeemCoupon(store, ws, { code: bob.code, orderTotal: 30 }, clock.now());
    await journeys.tick();
    await refresher.tick();
    slow.open();
    expect(await catRedeems).toMatchObject({ valid: true, discount: 5 });

    clock.advance(MINUTE);
    await journeys.tick();
    await refresher.tick();
    const entered = await store.query<{ user_key: number }>(
      'SELECT user_key FROM journey_instances WHERE workspace_id = $1 ORDER BY user_key',
      [ws],
    );
    const both = [cat.userKey, bob.userKey].sort((a, b) => a - b);
    expect(entered.map((r) => Number(r.user_key))).toEqual(both);
    const members = await store.query<{ user_key: number }>(
      'SELECT user_key FROM segment_members WHERE workspace_id = $1 AND segment_id = $2 ORDER BY user_key',
      [ws, redeemers.segmentId],
    );
    expect(members.map((r) => Number(r.user_key))).toEqual(both);
  });
});

describe.each(writers)('an event write on %s, by %s, that lasts', (engine, writer) => {
  it('is reported once, with its workspace and since when, while it holds readers back', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 1));
    const { store, ws, writerStore } = await shopWithWriter(engine, writer, clock);
    const warnings: { workspaceId: number; since: string; seconds: number }[] = [];
    const check = longEventWriteWarnings(store, clock, (fields) => warnings.push(fields), 60_000);
    const slow = stalledCommit(writerStore);
    const began = clock.now();
    const write = writingEvents(slow.gated, ws, began, (tx) => tx.query('SELECT 1'));
    await slow.atGate;
    await check();
    expect(warnings).toEqual([]);
    clock.advance(2 * MINUTE);
    await check();
    await check();
    expect(warnings).toEqual([{ workspaceId: ws, since: new Date(began).toISOString(), seconds: 120 }]);
    slow.open();
    await write;
    expect(await eventWritesInFlightSince(store, clock.now())).toEqual([]);
  });
});

describe('EventsInFlight', () => {
  it('holds readers just before the oldest write in flight, and stamps a late-registered write no earlier than readers have read', () => {
    const inFlight = new EventsInFlight();
    expect(inFlight.horizon(1, 1_000)).toBe(1_000);
    const a = inFlight.begin(1, 900);
    // A write whose caller took its time before a reader moved to 1,000 is stamped just after.
    expect(a.at).toBe(1_001);
    const b = inFlight.begin(1, 1_500);
    expect(b.at).toBe(1_500);
    expect(inFlight.horizon(1, 2_000)).toBe(1_000);
    expect(inFlight.horizon(2, 2_000)).toBe(2_000);
    a.end();
    expect(inFlight.horizon(1, 2_000)).toBe(1_499);
    b.end();
    b.end();
    expect(inFlight.horizon(1, 2_000)).toBe(2_000);
  });
});
