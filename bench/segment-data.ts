/**
 * Data for the `segments` benchmark, generated inside the database with SQL (DuckDB `range()`,
 * PostgreSQL `generate_series`) straight into the real tables: no row crosses into JavaScript, so
 * the time is the database's own insert speed.
 *
 * Pseudo-random values come from an integer hash of the row number, written in plain 64-bit
 * integer arithmetic that both engines evaluate identically, so the same size and seed give the
 * same rows on DuckDB and on PostgreSQL, and segment counts can be compared across engines.
 */
import type { Progress } from '../src/cli/progress.ts';
import { DAY } from '../src/core/clock.ts';
import { columnTypes } from '../src/store/dialect.ts';
import type { Dialect, Store } from '../src/store/index.ts';
import { secondsSince } from './stats.ts';

export interface SegmentDataOptions {
  users: number;
  events: number;
  /** Evaluation instant: events span the ~400 days before it. Fixed, so both engines get the same rows. */
  now: number;
  seed: number;
  progress: Progress;
}

export interface GeneratedData {
  users: number;
  events: number;
  items: number;
  generationSeconds: number;
}

/** Leaf categories of a small three-level tree; product p belongs to leaf p % 20. */
export const categoryPaths = [
  'Electronics > Phones > Smartphones',
  'Electronics > Phones > Accessories',
  'Electronics > Computers > Laptops',
  'Electronics > Computers > Tablets',
  'Electronics > Audio > Headphones',
  'Home > Kitchen > Cookware',
  'Home > Kitchen > Appliances',
  'Home > Furniture > Chairs',
  'Home > Decor > Lighting',
  'Fashion > Women > Dresses',
  'Fashion > Women > Shoes',
  'Fashion > Men > Shirts',
  'Fashion > Men > Shoes',
  'Beauty > Skincare > Serums',
  'Beauty > Makeup > Lipstick',
  'Sports > Outdoor > Tents',
  'Sports > Fitness > Yoga',
  'Books > Fiction > Novels',
  'Toys > Building > Blocks',
  'Grocery > Snacks > Chips',
];
const PRODUCTS = 5000;
const cities = [
  'Shanghai',
  'Beijing',
  'Shenzhen',
  'Guangzhou',
  'Hangzhou',
  'Chengdu',
  'Wuhan',
  'Nanjing',
  "Xi'an",
  'Suzhou',
  'Tianjin',
  'Chongqing',
];
/** Every 200th person was merged into the previous one (merges move events, so they own none). */
export const MERGED_EVERY = 200;

/** SQL fragments that differ between the engines; the rest is common SQL. */
export class GenSql {
  readonly text: string;
  readonly double: string;
  constructor(
    readonly dialect: Dialect,
    private readonly seed: number,
  ) {
    this.text = columnTypes[dialect].text;
    this.double = columnTypes[dialect].double;
  }

  xor(a: string, b: string): string {
    return this.dialect === 'duckdb' ? `xor(${a}, ${b})` : `(${a} # ${b})`;
  }

  /**
   * A 32-bit hash of an integer expression (< 3·10⁹): a multiplicative step then two
   * xorshift-multiply rounds, all products below 2⁶³ so neither engine overflows.
   */
  hash(col: string, salt: number): string {
    const s = (this.seed * 1_000_003 + salt * 2_654_435_769) % 4_294_967_296;
    const a0 = `((((${col}) * 2654435761) + ${s}) % 4294967296)`;
    const a1 = `((${this.xor(a0, `(${a0} >> 16)`)} * 73244475) % 4294967296)`;
    const a2 = `((${this.xor(a1, `(${a1} >> 16)`)} * 73244475) % 4294967296)`;
    return this.xor(a2, `(${a2} >> 16)`);
  }

  /** Integers lo ≤ i < hi as a table `s(i)`. */
  series(lo: number, hi: number): string {
    return this.dialect === 'duckdb' ? `range(${lo}, ${hi}) s(i)` : `generate_series(${lo}::BIGINT, ${hi - 1}::BIGINT) s(i)`;
  }

  str(expr: string): string {
    return `CAST(${expr} AS ${this.text})`;
  }

  /** One of `values`, by an integer expression ≥ 0. */
  pick(values: readonly string[], expr: string): string {
    const list = values.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ');
    return `(ARRAY[${list}])[CAST((${expr}) % ${values.length} + 1 AS INTEGER)]`;
  }
}

/** A person key in 1..users from two hashes: the product of two uniforms, so low keys are the most active. */
export function skewedUserKey(h1: string, h2: string, users: number): string {
  const k = `(((((${h1} >> 4) * (${h2} >> 4)) >> 24) * ${users}) >> 32) + 1`;
  // A merged-away person's events belong to the person it was merged into.
  return `(CASE WHEN (${k}) % ${MERGED_EVERY} = 0 THEN (${k}) - 1 ELSE (${k}) END)`;
}

/** Event names with per-mille thresholds over a hash, in order: browsing most, orders ~4 %. */
export type EventMix = readonly (readonly [string, number])[];
export const defaultMix: EventMix = [
  ['Product Viewed', 580],
  ['Product Added', 730],
  ['Product Added to Wishlist', 780],
  ['Checkout Started', 840],
  ['Order Placed', 880],
  ['Order Completed', 920],
  ['Products Searched', 960],
  ['Home', 1000], // a page view
];
const productEvents = "('Product Viewed', 'Product Added', 'Product Added to Wishlist')";
const orderEvents = "('Checkout Started', 'Order Placed', 'Order Completed')";

interface BaseOptions {
  users: number;
  /** The event time, an expression of `i`. */
  ts: string;
  mix?: EventMix;
  /** The person, an expression of the hashes `h1`, `h2` (default: skewed towards low keys). */
  userKey?: string;
}

/** The four hashes each event is derived from, per row number `i` of `source`. */
export function eventHashes(g: GenSql, source: string, salt: number): string {
  const h = (n: number) => g.hash('i', salt + n);
  return `SELECT i, ${h(1)} AS h1, ${h(2)} AS h2, ${h(3)} AS hk, ${h(4)} AS hp FROM ${source}`;
}

/**
 * One row per generated event: number, person, name, time and the raw values the columns are
 * derived from, read from `hashes` (a table or subquery of eventHashes). `events` and
 * `event_items` are both inserted from it. Materialise it when it is used twice: both engines
 * inline subqueries, and every reference to a derived column would recompute its hashes.
 */
export function eventBase(hashes: string, o: BaseOptions): string {
  const name = `CASE ${(o.mix ?? defaultMix).map(([n, t]) => `WHEN hk % 1000 < ${t} THEN '${n}'`).join(' ')} END`;
  return `SELECT i, ${o.userKey ?? skewedUserKey('h1', 'h2', o.users)} AS user_key, ${name} AS event, ${o.ts} AS ts,
      (hp >> 8) % ${PRODUCTS} AS product, hp % 49500 + 500 AS cents, 1 + (hk >> 12) % 3 AS nlines, (hk >> 20) % 2 AS extra_qty
    FROM ${hashes} r`;
}

/** INSERT INTO events from an eventBase subquery aliased `b`. */
export function insertEvents(g: GenSql, ws: number, base: string, prefix: string, receivedAt: string): string {
  const isProduct = `b.event IN ${productEvents}`;
  const isOrder = `b.event IN ${orderEvents}`;
  const single = `(${isProduct} OR (${isOrder} AND b.nlines = 1))`;
  // Constant per kind, so both engines fold the JSON once: building and parsing JSON text per row
  // doubled the generation time, and no benchmarked segment reads properties.
  const props = `CASE WHEN ${isProduct} THEN '{"currency":"CNY","list":"recommended"}' WHEN ${isOrder} THEN '{"currency":"CNY","payment":"wechat_pay"}'
    ELSE '{}' END`;
  return `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, user_id, order_id, total, currency,
      product_id, category, source, properties)
    SELECT ${ws}, '${prefix}' || ${g.str('b.i')}, b.user_key, CASE WHEN b.event = 'Home' THEN 'page' ELSE 'track' END, b.event, b.ts,
      ${receivedAt}, 'u' || ${g.str('b.user_key')},
      CASE WHEN ${isOrder} THEN 'o${prefix}' || ${g.str('b.i')} END,
      CASE WHEN ${isOrder} THEN CAST(b.cents AS ${g.double}) / 100 END,
      CASE WHEN ${isOrder} THEN 'CNY' END,
      CASE WHEN ${single} THEN 'p' || ${g.str('b.product')} END,
      CASE WHEN ${single} THEN ${g.pick(categoryPaths, 'b.product % 20')} END,
      'import', CAST(${props} AS ${g.dialect === 'duckdb' ? 'JSON' : 'JSONB'})
    FROM (${base}) b`;
}

/** INSERT INTO event_items: one line per product event, 1–3 lines per checkout/order event. */
export function insertItems(g: GenSql, ws: number, base: string, prefix: string): string {
  const lineProduct = `((b.product + l.j * 1777) % ${PRODUCTS})`;
  const isOrder = `b.event IN ${orderEvents}`;
  return `INSERT INTO event_items (workspace_id, message_id, user_key, event, ts, order_id, product_id, category, price, quantity)
    SELECT ${ws}, '${prefix}' || ${g.str('b.i')}, b.user_key, b.event, b.ts, CASE WHEN ${isOrder} THEN 'o${prefix}' || ${g.str('b.i')} END,
      'p' || ${g.str(lineProduct)}, ${g.pick(categoryPaths, lineProduct)}, CAST(${lineProduct} % 200 * 100 + 99 AS ${g.double}) / 100,
      CASE WHEN ${isOrder} THEN 1 + b.extra_qty ELSE 1 END
    FROM (${base}) b CROSS JOIN (VALUES (0), (1), (2)) l(j)
    WHERE (b.event IN ${productEvents} AND l.j = 0) OR (${isOrder} AND l.j < b.nlines)`;
}

/** People with traits (gender, city, member tier), a user_id identity each, and a 5,000-product catalog. */
async function generatePeople(store: Store, g: GenSql, ws: number, o: SegmentDataOptions): Promise<void> {
  const chunk = 2_000_000;
  o.progress.start('generate people', o.users);
  for (let lo = 0; lo < o.users; lo += chunk) {
    const hi = Math.min(o.users, lo + chunk);
    const h = g.hash('i', 11);
    const key = 'p.i + 1';
    const gender = `CASE WHEN p.h % 100 < 55 THEN '"gender":"female",' WHEN p.h % 100 < 90 THEN '"gender":"male",' ELSE '' END`;
    const tier = `CASE WHEN (p.h >> 16) % 100 < 50 THEN 'bronze' WHEN (p.h >> 16) % 100 < 80 THEN 'silver' WHEN (p.h >> 16) % 100 < 95 THEN 'gold' ELSE 'platinum' END`;
    const traits = `'{' || ${gender} || '"city":"' || ${g.pick(cities, '(p.h >> 8)')} || '","member_tier":"' || ${tier}
      || '","email":"u' || ${g.str(key)} || '@example.com"}'`;
    await store.query(`INSERT INTO users (workspace_id, user_key, created_at, updated_at, merged_into, traits)
      SELECT ${ws}, ${key}, ${o.now - 400 * DAY} - ((p.h >> 4) % 365) * ${DAY}, ${o.now - 400 * DAY},
        CASE WHEN (${key}) % ${MERGED_EVERY} = 0 THEN (${key}) - 1 END, CAST(${traits} AS ${g.dialect === 'duckdb' ? 'JSON' : 'JSONB'})
      FROM (SELECT i, ${h} AS h FROM ${g.series(lo, hi)}) p`);
    await store.query(`INSERT INTO identities (workspace_id, type, value, user_key, created_at)
      SELECT ${ws}, 'user_id', 'u' || ${g.str('i + 1')}, i + 1, ${o.now - 400 * DAY} FROM ${g.series(lo, hi)}
      WHERE (i + 1) % ${MERGED_EVERY} <> 0`);
    o.progress.update(hi);
  }
  o.progress.stop();
  await store.query(`UPDATE key_ranges SET next_value = ${o.users + 1} WHERE name = 'user_key' AND next_value <= ${o.users}`);
  const path = g.pick(categoryPaths, 'i % 20');
  await store.query(`INSERT INTO products (workspace_id, product_id, name, category_path, category_top, category_mid, category_leaf, price, stock, updated_at)
    SELECT ${ws}, 'p' || ${g.str('i')}, 'Product ' || ${g.str('i')}, ${path}, split_part(${path}, ' > ', 1), split_part(${path}, ' > ', 2),
      split_part(${path}, ' > ', 3), CAST(i % 200 * 100 + 99 AS ${g.double}) / 100, 100, ${o.now}
    FROM ${g.series(0, PRODUCTS)}`);
}

/**
 * PostgreSQL maintains every index row by row during a bulk INSERT; building them afterwards is
 * several times faster. Returns the definitions of the dropped indexes, to re-run.
 */
async function dropEventIndexes(store: Store): Promise<string[]> {
  const rows = await store.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('events', 'event_items')`,
  );
  for (const r of rows) await store.query(`DROP INDEX ${r.indexname}`);
  return rows.map((r) => r.indexdef);
}

async function rebuildIndexes(store: Store, definitions: string[], progress: Progress): Promise<void> {
  progress.start('build indexes', definitions.length);
  await store.session(async (s) => {
    await s.query(`SET maintenance_work_mem = '1GB'`);
    for (const [n, sql] of definitions.entries()) {
      await s.query(sql);
      progress.update(n + 1);
    }
  });
  progress.stop();
  // As autovacuum would have by now: statistics, and the visibility map for index-only scans.
  for (const table of ['users', 'identities', 'products', 'events', 'event_items']) await store.query(`VACUUM (ANALYZE) ${table}`);
}

/** Fills an empty workspace: `users` people, `events` events over ~400 days in time order, and their product lines. */
export async function generateSegmentData(store: Store, ws: number, o: SegmentDataOptions): Promise<GeneratedData> {
  const t = performance.now();
  const g = new GenSql(store.dialect, o.seed);
  await generatePeople(store, g, ws, o);
  const indexes = store.dialect === 'postgres' ? await dropEventIndexes(store) : [];
  // Events arrive in time order (as ingestion stores them): one every `step` ms, the last just before now.
  const step = Math.max(1, Math.floor((400 * DAY) / o.events));
  const start = o.now - o.events * step;
  const chunk = store.dialect === 'duckdb' ? 5_000_000 : 1_000_000;
  o.progress.start('generate events', o.events);
  await store.session(async (db) => {
    for (let lo = 0; lo < o.events; lo += chunk) {
      const hi = Math.min(o.events, lo + chunk);
      for (const t of ['gen_hashes', 'gen_base']) await db.query(`DROP TABLE IF EXISTS ${t}`);
      await db.query(`CREATE TEMP TABLE gen_hashes AS ${eventHashes(g, g.series(lo, hi), 0)}`);
      await db.query(`CREATE TEMP TABLE gen_base AS ${eventBase('gen_hashes', { users: o.users, ts: `${start} + i * ${step}` })}`);
      await db.query(insertEvents(g, ws, 'SELECT * FROM gen_base', 'g', 'ts'));
      await db.query(insertItems(g, ws, 'SELECT * FROM gen_base', 'g'));
      o.progress.update(hi);
    }
    for (const t of ['gen_hashes', 'gen_base']) await db.query(`DROP TABLE ${t}`);
  });
  o.progress.stop();
  if (store.dialect === 'postgres') await rebuildIndexes(store, indexes, o.progress);
  else await store.query('CHECKPOINT');
  const [items] = await store.query<{ n: number }>('SELECT count(*) AS n FROM event_items WHERE workspace_id = $1', [ws]);
  return { users: o.users, events: o.events, items: Number(items?.n ?? 0), generationSeconds: secondsSince(t) };
}

/**
 * `count` new events received now (for an incremental refresh), at times over the last 7 days
 * (mobile apps send late): Product Added, Order Completed and Product Viewed of ~`count` people.
 * Returns the keys of the people they are about.
 */
export async function appendRecentEvents(store: Store, ws: number, o: { count: number; users: number; now: number; seed: number }) {
  const g = new GenSql(store.dialect, o.seed);
  // A person per event uniformly over everyone (merged-away people: their survivor); times over the last 7 days.
  const k = `((h1 % ${o.users}) + 1)`;
  const recent = eventBase(`(${eventHashes(g, g.series(0, o.count), 40)})`, {
    users: o.users,
    ts: `${o.now} - (${g.hash('i', 31)} % ${7 * DAY})`,
    mix: [
      ['Product Added', 400],
      ['Order Completed', 600],
      ['Product Viewed', 1000],
    ],
    userKey: `(CASE WHEN ${k} % ${MERGED_EVERY} = 0 THEN ${k} - 1 ELSE ${k} END)`,
  });
  await store.transaction(async (tx) => {
    await tx.query(insertEvents(g, ws, recent, 'n', String(o.now)));
    await tx.query(insertItems(g, ws, recent, 'n'));
  });
  const rows = await store.query<{ user_key: number }>(`SELECT DISTINCT user_key FROM (${recent}) r`);
  return rows.map((r) => Number(r.user_key));
}
