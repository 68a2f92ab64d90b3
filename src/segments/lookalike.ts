import { DAY } from '../core/clock.ts';
import { AppError } from '../core/errors.ts';
import type { SqlParam, Store } from '../store/index.ts';
import { createStaticSegment, requireSegment, type Segment } from './segments-repo.ts';

/**
 * Lookalike audiences: rank everyone outside a seed segment by how much they behave like it.
 *
 * One SQL statement per engine does it all: a behaviour vector per person (purchase, activity and
 * the share of their product interest in the seed's favourite categories), z-scores over the whole
 * population, the seed's centroid, a similarity to it, top N. Only N rows come back, so 1M people
 * cost one scan of events and event_items, not one query per person. See docs/audience-export.md.
 */

export type LookalikeMetric = 'cosine' | 'distance';

export interface LookalikeOptions {
  /** How many people to return. */
  size: number;
  /** The instant recency is measured from (epoch ms). */
  now: number;
  /** Leave out members of this segment too (e.g. people already targeted, or existing buyers). */
  excludeSegmentId?: number;
  /**
   * cosine (default): angle between a person's and the seed's deviation from the average shopper,
   * in [-1, 1]. distance: minus the Euclidean distance to the seed centroid in z units.
   */
  metric?: LookalikeMetric;
  /** How many of the seed's favourite leaf / top categories become features (default 5 / 3). */
  leafCategories?: number;
  topCategories?: number;
}

export interface Lookalike {
  userKey: number;
  score: number;
}

/** Interest (views, carts, orders) share counts; purchases say more, so they weigh this much. */
const purchaseWeight = 3;
/** z-scores are clipped so one extreme spender cannot decide a whole cosine on their own. */
const zClip = 3;
/** Recency decays with this time constant: 0 = never, 1 = today. */
const recencyDays = 30;

interface Feature {
  name: string;
  /** The value per person, over `e` (event aggregates) and `i` (item aggregates). */
  sql: string;
  /** Category shares: which item rows count towards it. */
  match?: string;
}

/** The seed's most frequent leaf paths and top categories, weighted like the features. */
async function seedCategories(store: Store, ws: number, seedId: number, leaves: number, tops: number) {
  const weighted = `sum(CASE WHEN x.event = 'Order Completed' THEN ${purchaseWeight} ELSE 1 END)`;
  const from = `FROM event_items x JOIN segment_members s ON s.workspace_id = x.workspace_id AND s.user_key = x.user_key
    WHERE x.workspace_id = $1 AND s.segment_id = $2 AND x.category IS NOT NULL`;
  const leafRows = await store.query<{ c: string }>(
    `SELECT x.category AS c ${from} GROUP BY x.category ORDER BY ${weighted} DESC, x.category LIMIT ${leaves}`,
    [ws, seedId],
  );
  const topRows = await store.query<{ c: string }>(
    `SELECT split_part(x.category, ' > ', 1) AS c ${from} GROUP BY 1 ORDER BY ${weighted} DESC, 1 LIMIT ${tops}`,
    [ws, seedId],
  );
  return { leaves: leafRows.map((r) => r.c), tops: topRows.map((r) => r.c) };
}

const dbl = 'DOUBLE PRECISION';

/**
 * The behaviour vector. Money and counts are log-scaled (they are heavy-tailed: without it the
 * z-scores of a few whales swamp everyone else); recency is an exponential decay so people who
 * never ordered get 0 instead of a missing value.
 */
function features(categories: { leaves: string[]; tops: string[] }, firstParam: number): { list: Feature[]; params: SqlParam[] } {
  // Capped so exp() stays far from double underflow (an error on PostgreSQL).
  const decay = (col: string) => `exp(-least(700, greatest(0, (CAST($3 AS BIGINT) - ${col}) / ${DAY}.0 / ${recencyDays})))`;
  const list: Feature[] = [
    { name: 'orders', sql: 'ln(1 + coalesce(e.orders, 0))' },
    { name: 'spend', sql: 'ln(1 + coalesce(e.spend, 0))' },
    { name: 'avg_order_value', sql: `ln(1 + coalesce(e.spend / nullif(CAST(e.orders AS ${dbl}), 0), 0))` },
    { name: 'order_recency', sql: `coalesce(${decay('e.last_order')}, 0)` },
    { name: 'discount_use', sql: `coalesce(least(1, e.coupons / nullif(CAST(e.placed AS ${dbl}), 0)), 0)` },
    { name: 'activity', sql: 'ln(1 + coalesce(e.events, 0))' },
    { name: 'activity_recency', sql: `coalesce(${decay('e.last_seen')}, 0)` },
  ];
  const params: SqlParam[] = [];
  const share = (name: string, match: string) =>
    list.push({ name, sql: `coalesce(i.${name} / nullif(CAST(i.weight AS ${dbl}), 0), 0)`, match });
  categories.leaves.forEach((c, k) => {
    params.push(c);
    share(`leaf_${k}`, `x.category = $${firstParam + params.length - 1}`);
  });
  categories.tops.forEach((c, k) => {
    params.push(c);
    share(`top_${k}`, `split_part(x.category, ' > ', 1) = $${firstParam + params.length - 1}`);
  });
  return { list, params };
}

/** The one statement: features → population mean/sd → z → seed centroid → score → top N. */
function lookalikeSql(list: Feature[], metric: LookalikeMetric, size: number): string {
  const w = `CASE WHEN x.event = 'Order Completed' THEN ${purchaseWeight} ELSE 1 END`;
  const shares = list.filter((f) => f.match !== undefined);
  const names = list.map((f) => f.name);
  const z = (n: string) => `least(${zClip}, greatest(-${zClip}, coalesce((f.${n} - s.m_${n}) / nullif(s.s_${n}, 0), 0)))`;
  const dot = names.map((n) => `z.${n} * c.${n}`).join(' + ');
  const norm = (t: string) => `sqrt(${names.map((n) => `${t}.${n} * ${t}.${n}`).join(' + ')})`;
  const score =
    metric === 'cosine'
      ? `coalesce((${dot}) / nullif(${norm('z')} * ${norm('c')}, 0), 0)`
      : `-sqrt(${names.map((n) => `(z.${n} - c.${n}) * (z.${n} - c.${n})`).join(' + ')})`;
  return `
WITH e AS (
  SELECT user_key,
    count(*) FILTER (WHERE event = 'Order Completed') AS orders,
    sum(total) FILTER (WHERE event = 'Order Completed') AS spend,
    max(ts) FILTER (WHERE event = 'Order Completed') AS last_order,
    count(*) FILTER (WHERE event = 'Order Placed') AS placed,
    count(*) FILTER (WHERE event = 'Coupon Applied') AS coupons,
    count(*) AS events,
    max(ts) AS last_seen
  FROM events WHERE workspace_id = $1 GROUP BY user_key),
i AS (
  SELECT x.user_key, sum(${w}) AS weight
    ${shares.map((f) => `, sum(CASE WHEN ${f.match} THEN ${w} ELSE 0 END) AS ${f.name}`).join('')}
  FROM event_items x WHERE x.workspace_id = $1 GROUP BY x.user_key),
f AS MATERIALIZED (
  SELECT u.user_key, ${list.map((f) => `CAST(${f.sql} AS ${dbl}) AS ${f.name}`).join(', ')}
  FROM users u LEFT JOIN e ON e.user_key = u.user_key LEFT JOIN i ON i.user_key = u.user_key
  WHERE u.workspace_id = $1 AND u.merged_into IS NULL),
s AS (SELECT ${names.map((n) => `avg(${n}) AS m_${n}, stddev_pop(${n}) AS s_${n}`).join(', ')} FROM f),
z AS MATERIALIZED (SELECT f.user_key, ${names.map((n) => `${z(n)} AS ${n}`).join(', ')} FROM f CROSS JOIN s),
seed AS (SELECT DISTINCT user_key FROM segment_members WHERE workspace_id = $1 AND segment_id = $2),
c AS (SELECT ${names.map((n) => `avg(z.${n}) AS ${n}`).join(', ')} FROM z JOIN seed ON seed.user_key = z.user_key)
SELECT z.user_key, ${score} AS score
FROM z CROSS JOIN c
WHERE NOT EXISTS (SELECT 1 FROM seed WHERE seed.user_key = z.user_key)
  AND NOT EXISTS (SELECT 1 FROM segment_members x WHERE x.workspace_id = $1 AND x.segment_id = $4 AND x.user_key = z.user_key)
ORDER BY score DESC, z.user_key
LIMIT ${size}`;
}

function positiveInt(v: number | undefined, fallback: number, path: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 0 || n > max) throw new AppError('invalid_request', `${path} must be an integer from 0 to ${max}`, path);
  return n;
}

/** Details of one run: the ranked people and what they were compared on. */
export interface LookalikeRun {
  people: Lookalike[];
  features: string[];
  seedCategories: { leaves: string[]; tops: string[] };
  metric: LookalikeMetric;
}

export async function runLookalike(
  store: Store,
  workspaceId: number,
  seedSegmentId: number,
  options: LookalikeOptions,
): Promise<LookalikeRun> {
  const size = positiveInt(options.size, 0, 'size', 1_000_000);
  if (!Number.isFinite(options.now)) throw new AppError('invalid_request', 'now must be an epoch-ms instant', 'now');
  const metric = options.metric ?? 'cosine';
  const seed = await requireSegment(store, workspaceId, seedSegmentId, 'seedSegmentId');
  // Without members there is no centroid to compare with.
  if (seed.memberCount === 0) throw new AppError('invalid_request', `segment ${seedSegmentId} has no members`, 'seedSegmentId');
  if (options.excludeSegmentId !== undefined) await requireSegment(store, workspaceId, options.excludeSegmentId, 'excludeSegmentId');
  const cats = await seedCategories(
    store,
    workspaceId,
    seedSegmentId,
    positiveInt(options.leafCategories, 5, 'leafCategories', 50),
    positiveInt(options.topCategories, 3, 'topCategories', 50),
  );
  // $1 workspace, $2 seed, $3 now, $4 excluded segment (-1, no segment, when none: both engines
  // refuse a bound parameter the statement does not use), $5… the seed's categories.
  const { list, params } = features(cats, 5);
  const sql = lookalikeSql(list, metric, size);
  const rows = await store.query<{ user_key: number; score: number }>(sql, [
    workspaceId,
    seedSegmentId,
    options.now,
    options.excludeSegmentId ?? -1,
    ...params,
  ]);
  return {
    people: rows.map((r) => ({ userKey: Number(r.user_key), score: Number(r.score) })),
    features: list.map((f) => f.name),
    seedCategories: cats,
    metric,
  };
}

/** Everyone outside the seed (and `excludeSegmentId`), most similar first, `size` at most. */
export async function findLookalikes(
  store: Store,
  workspaceId: number,
  seedSegmentId: number,
  options: LookalikeOptions,
): Promise<Lookalike[]> {
  return (await runLookalike(store, workspaceId, seedSegmentId, options)).people;
}

export interface LookalikeSegment {
  segment: Segment;
  scores: { count: number; max: number | null; median: number | null; min: number | null };
  features: string[];
  seedCategories: { leaves: string[]; tops: string[] };
}

/** Finds lookalikes and stores them as a static segment (named by the operator) for journeys and export. */
export async function createLookalikeSegment(
  store: Store,
  workspaceId: number,
  seedSegmentId: number,
  options: { name: string; size: number; now: number; excludeSegmentId?: number; metric?: LookalikeMetric },
): Promise<LookalikeSegment> {
  const seed = await requireSegment(store, workspaceId, seedSegmentId, 'seedSegmentId');
  const run = await runLookalike(store, workspaceId, seedSegmentId, options);
  const scores = run.people.map((p) => p.score);
  const segment = await createStaticSegment(
    store,
    workspaceId,
    {
      name: options.name,
      description: `Lookalike of "${seed.name}" (${run.metric}, ${run.people.length} people)`,
      userKeys: run.people.map((p) => p.userKey),
    },
    options.now,
  );
  return {
    segment,
    // Scores come sorted best first.
    scores: {
      count: scores.length,
      max: scores[0] ?? null,
      median: scores.length > 0 ? scores[Math.floor((scores.length - 1) / 2)]! : null,
      min: scores[scores.length - 1] ?? null,
    },
    features: run.features,
    seedCategories: run.seedCategories,
  };
}
