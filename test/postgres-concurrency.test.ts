import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type Server } from '../src/api/server.ts';
import { systemClock } from '../src/core/clock.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { type CreatedWorkspace, createWorkspace } from '../src/workspaces/index.ts';
import { freshStore } from './engines.ts';

/** Two API processes on one PostgreSQL database, as in a multi-process deployment. */
describe('two API servers on one PostgreSQL database', () => {
  let fresh: Awaited<ReturnType<typeof freshStore>>;
  let second: Store;
  let servers: Server[];
  let keys: CreatedWorkspace;
  beforeAll(async () => {
    fresh = await freshStore('postgres');
    second = await openStore({ url: fresh.url, dataDir: '.', dedupeDays: 8 }, systemClock);
    keys = await createWorkspace(fresh.store, 'w', systemClock.now());
    servers = await Promise.all(
      [fresh.store, second].map((store) =>
        buildServer({ store, clock: systemClock, ingest: { maxEvents: 1000, maxDelayMs: 1 }, logLevel: 'silent' }),
      ),
    );
  });
  afterAll(async () => {
    for (const s of servers ?? []) await s.close();
    await second?.close();
    await fresh?.dispose();
  });

  it('stores each event once and each identity once when both receive the same retries', async () => {
    const auth = `Basic ${Buffer.from(`${keys.writeKey}:`).toString('base64')}`;
    const batches = Array.from({ length: 20 }, (_, b) => ({
      batch: Array.from({ length: 50 }, (_, i) => ({
        type: i % 10 === 0 ? 'identify' : 'track',
        event: 'Product Viewed',
        userId: `user-${(b * 50 + i) % 100}`,
        anonymousId: `anon-${(b * 50 + i) % 100}`,
        messageId: randomUUID(),
        properties: { product_id: 'p1' },
        traits: { email: `u${(b * 50 + i) % 100}@shop.cn` },
      })),
    }));
    // Every batch goes to both servers at once: a client retrying against another node.
    const responses = await Promise.all(
      batches.flatMap((payload) =>
        servers.map((s) => s.app.inject({ method: 'POST', url: '/v1/batch', headers: { authorization: auth }, payload })),
      ),
    );
    expect(responses.every((r) => r.statusCode === 200)).toBe(true);
    const [events] = await fresh.store.query<{ n: number; d: number }>('SELECT count(*) AS n, count(DISTINCT message_id) AS d FROM events');
    expect(events).toEqual({ n: 1000, d: 1000 });
    const [people] = await fresh.store.query<{ n: number }>(`SELECT count(DISTINCT user_key) AS n FROM identities WHERE type = 'user_id'`);
    expect(people!.n).toBe(100);
    const [dupIdentities] = await fresh.store.query<{ n: number }>(
      `SELECT count(*) AS n FROM (SELECT type, value FROM identities GROUP BY type, value HAVING count(*) > 1) d`,
    );
    expect(dupIdentities!.n).toBe(0);
  });
});
