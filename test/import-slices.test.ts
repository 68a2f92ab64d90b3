import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { upsertProducts } from '../src/commerce/index.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { type ImportOptions, importFile } from '../src/ingest/bulk/index.ts';
import { engines } from './engines.ts';
import { type Snapshot, snapshot } from './fixtures/import/snapshot.ts';
import { at, randomIdentityTraffic } from './identity-traffic.ts';
import { type Harness, startHarness } from './server-harness.ts';

/**
 * Large files are imported in slices of `sliceLines` lines, one transaction each, every slice
 * seeing what the earlier ones stored. A tiny slice size forces many slices on a small file:
 * the result must be the same as one slice (same people, identities, traits, merges, events and
 * items), and the same as sending each slice to the API as one batch. On DuckDB the plain file
 * takes the SQL path (each slice copied to a file of its own) and the CRLF copy the JS path.
 */

let seq = 0;
const ev = (e: Record<string, unknown>): Record<string, unknown> => ({ messageId: `sl-${++seq}`, timestamp: at(seq), ...e });

/** Earlier API traffic: two stored people the file will merge. */
const before = [
  ev({ type: 'identify', userId: 'old-member', traits: { email: 'old@shop.cn', plan: 'silver' } }),
  ev({ type: 'track', anonymousId: 'anon-stored', event: 'Product Viewed', properties: { product_id: 'p1' } }),
];

/** Cut into slices of 3 lines: the comments give the slice of each line. */
const file: Record<string, unknown>[] = [
  // slice 1: a visitor browses, then signs up (identified); another visitor only browses
  ev({ type: 'track', anonymousId: 'anon-a', event: 'Product Viewed', properties: { product_id: 'p1', price: 10 } }),
  ev({ type: 'identify', userId: 'u1', anonymousId: 'anon-a', traits: { email: 'U1@Shop.cn', plan: 'gold', city: 'Wuhan' } }),
  ev({ type: 'track', anonymousId: 'anon-b', event: 'Product Viewed', properties: { product_id: 'p2' } }),
  // slice 2: u1, identified in slice 1, is tracked and changes a trait; a repeat of line 1's
  // messageId; anon-b (stored by slice 1) signs up
  ev({
    type: 'track',
    userId: 'u1',
    event: 'Order Completed',
    properties: { order_id: 'o1', total: 30, currency: 'cny', products: [{ product_id: 'p1', price: 10, quantity: 3 }] },
  }),
  { ...ev({ type: 'track', anonymousId: 'anon-a', event: 'Product Viewed', properties: { product_id: 'dup' } }), messageId: 'sl-3' },
  ev({ type: 'identify', userId: 'u2', anonymousId: 'anon-b', traits: { plan: 'silver' } }),
  // slice 3: two people stored before the import meet (a recorded merge); lines without messageId
  ev({ type: 'track', userId: 'old-member', anonymousId: 'anon-stored', event: 'Signed In' }),
  { type: 'page', userId: 'u1', name: 'Home', properties: { path: '/' }, timestamp: at(90) },
  { type: 'identify', userId: 'u1', traits: { city: 'Xi’an' }, timestamp: at(91) },
  // slice 4 (one line): u2 again, and a repeat of a line of slice 2
  { ...ev({ type: 'track', userId: 'u2', event: 'Product Added', properties: { product_id: 'p2', quantity: 2 } }) },
];
file.push({ ...file[5]!, traits: { plan: 'ignored' } });

/** JSON with sorted keys: trait objects written by SQL and by JS may list their keys in other orders. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
/** Without events.source, and people who share a label (merged into the same person) in one order. */
const strip = (s: Snapshot) => ({
  ...s,
  events: s.events.map(({ source: _, ...rest }) => rest),
  people: [...s.people].sort((a, b) => (canonical(a) < canonical(b) ? -1 : canonical(a) > canonical(b) ? 1 : 0)),
});

describe.each(engines)('import in slices on %s', (engine) => {
  const clock = new VirtualClock(Date.UTC(2026, 9, 2));
  let dir: string;
  const harnesses: Harness[] = [];

  /** A store with the same catalog and earlier traffic as every other one. */
  const harness = async () => {
    const h = await startHarness(engine, clock);
    harnesses.push(h);
    await upsertProducts(h.store, h.keys.workspaceId, [{ product_id: 'p1', name: 'Phone', category: 'Electronics > Phones' }], clock.now());
    await h.batch(before);
    return h;
  };
  const run = (h: Harness, path: string, extra: Partial<ImportOptions> = {}) =>
    importFile(
      h.store,
      clock,
      h.keys.workspaceId,
      { kind: 'events', file: path, format: 'ndjson', skipInvalid: false, ...extra },
      silentProgress,
    );
  const write = (name: string, lines: object[], eol = '\n') => {
    const path = join(dir, name);
    writeFileSync(path, lines.map((e) => JSON.stringify(e)).join(eol));
    return path;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'import-slices-'));
  });
  afterAll(async () => {
    for (const h of harnesses) await h.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the same people, identities, traits, merges, events and items as one slice', async () => {
    const [one, many, crlf] = await Promise.all([harness(), harness(), harness()]);
    clock.advance(60_000);
    const path = write('events.ndjson', file);
    const whole = await run(one, path);
    const sliced = await run(many, path, { sliceLines: 3 });
    // The same lines with CRLF ends: the line-by-line path (on DuckDB too), in slices of 2.
    const crlfPath = write('events-crlf.ndjson', file, '\r\n');
    const slicedJs = await run(crlf, crlfPath, { sliceLines: 2 });

    const expected = { rows: file.length, stored: file.length - 2, duplicates: 2, rejected: 0, errors: [] };
    expect(whole).toMatchObject(expected);
    expect(sliced).toMatchObject(expected);
    expect(slicedJs).toMatchObject(expected);
    const [a, b, c] = await Promise.all([one, many, crlf].map((h) => snapshot(h.store, h.keys.workspaceId)));
    expect(strip(b!)).toEqual(strip(a!));
    // CRLF is another file: lines without messageId get other ids (the file hash differs).
    const ids = (s: Snapshot) => strip(s).events.map(({ message_id: _, k: __, ...rest }) => rest);
    expect(ids(c!)).toEqual(ids(a!));
    expect({ ...c, events: [] }).toEqual({ ...a, events: [] });

    // The cases the file was written for.
    const u1 = a!.people.find((u) => u.k.includes('user_id:u1'));
    expect(u1?.k).toBe('anonymous_id:anon-a|email:u1@shop.cn|user_id:u1');
    expect(u1?.traits).toEqual({ email: 'u1@shop.cn', plan: 'gold', city: 'Xi’an' });
    expect(a!.people.find((u) => u.k.includes('user_id:u2'))?.k).toBe('anonymous_id:anon-b|user_id:u2');
    expect(a!.merges).toHaveLength(1);
    expect(a!.events.filter((e) => String(e.message_id).startsWith('import-'))).toHaveLength(2);

    // Re-running the file in other slices stores nothing.
    expect(await run(many, path, { sliceLines: 4 })).toMatchObject({ stored: 0, duplicates: file.length });
  });

  it('equals the API given each slice as one batch, on random identity graphs', async () => {
    const traffic = randomIdentityTraffic(900, {
      seed: 4242,
      idPrefix: 'rs',
      users: 200,
      anonymous: 300,
      devices: 80,
      emails: 150,
      memberNos: false,
    });
    const [api, imp] = await Promise.all([harness(), harness()]);
    clock.advance(60_000);
    const size = 250;
    for (let i = 0; i < traffic.length; i += size) await api.batch(traffic.slice(i, i + size));
    const summary = await run(imp, write('random.ndjson', traffic), { sliceLines: size });
    expect(summary).toMatchObject({ stored: traffic.length, rejected: 0 });
    const [sa, sb] = await Promise.all([snapshot(api.store, api.keys.workspaceId), snapshot(imp.store, imp.keys.workspaceId)]);
    expect(strip(sb)).toEqual(strip(sa));
    expect(sa.merges.length).toBeGreaterThan(0);
    expect(sa.conflicts.length).toBeGreaterThan(0);
  });

  it('refuses from the slice holding an invalid line on, reports every invalid line, and --skip-invalid completes it', async () => {
    const h = await harness();
    const lines = [...file.slice(0, 4), { type: 'track', userId: 'u9' }, ...file.slice(5, 8), { type: 'nope' }];
    const path = write('invalid.ndjson', lines);
    const refused = await run(h, path, { sliceLines: 3 });
    // Slice 1 (lines 1–3) was written; slices 2 and 3 were only validated.
    expect(refused).toMatchObject({ rows: lines.length, stored: 3, rejected: 2 });
    expect(refused.errors.map((e) => e.path)).toEqual([expect.stringMatching(/^line 5\b/), expect.stringMatching(/^line 9\b/)]);
    // Re-running it with --skip-invalid stores the rest: slice 1 is found stored.
    const done = await run(h, path, { sliceLines: 3, skipInvalid: true });
    expect(done).toMatchObject({ stored: 4, duplicates: 3, rejected: 2 });
  });

  it('slices CSV files by records', async () => {
    const [one, many] = await Promise.all([harness(), harness()]);
    const csv = [
      'type,userId,anonymousId,event,messageId,properties,traits',
      'track,,v1,Product Viewed,c-1,"{""product_id"":""p1""}",',
      'identify,m1,v1,,c-2,,"{""email"":""m1@shop.cn""}"',
      'track,m1,,Product Added,c-3,"{""product_id"":""p1"",""quantity"":2}",',
      'track,m1,,Product Added,c-3,"{""product_id"":""p2""}",',
      'page,,v2,,c-4,,',
    ].join('\n');
    const path = join(dir, 'events.csv');
    writeFileSync(path, csv);
    const csvRun = (h: Harness, sliceLines?: number) =>
      importFile(
        h.store,
        clock,
        h.keys.workspaceId,
        { kind: 'events', file: path, format: 'csv', skipInvalid: false, sliceLines },
        silentProgress,
      );
    expect(await csvRun(one)).toMatchObject({ rows: 5, stored: 4, duplicates: 1 });
    expect(await csvRun(many, 2)).toMatchObject({ rows: 5, stored: 4, duplicates: 1 });
    const [a, b] = await Promise.all([one, many].map((h) => snapshot(h.store, h.keys.workspaceId)));
    expect(strip(b!)).toEqual(strip(a!));
  });
});
