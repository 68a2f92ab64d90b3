import type { Progress } from '../../cli/progress.ts';
import { DAY } from '../../core/clock.ts';
import { textTable } from '../../core/text-table.ts';
import type { Session, Store } from '../../store/index.ts';
import { recommendationSql } from './query.ts';
import { type RecommendationSpec, recommendationSpecSchema, type Strategy } from './schema.ts';
import { Params } from './tuning.ts';

/**
 * Offline evaluation: hold out each buyer's last purchase, recommend `k` products from what was
 * known before it, and count a hit when the held-out order holds one of them (hit-rate@k).
 *
 * Protocol, chosen so that nothing leaks from the future:
 * - the test window is the last `testDays` days of order history; the people evaluated are those
 *   whose last order falls in it, and that order is held out;
 * - everything global (popularity, trends, favourites, co-purchase similarities) is computed as of
 *   the window's start, like a model built the night before;
 * - each person's own history (purchases, views) is read up to `gapMs` before the held-out
 *   order (strictly before it when 0): without the gap, the views of the very visit that ended in the purchase would give it away;
 * - hits are counted with the rules as deployed, `fallback` included (a strategy's own share of
 *   the slots is reported beside it), and both with and without `excludePurchased`: consumables
 *   are bought again, so leaving out what someone bought can only cost hits offline, whatever it
 *   is worth to the shop.
 * Reads the store only (temporary tables on one connection); runs on either engine.
 */
export interface EvaluationOptions {
  strategies: readonly Strategy[];
  k: number;
  testDays: number;
  gapMs: number;
}

export const defaultEvaluation: EvaluationOptions = {
  strategies: ['popular', 'trending', 'related', 'same_category', 'recently_viewed', 'persona'],
  k: 10,
  testDays: 30,
  gapMs: DAY,
};

export interface EvaluationRow {
  strategy: Strategy;
  excludePurchased: boolean;
  /** Repeat buyers: the held-out order was not their first. */
  repeatUsers: number;
  repeatHits: number;
  repeatHitRate: number;
  /** First-time buyers: only their browsing came before. */
  firstUsers: number;
  firstHits: number;
  firstHitRate: number;
  hitRate: number;
  /** hitRate / popular's hitRate (same rules). */
  vsPopular: number | null;
  /** Share of the recommended slots the strategy filled itself (the rest: the popular fill-up). */
  ownShare: number;
}

export interface EvaluationReport {
  workspaceId: number;
  k: number;
  testDays: number;
  gapHours: number;
  /** The test window's start (ISO): global figures are as of here. */
  cutoff: string;
  historyFrom: string;
  historyTo: string;
  buyers: number;
  orderLines: number;
  products: number;
  evaluatedUsers: number;
  rows: EvaluationRow[];
  seconds: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const rate = (hits: number, users: number) => (users === 0 ? 0 : hits / users);

/** Picks the people and their held-out orders into temporary tables; returns the window and counts. */
async function prepare(s: Session, workspaceId: number, options: EvaluationOptions) {
  const [range] = await s.query<{ first: number | null; last: number | null; buyers: number; lines: number; products: number }>(
    `SELECT min(ts) AS first, max(ts) AS last, count(DISTINCT user_key) AS buyers, count(*) AS lines, count(DISTINCT product_id) AS products
     FROM event_items WHERE workspace_id = $1 AND event = 'Order Completed'`,
    [workspaceId],
  );
  const last = range?.last === null || range?.last === undefined ? null : Number(range.last);
  if (last === null) return null;
  const cutoff = last - options.testDays * DAY;
  await s.query('DROP TABLE IF EXISTS eval_people');
  await s.query('DROP TABLE IF EXISTS eval_held');
  await s.query(
    `CREATE TEMP TABLE eval_people AS
     SELECT user_key AS pk, user_key, held_at, held_at - CAST($3 AS BIGINT) - 1 AS as_of, first_at < held_at AS repeat_buyer FROM (
       SELECT user_key, max(ts) AS held_at, min(ts) AS first_at FROM event_items
       WHERE workspace_id = $1 AND event = 'Order Completed' GROUP BY user_key) b
     WHERE held_at > $2`,
    [workspaceId, cutoff, options.gapMs],
  );
  await s.query(
    `CREATE TEMP TABLE eval_held AS
     SELECT DISTINCT i.user_key, i.product_id FROM event_items i JOIN eval_people e ON e.user_key = i.user_key
     WHERE i.workspace_id = $1 AND i.event = 'Order Completed' AND i.ts = e.held_at`,
    [workspaceId],
  );
  const [n] = await s.query<{ n: number }>('SELECT count(*) AS n FROM eval_people');
  return {
    cutoff,
    first: Number(range?.first),
    last,
    buyers: Number(range?.buyers ?? 0),
    lines: Number(range?.lines ?? 0),
    products: Number(range?.products ?? 0),
    people: Number(n?.n ?? 0),
  };
}

/** Hits of one strategy and rule set, split by repeat and first-time buyers. */
async function score(s: Session, workspaceId: number, cutoff: number, spec: RecommendationSpec) {
  const p = new Params();
  // Global figures as of the cutoff: the model table (built for "now") would leak, so similarities are computed live.
  const lists = recommendationSql(
    { p, workspaceId, now: cutoff, spec, similarity: 'live' },
    { people: 'SELECT pk, user_key, as_of FROM eval_people', triggers: null },
  );
  const rows = await s.query<{ repeat_buyer: boolean; users: number; hits: number; own: number; slots: number }>(
    `SELECT e.repeat_buyer, count(DISTINCT e.pk) AS users, count(DISTINCT h.user_key) AS hits,
       count(CASE WHEN l.source <> 'fallback' THEN 1 END) AS own, count(l.product_id) AS slots
     FROM eval_people e LEFT JOIN (${lists}) l ON l.pk = e.pk
     LEFT JOIN eval_held h ON h.user_key = e.user_key AND h.product_id = l.product_id
     GROUP BY e.repeat_buyer`,
    p.values,
  );
  const of = (repeat: boolean) => rows.find((r) => Boolean(r.repeat_buyer) === repeat);
  const num = (v: unknown) => Number(v ?? 0);
  return {
    repeatUsers: num(of(true)?.users),
    repeatHits: num(of(true)?.hits),
    firstUsers: num(of(false)?.users),
    firstHits: num(of(false)?.hits),
    own: rows.reduce((a, r) => a + num(r.own), 0),
    slots: rows.reduce((a, r) => a + num(r.slots), 0),
  };
}

export async function evaluateRecommendations(
  store: Store,
  workspaceId: number,
  options: EvaluationOptions,
  progress: Progress,
): Promise<EvaluationReport | null> {
  // Elapsed time for the report only, not a business instant.
  const started = performance.now();
  return store.session(async (s) => {
    const data = await prepare(s, workspaceId, options);
    if (!data || data.people === 0) return null;
    const variants = [true, false].flatMap((excludePurchased) => options.strategies.map((strategy) => ({ strategy, excludePurchased })));
    progress.start('Evaluating strategies', variants.length);
    const rows: EvaluationRow[] = [];
    for (const [i, v] of variants.entries()) {
      const spec = recommendationSpecSchema.parse({ ...v, count: options.k });
      const r = await score(s, workspaceId, data.cutoff, spec);
      rows.push({
        strategy: v.strategy,
        excludePurchased: v.excludePurchased,
        repeatUsers: r.repeatUsers,
        repeatHits: r.repeatHits,
        repeatHitRate: rate(r.repeatHits, r.repeatUsers),
        firstUsers: r.firstUsers,
        firstHits: r.firstHits,
        firstHitRate: rate(r.firstHits, r.firstUsers),
        hitRate: rate(r.repeatHits + r.firstHits, r.repeatUsers + r.firstUsers),
        vsPopular: null,
        ownShare: r.slots === 0 ? 0 : r.own / r.slots,
      });
      progress.update(i + 1);
    }
    progress.stop();
    for (const row of rows) {
      const base = rows.find((b) => b.strategy === 'popular' && b.excludePurchased === row.excludePurchased);
      row.vsPopular = base && base.hitRate > 0 ? row.hitRate / base.hitRate : null;
    }
    await s.query('DROP TABLE IF EXISTS eval_people');
    await s.query('DROP TABLE IF EXISTS eval_held');
    return {
      workspaceId,
      k: options.k,
      testDays: options.testDays,
      gapHours: options.gapMs / 3_600_000,
      cutoff: iso(data.cutoff),
      historyFrom: iso(data.first),
      historyTo: iso(data.last),
      buyers: data.buyers,
      orderLines: data.lines,
      products: data.products,
      evaluatedUsers: data.people,
      rows,
      seconds: (performance.now() - started) / 1000,
    };
  });
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The report as a text table: one row per strategy and rule set. */
export function formatEvaluation(r: EvaluationReport): string {
  const head = ['strategy', 'bought', `hit@${r.k}`, 'vs popular', 'repeat buyers', 'first-time', 'own share'];
  const body = r.rows.map((x) => [
    x.strategy,
    x.excludePurchased ? 'excluded' : 'allowed',
    pct(x.hitRate),
    x.vsPopular === null ? '' : `${x.vsPopular.toFixed(2)}×`,
    `${pct(x.repeatHitRate)} of ${x.repeatUsers}`,
    `${pct(x.firstHitRate)} of ${x.firstUsers}`,
    pct(x.ownShare),
  ]);
  return [
    `hit-rate@${r.k}: ${r.evaluatedUsers} buyers' last orders of ${r.historyFrom.slice(0, 10)}..${r.historyTo.slice(0, 10)} held out ` +
      `(test window ${r.testDays} days from ${r.cutoff.slice(0, 10)}, history up to ${r.gapHours} h before each order); ` +
      `${r.buyers} buyers, ${r.orderLines} order lines, ${r.products} products`,
    ...textTable(head, body, { align: head.map((_, i) => (i < 2 ? 'left' : 'right')) }),
  ].join('\n');
}
