import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type Server } from '../src/api/server.ts';
import { systemClock } from '../src/core/clock.ts';
import {
  type CommittedEvent,
  createJourney,
  defaultEngineOptions,
  JourneyEngine,
  journeyDefinitionSchema,
  publishJourney,
  setJourneyRunning,
} from '../src/journeys/index.ts';
import { openStore, type SqlParam, type Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';
import { DAY, killAtSecondStepEvents, Shop } from './journey-fixtures.ts';
import { addMissingTemplates } from './template-fixtures.ts';

/**
 * The event fast path: committed events enrol event-triggered journeys and step the new
 * instances through instant nodes at once, without a general tick — with the tick's guarantees
 * (entry once, each step once, a crash rolls back whole and is redone by a tick).
 */

const line = (event: string, nodes: Record<string, unknown>[], settings: Record<string, unknown> = {}, key?: string) => {
  const all = [{ id: 'in', type: 'entry', trigger: { kind: 'event', event, ...(key ? { key } : {}) } }, ...nodes];
  return { nodes: all, edges: all.slice(1).map((n, i) => ({ from: all[i]!.id, to: n.id as string })), settings };
};
const send = (id: string) => ({ id, type: 'send', channel: 'sms', template: id });
const wait1d = { id: 'pause', type: 'wait', wait: { kind: 'duration', duration: '1d' } };

/** The events of the workspace not handed over yet, as the ingest buffer hands them over after a commit. */
class Committed {
  private readonly handed = new Set<string>();
  constructor(private readonly shop: Shop) {}
  async take(): Promise<CommittedEvent[]> {
    const rows = await this.shop.store.query<{ message_id: string; event: string | null; received_at: number }>(
      `SELECT message_id, event, received_at FROM events WHERE workspace_id = $1 AND source = 'api' ORDER BY message_id`,
      [this.shop.ws],
    );
    const fresh = rows.filter((r) => !this.handed.has(r.message_id));
    for (const r of fresh) this.handed.add(r.message_id);
    return fresh.map((r) => ({ messageId: r.message_id, event: r.event, receivedAt: Number(r.received_at) }));
  }
}

async function count(store: Store, sql: string, params: SqlParam[]): Promise<number> {
  const [row] = await store.query<{ n: number }>(sql, params);
  return Number(row?.n ?? 0);
}

/** The journey's events named `name` (Journey Entered, Journey Step…). */
const journeyEvents = (shop: Shop, journeyId: number, name: string) =>
  count(
    shop.store,
    `SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND event = $3 AND (properties ->> 'journey_id') = CAST($2 AS TEXT)`,
    [shop.ws, journeyId, name],
  );

/** Per journey: outbox rows, instances, steps and their events. */
async function tally(shop: Shop, journeyId: number) {
  const p = [shop.ws, journeyId];
  return {
    outbox: await count(shop.store, 'SELECT count(*) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2', p),
    distinctKeys: await count(
      shop.store,
      'SELECT count(DISTINCT message_key) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2',
      p,
    ),
    instances: await count(shop.store, 'SELECT count(*) AS n FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2', p),
    steps: await count(shop.store, 'SELECT count(*) AS n FROM journey_steps WHERE workspace_id = $1 AND journey_id = $2', p),
    stepEvents: await journeyEvents(shop, journeyId, 'Journey Step'),
    enteredEvents: await journeyEvents(shop, journeyId, 'Journey Entered'),
  };
}

describe.each(engines)('journey event fast path (%s)', (engine) => {
  let shop: Shop;
  // One for the whole shop: each test takes only the events sent since the last one took them.
  let committed: Committed;
  beforeAll(async () => {
    shop = await Shop.open(engine);
    committed = new Committed(shop);
  });
  afterAll(() => shop.dispose());

  it('enrols and steps through instant nodes up to a wait, in place of a tick; a tick after it finds nothing to do', async () => {
    // confirm, then a split: a → a message, then a one-day wait; b → straight to the wait.
    const def = journeyDefinitionSchema.parse({
      ...line('Fast Order', [send('confirm')], {}, 'order_id'),
      nodes: [
        ...line('Fast Order', [send('confirm')], {}, 'order_id').nodes,
        {
          id: 'ab',
          type: 'split',
          variants: [
            { branch: 'a', percent: 50 },
            { branch: 'b', percent: 50 },
          ],
        },
        send('a-msg'),
        wait1d,
        send('later'),
      ],
      edges: [
        { from: 'in', to: 'confirm' },
        { from: 'confirm', to: 'ab' },
        { from: 'ab', branch: 'a', to: 'a-msg' },
        { from: 'ab', branch: 'b', to: 'pause' },
        { from: 'a-msg', to: 'pause' },
        { from: 'pause', to: 'later' },
      ],
    });
    await addMissingTemplates(shop.store, shop.ws, def, shop.clock.now());
    const j = await createJourney(shop.store, shop.ws, { name: 'fast-split', definition: def }, shop.clock.now());
    await publishJourney(shop.store, shop.ws, j.journeyId, shop.clock.now());
    const people = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'];
    for (const [i, who] of people.entries()) await shop.track(who, 'Fast Order', { order_id: `fo-${i}` });

    const r = await shop.engine.takeEvents(shop.ws, await committed.take());
    expect(r.entered).toBe(people.length);
    expect(r.needsTick).toBe(false);
    for (const who of people) {
      const [path] = await shop.path(j.journeyId, who);
      const sent = await shop.sent(j.journeyId, who);
      // Everyone got the confirmation and is waiting a day; branch a got its message on the way.
      expect(sent[0]).toBe('confirm:confirm');
      expect(path!.nodeId).toBe('pause');
      expect(path!.status).toBe('active');
      expect(path!.steps.map((s) => s.nodeId)).toEqual(sent.length === 2 ? ['confirm', 'ab', 'a-msg'] : ['confirm', 'ab']);
    }
    const waiting = await shop.store.query<{ due_at: number; node_state: number }>(
      'SELECT due_at, node_state FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2',
      [shop.ws, j.journeyId],
    );
    for (const w of waiting) expect([Number(w.due_at), Number(w.node_state)]).toEqual([shop.clock.now() + DAY, 1]);
    const before = await tally(shop, j.journeyId);
    expect(before.outbox).toBe(before.distinctKeys);
    expect(before.steps).toBe(before.stepEvents);
    // Written with the first step's events, in the same statement.
    expect(before.enteredEvents).toBe(people.length);

    // The tick re-reads the same events through its cursor: entered already, nothing due.
    const ticked = await shop.engine.tickWorkspace(shop.ws);
    expect(ticked.find((t) => t.journeyId === j.journeyId) ?? { entered: 0, moved: 0 }).toMatchObject({ entered: 0, moved: 0 });
    expect(await tally(shop, j.journeyId)).toEqual(before);
    // A day later the tick (time-driven work) moves them on.
    await shop.advance(DAY);
    for (const who of people) expect((await shop.sent(j.journeyId, who)).at(-1)).toBe('later:later');
  });

  it("two branching nodes in a row decide afresh: the second never sees the first one's moves", async () => {
    // Splits write their moves; a send (everyone on) writes none. Both splits lead on whatever they draw.
    const split = (id: string, a: string, b: string) => ({
      id,
      type: 'split',
      variants: [
        { branch: a, percent: 50 },
        { branch: b, percent: 50 },
      ],
    });
    const def = journeyDefinitionSchema.parse({
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Twin Split' } },
        split('first', 'a', 'b'),
        split('second', 'x', 'y'),
        send('after'),
      ],
      edges: [
        { from: 'in', to: 'first' },
        { from: 'first', branch: 'a', to: 'second' },
        { from: 'first', branch: 'b', to: 'second' },
        { from: 'second', branch: 'x', to: 'after' },
        { from: 'second', branch: 'y', to: 'after' },
      ],
      settings: {},
    });
    await addMissingTemplates(shop.store, shop.ws, def, shop.clock.now());
    const j = await createJourney(shop.store, shop.ws, { name: 'twin-split', definition: def }, shop.clock.now());
    await publishJourney(shop.store, shop.ws, j.journeyId, shop.clock.now());
    const people = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'];
    for (const who of people) await shop.track(who, 'Twin Split', {});

    const r = await shop.engine.takeEvents(shop.ws, await committed.take());
    expect(r.entered).toBe(people.length);
    for (const who of people) {
      const [path] = await shop.path(j.journeyId, who);
      expect(path!.steps.map((s) => s.nodeId)).toEqual(['first', 'second', 'after']);
      expect(path!.status).toBe('completed');
      expect(await shop.sent(j.journeyId, who)).toEqual(['after:after']);
    }
    const t = await tally(shop, j.journeyId);
    expect(t).toMatchObject({ outbox: people.length, instances: people.length, steps: 3 * people.length, stepEvents: 3 * people.length });
  });

  it('a crash between fast-path steps rolls it back whole: a tick or a retry does every step once', async () => {
    const id = await shop.journey('crash-fast', line('Crash Fast', [send('hello'), send('again'), wait1d]));
    await shop.track('cf-ann', 'Crash Fast');
    await shop.track('cf-bob', 'Crash Fast');
    const events = await committed.take();
    // The second step dies half-way: after its outbox rows, at its step events.
    const crash = killAtSecondStepEvents(shop.store);
    await expect(shop.engine.takeEvents(shop.ws, events)).rejects.toThrow('process killed');
    expect(crash.restore()).toBe(1);
    // Nothing of it stayed: no instance, no message (the first step was in the same transaction).
    expect(await tally(shop, id)).toMatchObject({ outbox: 0, instances: 0, steps: 0 });

    // The tick enrols the same events through its cursor and steps them, once.
    await shop.engine.tickWorkspace(shop.ws);
    // A retry of the fast path (the batch handed over again) finds them entered.
    expect((await shop.engine.takeEvents(shop.ws, events)).entered).toBe(0);
    await shop.engine.tickWorkspace(shop.ws);
    for (const who of ['cf-ann', 'cf-bob']) {
      expect(await shop.sent(id, who)).toEqual(['hello:hello', 'again:again']);
      expect((await shop.path(id, who))[0]!.steps.map((s) => s.nodeId)).toEqual(['hello', 'again']);
    }
    expect(await tally(shop, id)).toEqual({ outbox: 4, distinctKeys: 4, instances: 2, steps: 4, stepEvents: 4, enteredEvents: 2 });
  });

  it('a lone event or a batch handed over again finds its entry keys taken and enrols nobody (the admission without ON CONFLICT on DuckDB)', async () => {
    const id = await shop.journey('lone', line('Lone Order', [send('ok')], {}, 'order_id'));
    await shop.track('lone-ann', 'Lone Order', { order_id: 'lone-1' });
    const events = await committed.take();
    expect((await shop.engine.takeEvents(shop.ws, events)).entered).toBe(1);
    expect((await shop.engine.takeEvents(shop.ws, events)).entered).toBe(0);
    await shop.engine.tickWorkspace(shop.ws);
    expect(await tally(shop, id)).toEqual({ outbox: 1, distinctKeys: 1, instances: 1, steps: 1, stepEvents: 1, enteredEvents: 1 });

    // A batch of several (also admitted without ON CONFLICT on DuckDB), handed over twice.
    for (const [i, who] of ['lone-bob', 'lone-cy', 'lone-bob'].entries()) await shop.track(who, 'Lone Order', { order_id: `lone-b${i}` });
    const batch = await committed.take();
    expect(batch).toHaveLength(3);
    expect((await shop.engine.takeEvents(shop.ws, batch)).entered).toBe(3);
    expect((await shop.engine.takeEvents(shop.ws, batch)).entered).toBe(0);
    await shop.engine.tickWorkspace(shop.ws);
    expect(await tally(shop, id)).toEqual({ outbox: 4, distinctKeys: 4, instances: 4, steps: 4, stepEvents: 4, enteredEvents: 4 });
  });

  it('events taken while a tick runs are handled once, whichever gets them first', async () => {
    const id = await shop.journey('race', line('Race Order', [send('ok')], {}, 'order_id'));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10; i++) await shop.track(`race-${i}`, 'Race Order', { order_id: `r${round}-${i}` });
      const events = await committed.take();
      // Round 0: the fast path is queued first; round 1: the tick; round 2: two fast paths and a tick.
      const runs =
        round === 0
          ? [shop.engine.takeEvents(shop.ws, events), shop.engine.tickWorkspace(shop.ws)]
          : round === 1
            ? [shop.engine.tickWorkspace(shop.ws), shop.engine.takeEvents(shop.ws, events)]
            : [shop.engine.takeEvents(shop.ws, events), shop.engine.tickWorkspace(shop.ws), shop.engine.takeEvents(shop.ws, events)];
      await Promise.all(runs);
    }
    await shop.engine.tickWorkspace(shop.ws);
    expect(await tally(shop, id)).toEqual({ outbox: 30, distinctKeys: 30, instances: 30, steps: 30, stepEvents: 30, enteredEvents: 30 });
  });

  it('converts an entrant whose goal came in the same batch before stepping it, and asks for a tick for goal events', async () => {
    const id = await shop.journey(
      'goal-fast',
      line('Goal Placed', [send('nudge')], { goal: { event: 'Goal Paid', sameKey: true } }, 'order_id'),
    );
    await shop.send([
      { userId: 'g-paid', event: 'Goal Placed', properties: { order_id: 'g1' } },
      { userId: 'g-paid', event: 'Goal Paid', properties: { order_id: 'g1' } },
      { userId: 'g-unpaid', event: 'Goal Placed', properties: { order_id: 'g2' } },
    ]);
    const r = await shop.engine.takeEvents(shop.ws, await committed.take());
    expect(r).toMatchObject({ entered: 2, needsTick: true });
    expect(await shop.sent(id, 'g-paid')).toEqual([]);
    expect((await shop.path(id, 'g-paid'))[0]!.status).toBe('converted');
    expect(await shop.sent(id, 'g-unpaid')).toEqual(['nudge:nudge']);
    expect(await journeyEvents(shop, id, 'Journey Entered')).toBe(2);
  });

  it('records the entry of people who start at a wait (no step moves them)', async () => {
    const id = await shop.journey('wait-first', line('Wait Order', [wait1d, send('later')], {}, 'order_id'));
    await shop.send([
      { userId: 'w1', event: 'Wait Order', properties: { order_id: 'w1' } },
      { userId: 'w2', event: 'Wait Order', properties: { order_id: 'w2' } },
    ]);
    const r = await shop.engine.takeEvents(shop.ws, await committed.take());
    expect(r).toMatchObject({ entered: 2, moved: 0 });
    expect(await journeyEvents(shop, id, 'Journey Entered')).toBe(2);
    expect((await shop.path(id, 'w1'))[0]!.nodeId).toBe('pause');
  });

  it('leaves a paused journey alone (its events wait for it to resume)', async () => {
    const id = await shop.journey('paused-fast', line('Paused Order', [send('p')]));
    await setJourneyRunning(shop.store, shop.ws, id, false, shop.clock.now());
    await shop.track('pz', 'Paused Order');
    // Read while the list of published journeys may still name it (a tick read it before).
    const r = await shop.engine.takeEvents(shop.ws, await committed.take());
    expect(r.entered).toBe(0);
    expect(await tally(shop, id)).toMatchObject({ outbox: 0, instances: 0 });
  });
});

describe.each(engines)('journey fast path behind the ingest API (%s)', (engine) => {
  let server: Server;
  let store: Store;
  let url = '';
  let dispose: () => Promise<void>;
  let writeAuth = '';
  let ws = 0;
  let ticks = 0;

  beforeAll(async () => {
    const fresh = await freshStore(engine);
    store = fresh.store;
    url = fresh.url;
    dispose = fresh.dispose;
    const keys = await createWorkspace(store, 'fast', systemClock.now());
    ws = keys.workspaceId;
    writeAuth = `Basic ${Buffer.from(`${keys.writeKey}:`).toString('base64')}`;
    // Ticks an hour apart: within the test, only the fast path can move anyone.
    server = await buildServer({
      store,
      clock: systemClock,
      ingest: { maxEvents: 5000, maxDelayMs: 2 },
      logLevel: 'silent',
      journeys: { ...defaultEngineOptions, tickMs: 3_600_000 },
    });
    const tick = server.journeys.tickWorkspace.bind(server.journeys);
    server.journeys.tickWorkspace = (w) => {
      ticks++;
      return tick(w);
    };
  });
  afterAll(async () => {
    await server.close();
    await dispose();
  });

  const track = (userId: string, event: string, properties: Record<string, unknown>) =>
    server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: writeAuth, 'content-type': 'application/json' },
      payload: { userId, event, properties },
    });

  async function outboxRows(journeyId: number, expected: number): Promise<number> {
    for (let i = 0; i < 500; i++) {
      const n = await count(store, 'SELECT count(*) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2', [ws, journeyId]);
      if (n >= expected) return n;
      await new Promise((r) => setTimeout(r, 20));
    }
    return count(store, 'SELECT count(*) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2', [ws, journeyId]);
  }

  it("an event-triggered journey's message lands without a general tick", async () => {
    const def = journeyDefinitionSchema.parse(line('Api Order', [send('confirm')], {}, 'order_id'));
    await addMissingTemplates(store, ws, def, systemClock.now());
    const j = await createJourney(store, ws, { name: 'confirm', definition: def }, systemClock.now());
    await publishJourney(store, ws, j.journeyId, systemClock.now());
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => track(`api-${i % 4}`, 'Api Order', { order_id: `ao-${i}` })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(12).fill(200));
    expect(await outboxRows(j.journeyId, 12)).toBe(12);
    expect(ticks).toBe(0);
    const done = await store.query<{ status: string; n: number }>(
      'SELECT status, count(*) AS n FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 GROUP BY status',
      [ws, j.journeyId],
    );
    expect(done.map((d) => [d.status, Number(d.n)])).toEqual([['completed', 12]]);
    expect(
      await count(store, 'SELECT count(*) AS n FROM journey_steps WHERE workspace_id = $1 AND journey_id = $2', [ws, j.journeyId]),
    ).toBe(12);
  });

  it('another process ticking the same journey (PostgreSQL) never makes the fast path enrol or step twice', async () => {
    if (engine !== 'postgres') return;
    const def = journeyDefinitionSchema.parse(line('Two Procs', [send('one'), send('two')], {}, 'order_id'));
    await addMissingTemplates(store, ws, def, systemClock.now());
    const j = await createJourney(store, ws, { name: 'two-procs', definition: def }, systemClock.now());
    await publishJourney(store, ws, j.journeyId, systemClock.now());
    // A second "process": its own store (pool, in-process queue) on the same database, ticking all the time.
    const other = await openStore({ url, dataDir: '.', dedupeDays: 8 }, systemClock);
    const otherEngine = new JourneyEngine(other, systemClock, defaultEngineOptions);
    let stop = false;
    const ticking = (async () => {
      while (!stop) await otherEngine.tickWorkspace(ws);
    })();
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => track(`tp-${i % 5}`, 'Two Procs', { order_id: `tp-${i}` })));
      expect(await outboxRows(j.journeyId, 40)).toBe(40);
    } finally {
      stop = true;
      await ticking;
      await other.close();
    }
    await server.journeys.tickWorkspace(ws);
    expect(await count(store, 'SELECT count(*) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2', [ws, j.journeyId])).toBe(40);
    expect(
      await count(store, 'SELECT count(*) AS n FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2', [ws, j.journeyId]),
    ).toBe(20);
    expect(
      await count(store, 'SELECT count(*) AS n FROM journey_steps WHERE workspace_id = $1 AND journey_id = $2', [ws, j.journeyId]),
    ).toBe(40);
  });
});
