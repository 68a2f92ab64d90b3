import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE, VirtualClock } from '../src/core/clock.ts';
import { ProfileJobs } from '../src/profiles/index.ts';
import { openStore } from '../src/store/index.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * The background jobs that keep computed traits current, seen from the API: a new order changes
 * the person's traits on the next tick, a segment on a computed trait follows, and the whole
 * recomputation comes round on schedule.
 */
const start = Date.parse('2026-05-01T00:00:00Z');
const order = (userId: string, at: number, total: number) => ({
  type: 'track',
  userId,
  event: 'Order Completed',
  timestamp: new Date(at).toISOString(),
  properties: {
    order_id: `${userId}-${at}`,
    total,
    currency: 'USD',
    products: [{ product_id: 'p-1', category: 'Apparel > Tops', price: total }],
  },
});

describe.each(engines)('profile jobs on %s', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(start);
  const send = (batch: object[]) =>
    h.server.app.inject({ method: 'POST', url: '/v1/batch', headers: { authorization: h.writeAuth }, payload: { batch } });
  const person = async (id: string) =>
    (await h.server.app.inject({ method: 'GET', url: `/api/people/${id}`, headers: { authorization: h.adminAuth } })).json();

  beforeAll(async () => {
    h = await startHarness(engine, clock);
    await send([order('ann', start - 40 * DAY, 50), order('ann', start - 10 * DAY, 70), order('bob', start - 5 * DAY, 20)]);
    // Ticks look back a little before their watermark (events committed late): step past that overlap.
    clock.advance(MINUTE);
  });
  afterAll(async () => h?.dispose());

  it('computes everyone on the first tick, then only the people with new events', async () => {
    const first = await h.server.profiles.tickWorkspace(h.keys.workspaceId);
    expect(first).toMatchObject({ traits: 'full', people: 2 });
    expect((await person('ann')).computed).toMatchObject({ order_count: 2, total_spend: 120, lifecycle: 'active_returning' });
    expect((await person('bob')).computed).toMatchObject({ order_count: 1, lifecycle: 'new' });

    const segment = await h.server.app.inject({
      method: 'POST',
      url: '/api/segments',
      headers: { authorization: h.adminAuth },
      payload: { name: 'returning', definition: { type: 'computed', trait: 'order_count', op: 'gte', value: 2 } },
    });
    expect(segment.json().memberCount).toBe(1);

    clock.advance(HOUR);
    await send([order('bob', clock.now(), 30)]);
    clock.advance(MINUTE);
    const next = await h.server.profiles.tickWorkspace(h.keys.workspaceId);
    expect(next).toMatchObject({ traits: 'incremental', people: 1 });
    expect((await person('bob')).computed).toMatchObject({ order_count: 2, total_spend: 50 });

    // The segment on a computed trait follows on its next tick.
    await h.server.segments.tickWorkspace(h.keys.workspaceId);
    const members = await h.server.app.inject({
      method: 'GET',
      url: `/api/segments/${segment.json().segmentId}/members`,
      headers: { authorization: h.adminAuth },
    });
    expect(
      members
        .json()
        .members.map((m: { userId: string }) => m.userId)
        .sort(),
    ).toEqual(['ann', 'bob']);
    expect((await person('bob')).segments).toMatchObject([{ name: 'returning' }]);
  });

  it('recomputes everyone when the interval has passed, and nothing when nothing happened', async () => {
    clock.advance(MINUTE);
    expect(await h.server.profiles.tickWorkspace(h.keys.workspaceId)).toMatchObject({ traits: 'none', people: 0 });
    clock.advance(7 * HOUR);
    expect(await h.server.profiles.tickWorkspace(h.keys.workspaceId)).toMatchObject({ traits: 'full', people: 2 });
  });

  it('takes turns with another process (PostgreSQL) or another job in this one: the second finds the work done', async () => {
    // Enough repeat buyers for the purchase model to be fitted and every prediction written.
    const buyers = Array.from({ length: 60 }, (_, i) => `buyer-${i}`);
    await send(buyers.flatMap((id, i) => [order(id, start - (30 + i) * DAY, 40), order(id, start - (i % 20) * DAY, 60)]));
    clock.advance(DAY);
    const other = engine === 'postgres' ? await openStore({ url: h.url, dataDir: '.', dedupeDays: 8 }, clock) : h.store;
    try {
      const both = await Promise.all([
        h.server.profiles.tickWorkspace(h.keys.workspaceId),
        new ProfileJobs(other, clock).tickWorkspace(h.keys.workspaceId),
      ]);
      expect(both.map((t) => [t.traits, t.predictions]).sort()).toEqual([
        ['full', 'refitted'],
        ['none', 'none'],
      ]);
      const [stored] = await h.store.query<{ n: number }>('SELECT count(*) AS n FROM customer_predictions WHERE workspace_id = $1', [
        h.keys.workspaceId,
      ]);
      expect(Number(stored?.n)).toBe(buyers.length + 2);
    } finally {
      if (other !== h.store) await other.close();
    }
  });
});
