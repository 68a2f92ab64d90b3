import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { importFile } from '../src/ingest/bulk/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { engines, freshStore } from './engines.ts';
import { snapshot } from './fixtures/import/snapshot.ts';

/**
 * On DuckDB most lines are validated and normalised by SQL (duckdb-fast.ts), the rest by
 * normalizeEvent. This test generates lines full of edge cases — wrong types, nulls, odd
 * numbers, time formats, whitespace, unicode, NaN, trailing commas — and imports the file twice:
 * as is (SQL path) and with CRLF line ends, which DuckDB's raw reader is not given, so every line
 * goes through normalizeEvent. Errors and stored rows must be identical. (On PostgreSQL both
 * runs take the JS path; the test still checks that line endings do not matter.)
 */

let seed = 7919;
/** mulberry32: small, seeded, good enough for test data. */
const rnd = (n: number) => {
  seed = (seed + 0x6d2b79f5) | 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
const ABSENT = Symbol('absent');
/** Sets o[key] from `good` values, or one time in forty from `odd` ones (ABSENT: leave it out). */
const maybe = (o: Record<string, unknown>, key: string, good: readonly unknown[], odd: readonly unknown[] = []) => {
  const v = odd.length && rnd(40) === 0 ? pick(odd) : pick(good);
  if (v !== ABSENT) o[key] = v;
};

const times = ['2026-10-01T08:00:00Z', '2026-10-01T08:00:00.5+08:00', '2026-10-01T08:00:00.123-03:30', ABSENT];
const oddTimes = ['2026-10-01T08:00:00', '2026-10-01', '2026-02-30T00:00:00Z', 'Thu, 01 Oct 2026 10:00:00 GMT', 'yesterday', 5, null];
const names = ['Product Viewed', 'Product Added', 'Order Completed', 'Order Refunded', 'Checkout Started', 'Search', 'Cart Viewed'];
const idish = ['p1', 'p2', 42];
const oddIds = [4.2, '', null, { id: 1 }, ABSENT];
const strish = ['Phones', 'Électronique > Téléphones', ABSENT];
const oddStr = ['', null, 3, 'x'.repeat(501)];
const numish = [9.99, 0, 120, ABSENT];
const oddNum = [-1, 1e20, '9.99', null];
const qty = [1, 2, ABSENT];
const oddQty = [0, -1, 1.5, '2', null];

function line(): Record<string, unknown> {
  const type = pick(['track', 'track', 'track', 'track', 'identify', 'identify', 'page', 'screen', 'group', 'alias']);
  const e: Record<string, unknown> = { type: rnd(40) === 0 ? pick(['Track', 3]) : type };
  maybe(e, 'userId', ['u1', 'u2', 'u3', 'u4', 'u5', 7, ABSENT], [' u5 ', 'ü6', '', 8.5, 2 ** 60, null, 'x'.repeat(513)]);
  maybe(e, 'anonymousId', ['a1', 'a2', 'a3', ABSENT, ABSENT], ['\ta5', '', 9, null]);
  if (e.userId === undefined && e.anonymousId === undefined && rnd(5) > 0) e.anonymousId = 'a4';
  maybe(e, 'messageId', [ABSENT, `m${rnd(3000)}`], ['', null, 17, `m${rnd(50)}`]);
  maybe(e, 'timestamp', times, oddTimes);
  maybe(e, 'sentAt', [ABSENT, ABSENT, '2026-10-01T08:05:00Z'], ['later']);
  maybe(e, 'originalTimestamp', [ABSENT, ABSENT, '2026-10-01T07:00:00Z'], oddTimes);
  maybe(
    e,
    'context',
    [ABSENT, { ip: '1.2.3.4' }, { device: { id: pick(['d1', 'd2', 12]) } }],
    [{ device: { id: pick([1.5, '', null, {}]) } }, null, 'web'],
  );
  maybe(e, 'integrations', [ABSENT, ABSENT, { All: true }], [[]]);
  maybe(e, 'event', names, ['', 5, 'Coupon Applied', null]);
  maybe(e, 'name', ['Home', ABSENT], ['', null, 5]);
  maybe(e, 'groupId', ['g1', 7], [null, ABSENT]);
  maybe(e, 'previousId', ['a1', 'u2'], [5, ABSENT]);
  const p: Record<string, unknown> = {};
  maybe(p, 'product_id', idish, oddIds);
  maybe(p, 'category', strish, oddStr);
  maybe(p, 'price', numish, oddNum);
  maybe(p, 'quantity', qty, oddQty);
  maybe(p, 'order_id', ['o1', 'o2', ABSENT], [77, '', null]);
  maybe(p, 'total', numish, oddNum);
  maybe(p, 'currency', ['usd', 'CNY', ABSENT], ['us', '€€€', 840, null]);
  maybe(p, 'discount', [ABSENT], [1, 'x']);
  maybe(p, 'name', [ABSENT], ['Case', null, 3]);
  if (rnd(4) === 0) {
    p.products = Array.from({ length: rnd(3) }, () => {
      if (rnd(15) === 0) return pick(['p9', 5]);
      const l: Record<string, unknown> = {};
      maybe(l, 'product_id', idish, oddIds);
      maybe(l, 'category', strish, oddStr);
      maybe(l, 'price', numish, oddNum);
      maybe(l, 'quantity', qty, oddQty);
      maybe(l, 'sku', [ABSENT], ['s1', null]);
      return l;
    });
  }
  maybe(e, 'properties', [p, p, {}, ABSENT], [null, 'props']);
  const t: Record<string, unknown> = { plan: pick(['gold', null, 3]) };
  maybe(t, 'email', ['Ann@Example.COM', 'b@c.co', ABSENT, ABSENT], [' b@c.co ', 'not-an-email', '', null, 5, 'ä@b.de']);
  maybe(t, 'country', ['cn', 'CN', ABSENT, ABSENT], ['CHN', null, 5]);
  maybe(t, 'timezone', ['Asia/Shanghai', ABSENT, ABSENT], ['asia/shanghai', 'Mars/Olympus', null]);
  maybe(t, 'member_no', ['M1', ABSENT, ABSENT], [' M2 ', '', 7, null]);
  maybe(t, 'wechat_openid', ['wx1', ABSENT, ABSENT, ABSENT]);
  maybe(t, 'phone', [ABSENT], ['+8613800138000', '12']);
  maybe(t, 'consent', [ABSENT], [{ sms: false }, { sms: 'no' }]);
  maybe(e, 'traits', [t, t, {}, ABSENT], [null]);
  return e;
}

/** Text-level damage JSON.stringify cannot produce: what DuckDB's reader is lenient about. */
function mangle(text: string): string {
  switch (rnd(40)) {
    case 0:
      return text.replace(/}$/, ',}');
    case 1:
      return text.replace(/"price":[^,}]+/, '"price":NaN');
    case 2:
      return text.replace(/"total":[^,}]+/, '"total":1E400');
    case 3:
      return text.replace(/"price":[^,}]+/, '"price":1.5E2');
    case 4:
      return text.replace(/^{/, '{"userId":"dup",');
    case 5:
      return ` ${text}`;
    case 6:
      return text.slice(0, -3);
    case 7:
      return '';
    case 8:
      return text.replace(/"quantity":[^,}]+/, '"quantity":2.0');
    default:
      return text;
  }
}

describe.each(engines)('SQL fast path equals normalizeEvent on %s', (engine) => {
  const clock = new VirtualClock(Date.UTC(2026, 9, 2));
  let store: Store;
  let dispose: () => Promise<void>;
  let dir: string;
  beforeAll(async () => {
    ({ store, dispose } = await freshStore(engine, clock));
    dir = mkdtempSync(join(tmpdir(), 'import-fast-'));
  });
  afterAll(async () => {
    await dispose?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts, rejects and stores 1,500 generated lines exactly as the JS path does', async () => {
    const text = Array.from({ length: 1500 }, () => mangle(JSON.stringify(line()))).join('\n');
    const [plain, crlf] = [join(dir, 'plain.ndjson'), join(dir, 'crlf.ndjson')];
    writeFileSync(plain, text);
    writeFileSync(crlf, text.replace(/\n/g, '\r\n'));
    const results: { summary: object; rows: unknown }[] = [];
    let jsLines = 0;
    const progress = {
      ...silentProgress,
      start(label: string, total: number) {
        if (label.includes('(JS)')) jsLines = total;
      },
    };
    for (const file of [plain, crlf]) {
      const ws = (await createWorkspace(store, file, clock.now())).workspaceId;
      const summary = await importFile(
        store,
        clock,
        ws,
        { kind: 'events', file, format: 'ndjson', skipInvalid: true },
        file === plain ? progress : silentProgress,
      );
      // Generated messageIds contain the file hash, which differs between the two files.
      const rows = JSON.stringify(await snapshot(store, ws))
        .replace(/import-[0-9a-f]{24}-/g, 'import-')
        .replace(/"workspace_id":\d+,/g, '');
      results.push({ summary: { ...summary, seconds: 0 }, rows: JSON.parse(rows) });
    }
    expect(results[0]?.summary).toMatchObject({
      stored: expect.toSatisfy((n: number) => n > 300),
      rejected: expect.toSatisfy((n: number) => n > 300),
    });
    // On DuckDB, most valid lines must have taken the SQL path, or this test proves little.
    if (engine === 'duckdb') expect(jsLines).toBeLessThan(1000);
    expect(results[0]).toEqual(results[1]);
  });
});
