import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { upsertProducts } from '../src/commerce/index.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { importFile } from '../src/ingest/bulk/index.ts';
import { engines } from './engines.ts';
import { type Snapshot, snapshot } from './fixtures/import/snapshot.ts';
import { at, randomIdentityTraffic } from './identity-traffic.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * The promise of `shopflow import`: a file gives the same rows as the same events sent through
 * the tracking API in one batch. Both stores start alike (same catalog, same earlier API
 * traffic), then one gets the file through /v1/batch and the other through importFile; every
 * row of events, event_items, users, identities, merges and conflicts must match, people
 * compared by the identities they hold (their keys may differ).
 */

let seq = 0;
const ev = (e: Record<string, unknown>): Record<string, unknown> => ({ messageId: `eq-${++seq}`, timestamp: at(seq), ...e });

/** Earlier traffic, sent to both stores through the API: people the file will meet again. */
const before = [
  ev({ type: 'track', anonymousId: 'anon-old', event: 'Product Viewed', properties: { product_id: 'p1' } }),
  ev({ type: 'identify', userId: 'old-member', traits: { email: 'old@shop.cn', plan: 'silver', city: 'Wuhan' } }),
  ev({ type: 'identify', anonymousId: 'anon-stored', traits: { city: 'Xi’an', cart: 3 } }),
  ev({ type: 'identify', userId: 'phone-owner', traits: { phone: '+8613800138001' } }),
];

/** The file: common shapes (the SQL path on DuckDB) and rarer ones (JS), mixed. */
const file = [
  ev({ type: 'track', userId: 'u1', event: 'Product Viewed', properties: { product_id: 'p1', category: 'Phones', price: 99.5 } }),
  ev({
    type: 'track',
    userId: 'u1',
    event: 'Product Added',
    properties: { product_id: 'p2', quantity: 2 },
    context: { ip: '1.2.3.4', locale: 'zh-CN' },
  }),
  ev({ type: 'track', anonymousId: 'anon-a', event: 'Product Viewed', properties: { product_id: 'p3', price: 0 } }),
  ev({ type: 'page', anonymousId: 'anon-a', name: 'Home', properties: { path: '/' } }),
  ev({
    type: 'identify',
    userId: 'u2',
    anonymousId: 'anon-a',
    traits: { email: ' Ann@Example.COM ', country: 'cn', timezone: 'Asia/Shanghai', first_name: 'Ann' },
  }),
  ev({
    type: 'track',
    userId: 'u2',
    event: 'Order Completed',
    properties: {
      order_id: 'o1',
      total: 120.5,
      currency: 'cny',
      products: [
        { product_id: 'p1', price: 99.5 },
        { product_id: 'p2', category: 'Cases', quantity: 3 },
      ],
    },
  }),
  ev({ type: 'track', userId: 'u2', event: 'Order Refunded', properties: { order_id: 'o1', currency: 'CNY' } }),
  ev({
    type: 'track',
    userId: 12345,
    event: 'Cart Viewed',
    properties: { products: [{ product_id: 'p9', price: 'n/a', quantity: 0 }], total: 'x', order_id: 77 },
  }),
  ev({ type: 'track', userId: 'u3', event: 'Wishlist Shared', properties: { product_id: 42, category: '', note: null } }),
  ev({ type: 'screen', userId: 'u3', name: 'Cart', context: { device: { id: 'dev-1', model: 'X' } } }),
  ev({ type: 'group', userId: 'u3', groupId: 7, traits: { company: 'ACME' } }),
  ev({ type: 'identify', userId: 'u3', traits: { phone: '138 0013 8000', country: 'CN', member_no: 'M-9' } }),
  ev({ type: 'identify', userId: 'u4', traits: { wechat_openid: 'wx-1', consent: { sms: false } } }),
  ev({ type: 'track', userId: 'u4', event: 'Coupon Applied', properties: { coupon: 'SAVE10' } }),
  ev({ type: 'track', userId: 'u4', event: 'Product Viewed', properties: { product_id: 'p4', sku: null } }),
  ev({ type: 'track', anonymousId: 'anon-old', userId: 'old-member', event: 'Signed In' }),
  ev({ type: 'identify', anonymousId: 'anon-stored', traits: { cart: 4, email: 'stored@shop.cn' } }),
  ev({ type: 'identify', userId: 'u5', anonymousId: 'anon-stored', traits: { plan: 'gold' } }),
  ev({ type: 'identify', userId: 'u6', traits: { phone: '+8613800138001' } }),
  ev({ type: 'alias', userId: 'u1', previousId: 'anon-z' }),
  ev({ type: 'track', anonymousId: 'anon-z', event: 'Product Viewed', properties: { product_id: 'p1' } }),
  ev({ type: 'track', userId: 'u7', event: 'Search', sentAt: at(500), timestamp: at(499), properties: { q: 'phone' } }),
  ev({ type: 'track', userId: 'u7', event: 'Search', originalTimestamp: '2026-10-01T10:00:00.123+08:00', properties: { q: 'case' } }),
  ev({ type: 'track', userId: 'u7', event: 'Search', timestamp: 'Thu, 01 Oct 2026 10:00:00 GMT', properties: { q: 'rfc' } }),
  ev({ type: 'track', userId: 'u8', event: 'Product Viewed', properties: { product_id: 'p5', price: 1e3, quantity: 1.0 } }),
  // NUL characters (JSON's \u0000 in the file) become U+FFFD on both paths, whatever the engine.
  ev({
    type: 'track',
    userId: 'nul\u0000user',
    event: 'Viewed\u0000',
    properties: { product_id: 'p\u0000', 'k\u0000': 'a\u0000b' },
    context: { ua: 'x\u0000' },
  }),
  ev({ type: 'identify', userId: 'nul\u0000user', traits: { city: 'Wu\u0000han' } }),
  // A lone surrogate (JSON's \ud800 without its pair) too; a pair stays.
  ev({ type: 'track', userId: 'lone\ud800', event: 'Viewed', properties: { note: 'x\udc00y', pair: '😀' } }),
];
file.push({ ...file[0]!, event: 'Product Viewed', properties: { product_id: 'dup' } }); // repeated messageId: the first wins

describe.each(engines)('import equals the API on %s', (engine) => {
  const clock = new VirtualClock(Date.UTC(2026, 9, 2));
  let api: Harness;
  let imp: Harness;
  let dir: string;

  beforeAll(async () => {
    [api, imp] = await Promise.all([startHarness(engine, clock), startHarness(engine, clock)]);
    dir = mkdtempSync(join(tmpdir(), 'import-eq-'));
    for (const h of [api, imp]) {
      await upsertProducts(
        h.store,
        h.keys.workspaceId,
        [
          { product_id: 'p1', name: 'Phone', category: 'Electronics > Phones' },
          { product_id: 'p2', name: 'Case', category: 'Accessories' },
        ],
        clock.now(),
      );
      await h.batch(before);
    }
  });
  afterAll(async () => {
    await api?.dispose();
    await imp?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the same events, items, people, identities, traits, merges and conflicts', async () => {
    clock.advance(60_000);
    await api.batch(file);
    const path = join(dir, 'events.ndjson');
    writeFileSync(path, file.map((e) => JSON.stringify(e)).join('\n'));
    const summary = await importFile(
      imp.store,
      clock,
      imp.keys.workspaceId,
      { kind: 'events', file: path, format: 'ndjson', skipInvalid: false },
      silentProgress,
    );
    expect(summary).toMatchObject({ rows: file.length, stored: file.length - 1, duplicates: 1, rejected: 0, errors: [] });
    const [a, b] = await Promise.all([snapshot(api.store, api.keys.workspaceId), snapshot(imp.store, imp.keys.workspaceId)]);
    expect(b.events.map((e) => e.source)).toEqual(expect.arrayContaining(['import']));
    const strip = (s: Snapshot) => ({ ...s, events: s.events.map(({ source: _, ...rest }) => rest) });
    expect(strip(b)).toEqual(strip(a));
    // The file really exercised identity resolution: a merge of two stored people and a conflict.
    expect(a.merges.length).toBeGreaterThan(0);
    expect(a.conflicts.length).toBeGreaterThan(0);
  });

  it('resolves random identity graphs as the API does: sign-ups, merges, conflicts, aliases', async () => {
    const events = randomIdentityTraffic(1800, {
      seed: 99,
      idPrefix: 'r',
      users: 400,
      anonymous: 600,
      devices: 150,
      emails: 300,
      memberNos: true,
    });
    const [seedTraffic, fileTraffic] = [events.slice(0, 400), events.slice(400)];
    const [a, b] = await Promise.all([startHarness(engine, clock), startHarness(engine, clock)]);
    try {
      for (const h of [a, b]) await h.batch(seedTraffic);
      clock.advance(60_000);
      await a.batch(fileTraffic);
      const path = join(dir, 'random.ndjson');
      writeFileSync(path, fileTraffic.map((e) => JSON.stringify(e)).join('\n'));
      const summary = await importFile(
        b.store,
        clock,
        b.keys.workspaceId,
        { kind: 'events', file: path, format: 'ndjson', skipInvalid: false },
        silentProgress,
      );
      expect(summary).toMatchObject({ stored: fileTraffic.length, rejected: 0 });
      const [sa, sb] = await Promise.all([snapshot(a.store, a.keys.workspaceId), snapshot(b.store, b.keys.workspaceId)]);
      const strip = (s: Snapshot) => ({ ...s, events: s.events.map(({ source: _, ...rest }) => rest) });
      expect(strip(sb)).toEqual(strip(sa));
      expect(sa.merges.length).toBeGreaterThan(0);
      expect(sa.conflicts.length).toBeGreaterThan(0);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});
