import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { type DemoSummary, runDemo } from '../src/sim/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { type Engine, engines, freshStore } from './engines.ts';

const endAt = Date.UTC(2025, 10, 20);
const cdnowFile = join(import.meta.dirname, '..', '..', 'shared', 'datasets', 'cdnow', 'CDNOW_master.txt');
const n = async (store: Store, sql: string, params: (string | number)[] = []) =>
  Number((await store.query<{ n: number }>(sql, params))[0]!.n);

describe.each(engines)('shop simulator on %s', (engine: Engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  let ws: number;
  let summary: DemoSummary;
  const clock = new VirtualClock(endAt + 60_000);
  const options = { dataset: 'shop' as const, users: 200, days: 30, seed: 5, endAt };

  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine, clock));
    ws = (await createWorkspace(store, 'sim', clock.now())).workspaceId;
    summary = await runDemo(store, clock, ws, options, silentProgress);
  });
  afterAll(async () => dispose?.());

  it('stores the catalog, the members and their events through ingestion', async () => {
    expect(summary.users).toBe(200);
    expect(summary.events).toBeGreaterThan(2000);
    expect(await n(store, 'SELECT count(*) AS n FROM events WHERE workspace_id = $1', [ws])).toBe(summary.events);
    expect(await n(store, 'SELECT count(*) AS n FROM products WHERE workspace_id = $1', [ws])).toBe(summary.products);
    expect(
      await n(store, `SELECT count(*) AS n FROM products WHERE category_top = 'Electronics' AND category_leaf = 'Smartphones'`),
    ).toBeGreaterThan(0);
    expect(await n(store, `SELECT count(*) AS n FROM identities WHERE workspace_id = $1 AND type = 'user_id'`, [ws])).toBe(200);
    expect(await n(store, `SELECT count(*) AS n FROM identities WHERE workspace_id = $1 AND type = 'phone'`, [ws])).toBeGreaterThan(100);
    expect(
      await n(store, `SELECT count(*) AS n FROM event_items WHERE workspace_id = $1 AND event = 'Order Completed'`, [ws]),
    ).toBeGreaterThan(0);
    const [row] = await store.query<{ traits: Record<string, unknown> }>(
      `SELECT u.traits FROM users u JOIN identities i ON i.workspace_id = u.workspace_id AND i.user_key = u.user_key
       WHERE i.type = 'user_id' AND i.value = 'sim-5-0'`,
    );
    expect(row!.traits).toMatchObject({
      timezone: expect.any(String),
      country: expect.stringMatching(/^[A-Z]{2}$/),
      consent: { email: expect.any(Boolean), sms: expect.any(Boolean) },
    });
  });

  it('has paid and unpaid orders', async () => {
    const paid = await n(store, `SELECT count(DISTINCT order_id) AS n FROM events WHERE workspace_id = $1 AND event = 'Order Completed'`, [
      ws,
    ]);
    const unpaid = await n(
      store,
      `SELECT count(DISTINCT order_id) AS n FROM events p WHERE workspace_id = $1 AND event = 'Order Placed'
       AND NOT EXISTS (SELECT 1 FROM events c WHERE c.workspace_id = p.workspace_id AND c.order_id = p.order_id AND c.event = 'Order Completed')`,
      [ws],
    );
    expect(paid).toBeGreaterThan(20);
    expect(unpaid).toBeGreaterThan(0);
    expect(unpaid).toBeLessThan(paid);
  });

  it('joins anonymous browsing before sign-up to the member', async () => {
    const anonymous = await n(
      store,
      'SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND user_id IS NULL AND anonymous_id IS NOT NULL',
      [ws],
    );
    expect(anonymous).toBeGreaterThan(20);
    // Every anonymous event belongs to a person who holds a user_id (the member it was joined to).
    const orphans = await n(
      store,
      `SELECT count(*) AS n FROM events e WHERE e.workspace_id = $1 AND e.user_id IS NULL
       AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.workspace_id = e.workspace_id AND i.user_key = e.user_key AND i.type = 'user_id')`,
      [ws],
    );
    expect(orphans).toBe(0);
    expect(await n(store, 'SELECT count(*) AS n FROM users WHERE workspace_id = $1 AND merged_into IS NULL', [ws])).toBe(200);
  });

  it('is idempotent: the same seed again stores nothing new', async () => {
    const again = await runDemo(store, clock, ws, options, silentProgress);
    expect(again.events).toBe(0);
    expect(await n(store, 'SELECT count(*) AS n FROM events WHERE workspace_id = $1', [ws])).toBe(summary.events);
  });
});

// 93k events: about 4 s on DuckDB and 9 s on PostgreSQL.
describe.skipIf(!existsSync(cdnowFile)).each(engines)('CDNOW import on %s', (engine: Engine) => {
  let store: Store;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine));
  });
  afterAll(async () => dispose?.());

  it('stores 23,570 customers and 69,659 paid orders with their original dates', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 0, 1));
    const ws = (await createWorkspace(store, 'cdnow', clock.now())).workspaceId;
    const s = await runDemo(
      store,
      clock,
      ws,
      { dataset: 'cdnow', users: 1, days: 1, seed: 1, endAt: clock.now(), cdnowFile },
      silentProgress,
    );
    expect(s).toMatchObject({ users: 23_570, events: 23_570 + 69_659, products: 1 });
    expect(await n(store, `SELECT count(*) AS n FROM identities WHERE type = 'user_id' AND value LIKE 'cdnow-%'`)).toBe(23_570);
    expect(await n(store, 'SELECT count(*) AS n FROM users WHERE merged_into IS NULL')).toBe(23_570);
    expect(await n(store, `SELECT count(*) AS n FROM events WHERE event = 'Order Completed'`)).toBe(69_659);
    expect(await n(store, `SELECT count(*) AS n FROM events WHERE event = 'Order Completed' AND total = 0`)).toBe(80);
    const [range] = await store.query<{ lo: number; hi: number }>(
      `SELECT min(ts) AS lo, max(ts) AS hi FROM events WHERE event = 'Order Completed'`,
    );
    expect(new Date(Number(range!.lo)).toISOString()).toBe('1997-01-01T12:00:00.000Z');
    expect(new Date(Number(range!.hi)).toISOString()).toBe('1998-06-30T12:00:00.000Z');
    expect(await n(store, `SELECT sum(quantity) AS n FROM event_items WHERE product_id = 'cdnow-cd'`)).toBeGreaterThan(69_659);
  });
});
