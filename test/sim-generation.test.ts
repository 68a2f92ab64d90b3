import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../src/cli/progress.ts';
import { productSchema } from '../src/commerce/index.ts';
import { DAY } from '../src/core/clock.ts';
import { isValidTimeZone, normalizeEmail, normalizePhone } from '../src/core/identities.ts';
import { localDay } from '../src/core/local-time.ts';
import { normalizeEvent } from '../src/ingest/index.ts';
import { buildCatalog, buildMember, customerEvents, parseCdnow, parseSimUserId, runDemo, simulateMember } from '../src/sim/index.ts';
import { eventLine } from '../src/sim/ndjson.ts';
import { generateShopParallel } from '../src/sim/parallel-out.ts';
import { isoTime, type RawEvent } from '../src/sim/raw-events.ts';
import { shopContextFor } from '../src/sim/shop.ts';
import type { Store } from '../src/store/index.ts';

const endAt = Date.UTC(2025, 10, 20); // 30 days back covers Double-11
const run = { seed: 7, users: 400, days: 30, endAt };
const ctx = shopContextFor(run);
const members = Array.from({ length: run.users }, (_, i) => buildMember(run.seed, i, ctx.start, ctx.end));
const histories = members.map((m) => simulateMember(ctx, m));
const all = histories.flat();
const tmp = mkdtempSync(join(tmpdir(), 'shopflow-sim-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const noStore = {} as Store; // out mode stores nothing

describe('simulated members', () => {
  it('have valid, unique phones and emails, IANA time zones and consent flags', () => {
    const many = Array.from({ length: 5000 }, (_, i) => buildMember(3, i, ctx.start, ctx.end));
    const phones = many.flatMap((m) => (m.phone ? [m.phone] : []));
    expect(phones.length).toBeGreaterThan(3000);
    for (const p of phones) expect(normalizePhone(p)).toBe(p);
    expect(new Set(phones).size).toBe(phones.length);
    const emails = many.flatMap((m) => (m.email ? [m.email] : []));
    for (const e of emails) expect(normalizeEmail(e)).toBe(e);
    expect(new Set(emails).size).toBe(emails.length);
    expect(new Set(many.map((m) => m.country.code)).size).toBeGreaterThanOrEqual(8);
    for (const m of many.slice(0, 500)) {
      expect(isValidTimeZone(m.timezone)).toBe(true);
      expect(Object.values(m.consent).every((v) => typeof v === 'boolean')).toBe(true);
      if (!m.consent.wechat) continue;
      expect(m.wechatOpenid).toMatch(/^o[\w-]{27}$/);
    }
    expect(many.some((m) => m.memberNo)).toBe(true);
    expect(parseSimUserId(many[42]!.userId)).toEqual({ seed: 3, index: 42 });
  });

  it('produce events that pass the API validation, in time order per member, with unique ids', () => {
    const ids = new Set<string>();
    for (const events of histories) {
      for (let i = 1; i < events.length; i++)
        expect(Date.parse(events[i]!.timestamp)).toBeGreaterThanOrEqual(Date.parse(events[i - 1]!.timestamp));
    }
    all.forEach((e, i) => {
      ids.add(e.messageId);
      const r = normalizeEvent(e, [i], { workspaceId: 1, receivedAt: endAt, source: 'import' });
      if (!r.ok) throw new Error(`${JSON.stringify(e)}: ${JSON.stringify(r.errors)}`);
      expect(r.event.ts).toBeGreaterThanOrEqual(ctx.start);
      expect(r.event.ts).toBeLessThan(endAt);
    });
    expect(ids.size).toBe(all.length);
  });

  it('browse anonymously before sign-up, then identify with both ids', () => {
    let joined = 0;
    for (const events of histories) {
      const signup = events.findIndex((e) => e.type === 'identify');
      expect(signup).toBeGreaterThanOrEqual(0);
      const before = events.slice(0, signup);
      for (const e of before) expect(e.userId).toBeUndefined();
      if (before.length > 0) {
        joined++;
        expect(events[signup]!.anonymousId).toBe(before[0]!.anonymousId);
        expect(events[signup]!.userId).toBeDefined();
      }
    }
    expect(joined).toBeGreaterThan(run.users * 0.2);
  });

  it('buy in realistic proportions: paid, unpaid, cancelled, refunded, with coupons', () => {
    const count = (name: string) => all.filter((e) => e.event === name).length;
    const placed = count('Order Placed');
    const completed = count('Order Completed');
    expect(count('Product Viewed')).toBeGreaterThan(10 * placed);
    expect(completed).toBeGreaterThan(0.7 * placed);
    expect(completed).toBeLessThan(placed);
    for (const name of [
      'Order Cancelled',
      'Order Shipped',
      'Coupon Applied',
      'Product Added',
      'Product Added to Wishlist',
      'Checkout Started',
      'Signed Up',
      'Member Joined',
    ]) {
      expect(count(name), name).toBeGreaterThan(0);
    }
    const order = all.find((e) => e.event === 'Order Completed')!;
    expect(order.properties).toMatchObject({ order_id: expect.any(String), total: expect.any(Number), currency: 'USD' });
    expect((order.properties!.products as unknown[])[0]).toMatchObject({
      product_id: expect.any(String),
      category: expect.stringMatching(/ > .* > /),
      price: expect.any(Number),
      quantity: expect.any(Number),
    });
  });

  it('stop buying once dormant and peak on Double-11 in China', () => {
    histories.forEach((events, i) => {
      const dormantAt = members[i]!.dormantAt;
      if (dormantAt === null) return;
      const late = events.filter((e) => e.event === 'Checkout Started' && Date.parse(e.timestamp) >= dormantAt);
      expect(late).toHaveLength(0);
    });
    const ordersByDay = new Map<number, number>();
    histories.forEach((events, i) => {
      const m = members[i]!;
      if (m.country.code !== 'CN') return;
      for (const e of events)
        if (e.event === 'Order Placed') {
          const d = localDay(m.timezone, Date.parse(e.timestamp));
          ordersByDay.set(d, (ordersByDay.get(d) ?? 0) + 1);
        }
    });
    const d11 = Math.floor(Date.UTC(2025, 10, 11) / DAY);
    const ordinary = [...ordersByDay.entries()].filter(([d]) => Math.abs(d - d11) > 12).map(([, n]) => n);
    const mean = ordinary.reduce((a, b) => a + b, 0) / Math.max(1, ordinary.length);
    expect(ordersByDay.get(d11) ?? 0).toBeGreaterThan(2.5 * mean);
  });

  it('replenish consumables (repeat orders in groceries / baby / beauty)', () => {
    const long = shopContextFor({ ...run, days: 120 });
    let repeats = 0;
    for (let i = 0; i < 300; i++) {
      const leaves = simulateMember(long, buildMember(run.seed, i, long.start, long.end))
        .filter((e) => e.event === 'Order Completed')
        .flatMap((e) => (e.properties!.products as { category: string }[]).map((p) => p.category));
      if (leaves.some((c, j) => /^(Groceries|Mother & Baby|Beauty)/.test(c) && leaves.indexOf(c) !== j)) repeats++;
    }
    expect(repeats).toBeGreaterThan(10);
  });
});

describe('catalog and serialisation', () => {
  it('builds a valid three-level catalog', () => {
    const catalog = buildCatalog(7);
    expect(catalog.products.length).toBeGreaterThan(200);
    for (const p of catalog.products) {
      expect(productSchema.parse(p.product)).toEqual(p.product);
      expect(p.product.category.split(' > ')).toHaveLength(3);
    }
    expect(catalog.products.map((p) => p.product.category)).toEqual(
      expect.arrayContaining(['Electronics > Phones > Smartphones', 'Electronics > Accessories > Earphones']),
    );
  });

  it('writes the same bytes as JSON.stringify, and ISO times like Date', () => {
    for (const e of all) expect(eventLine(e)).toBe(JSON.stringify(e));
    for (let t = ctx.start; t < ctx.end; t += 9_876_543) expect(isoTime(t)).toBe(new Date(t).toISOString());
  });

  it('is deterministic: the same seed gives byte-identical files (on any number of threads), another seed does not', async () => {
    const file = (name: string) => join(tmp, name);
    const options = { dataset: 'shop' as const, users: 150, days: 30, seed: 11, endAt };
    const a = await runDemo(noStore, { now: () => endAt }, 1, { ...options, out: file('a.ndjson') }, silentProgress);
    await runDemo(noStore, { now: () => endAt }, 1, { ...options, out: file('b.ndjson') }, silentProgress);
    await runDemo(noStore, { now: () => endAt }, 1, { ...options, seed: 12, out: file('c.ndjson') }, silentProgress);
    const text = readFileSync(file('a.ndjson'), 'utf8');
    expect(text).toBe(readFileSync(file('b.ndjson'), 'utf8'));
    expect(text).not.toBe(readFileSync(file('c.ndjson'), 'utf8'));
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(a.events);
    expect(a).toMatchObject({ users: 150, products: buildCatalog(11).products.length });
    const first = JSON.parse(lines[0]!) as RawEvent;
    expect(first).toMatchObject({ messageId: 'sim-11-0-0', anonymousId: expect.any(String) });
    // Several worker threads (used for big files) write the very same bytes.
    expect(await generateShopParallel(options, file('p.ndjson'), 2, silentProgress, 40)).toBe(a.events);
    expect(readFileSync(file('p.ndjson'), 'utf8')).toBe(text);
    const products = readFileSync(file('a.ndjson.products.ndjson'), 'utf8').trim().split('\n');
    expect(products).toHaveLength(a.products);
    for (const p of products) productSchema.parse(JSON.parse(p));
  });
});

describe('CDNOW parsing', () => {
  it('reads the whitespace format with its header and CRLF, keeps zero-value rows', () => {
    const rows = parseCdnow(
      ' customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  2   0.00\r\n 00001 19970101  3   30\r\n',
    );
    expect(rows).toEqual([
      { customer: 1, date: '19970101', cds: 1, value: 11.77 },
      { customer: 2, date: '19970112', cds: 2, value: 0 },
      { customer: 1, date: '19970101', cds: 3, value: 30 },
    ]);
    const events = customerEvents(
      1,
      rows.filter((r) => r.customer === 1),
    );
    expect(events.map((e) => e.type)).toEqual(['identify', 'track', 'track']);
    expect(events[1]).toMatchObject({
      userId: 'cdnow-1',
      event: 'Order Completed',
      timestamp: '1997-01-01T12:00:00.000Z',
      properties: { order_id: 'cdnow-1-19970101-1', total: 11.77 },
    });
    expect(events[2]!.properties).toMatchObject({
      order_id: 'cdnow-1-19970101-2',
      products: [{ product_id: 'cdnow-cd', category: 'Music > CDs', price: 10, quantity: 3 }],
    });
    expect(() => parseCdnow('00001 1997 1 x')).toThrow(/line 1/);
  });
});
