import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { type Clock, systemClock, VirtualClock } from '../src/core/clock.ts';
import { importFile } from '../src/ingest/bulk/index.ts';
import { IngestBuffer, normalizeEvent } from '../src/ingest/index.ts';
import { createJourney, defaultEngineOptions, JourneyEngine, journeyDefinitionSchema, publishJourney } from '../src/journeys/index.ts';
import { advisoryLock, openStore, type Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';

/**
 * Events are stamped received when their write's turn comes, not when the request (or the import)
 * began. Engines find new events by receive time and, on PostgreSQL, re-read only a short overlap
 * for what other processes commit (docs/operations.md): a write that waited for its workspace's
 * turn behind another process's large write, or a late slice of a long import, would otherwise
 * commit events already behind every engine's cursor — acknowledged, stored, and never enrolled.
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
    const engine = new JourneyEngine(engineStore, systemClock, { ...defaultEngineOptions, overlapMs: 300 });
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
