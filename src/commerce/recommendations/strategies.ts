import type { RecommendationSpec, Strategy } from './schema.ts';
import { cooccurrenceSql } from './similarity.ts';
import { daysMs, type Params, tuning } from './tuning.ts';

/**
 * Each strategy's candidates, as SQL over the CTEs `people (pk, user_key, as_of)`, `trig (pk,
 * product_id)` (when there are triggers) and `pop (product_id, units)`: a SELECT of `(pk,
 * product_id, score)`, higher first, plus any CTEs it needs. At most `k` candidates per list;
 * the rules and the ranking are applied by query.ts to every strategy alike.
 *
 * Global figures (popularity, trends, favourites, similarities) are as of `now`; a person's own
 * history is read up to their `as_of`, so the offline evaluation can stop each person's history
 * just before the purchase it holds out.
 */
export interface StrategyContext {
  p: Params;
  workspaceId: number;
  now: number;
  spec: RecommendationSpec;
  hasTriggers: boolean;
  /** related: read the precomputed model, or compute similarities live for the anchors at hand. */
  similarity: 'model' | 'live';
  /** Candidates per list. */
  k: number;
}

export interface StrategySql {
  ctes: [string, string][];
  select: string;
}

/** Levels of the category tree; the middle level's key is "Top > Middle" so names never collide across tops. */
type Level = 'top' | 'mid' | 'leaf';
export const categoryKey = (c: string, level: Level): string =>
  level === 'top'
    ? `${c}.category_top`
    : level === 'mid'
      ? `${c}.category_top || COALESCE(' > ' || ${c}.category_mid, '')`
      : `${c}.category_path`;

const units = (alias: string) => `COALESCE(${alias}.quantity, 1)`;

/** Order lines of the workspace in the last `days` days before `now` (alias.*). */
export function recentOrders(ctx: StrategyContext, alias: string, days: number): string {
  const { p } = ctx;
  return `${alias}.workspace_id = ${p.get('ws', ctx.workspaceId)} AND ${alias}.event = 'Order Completed'
    AND ${alias}.ts > ${p.get(`since:${days}`, ctx.now - daysMs(days))} AND ${alias}.ts <= ${p.get('now', ctx.now)}`;
}

/** Events of the person `p` of kinds `events`, up to their as_of (and `days` before it, if given). */
function ownEvents(ctx: StrategyContext, alias: string, events: string, days?: number): string {
  const window = days === undefined ? '' : `AND ${alias}.ts > p.as_of - ${daysMs(days)}`;
  return `${alias}.workspace_id = ${ctx.p.get('ws', ctx.workspaceId)} AND ${alias}.user_key = p.user_key AND ${alias}.event IN (${events})
    AND ${alias}.ts <= p.as_of ${window}`;
}

const catalog = (ctx: StrategyContext, alias: string, productColumn: string) =>
  `products ${alias} ON ${alias}.workspace_id = ${ctx.p.get('ws', ctx.workspaceId)} AND ${alias}.product_id = ${productColumn}`;

/** `c.category_path` is the category or below it; LIKE wildcards in the name are taken literally. */
function inCategory(ctx: StrategyContext, c: string): string {
  const category = ctx.spec.category ?? '';
  const like = `${category.replace(/[\\%_]/g, (m) => `\\${m}`)} > %`;
  return `(${c}.category_path = ${ctx.p.get('category', category)} OR ${c}.category_path LIKE ${ctx.p.get('category:like', like)} ESCAPE '\\')`;
}

/** The same top-k list for everyone in `people`. */
const forEveryone = (list: string) => `SELECT p.pk, t.product_id, t.score FROM people p CROSS JOIN (${list}) t`;

function popular(ctx: StrategyContext): StrategySql {
  const filter = ctx.spec.category ? `JOIN ${catalog(ctx, 'c', 'pop.product_id')} AND ${inCategory(ctx, 'c')}` : '';
  return {
    ctes: [],
    select: forEveryone(
      `SELECT pop.product_id, pop.units AS score FROM pop ${filter} ORDER BY pop.units DESC, pop.product_id LIMIT ${ctx.k}`,
    ),
  };
}

/** Units this week above the product's usual weekly rate (the four weeks before): growth, not size. */
function trending(ctx: StrategyContext): StrategySql {
  const { p } = ctx;
  const since = p.get('since:trend-recent', ctx.now - daysMs(tuning.trendRecentDays));
  const rate = tuning.trendRecentDays / tuning.trendBaselineDays;
  const filter = ctx.spec.category ? `JOIN ${catalog(ctx, 'c', 'tr.product_id')} AND ${inCategory(ctx, 'c')}` : '';
  return {
    ctes: [
      [
        'trend',
        `SELECT x.product_id, ${p.double(`sum(CASE WHEN x.ts > ${since} THEN ${units('x')} ELSE 0 END)`)} AS recent,
           ${p.double(`sum(CASE WHEN x.ts <= ${since} THEN ${units('x')} ELSE 0 END)`)} AS prior
         FROM event_items x WHERE ${recentOrders(ctx, 'x', tuning.trendRecentDays + tuning.trendBaselineDays)} GROUP BY x.product_id`,
      ],
    ],
    select: forEveryone(
      `SELECT tr.product_id, tr.recent - tr.prior * ${rate} AS score FROM trend tr ${filter}
       WHERE tr.recent - tr.prior * ${rate} > 0 ORDER BY score DESC, tr.product_id LIMIT ${ctx.k}`,
    ),
  };
}

function recentlyViewed(ctx: StrategyContext): StrategySql {
  return {
    ctes: [],
    select: `SELECT pk, product_id, score FROM (
        SELECT p.pk, v.product_id, ${ctx.p.double('max(v.ts)')} AS score,
          row_number() OVER (PARTITION BY p.pk ORDER BY max(v.ts) DESC, v.product_id) AS k
        FROM people p JOIN event_items v ON ${ownEvents(ctx, 'v', `'Product Viewed'`, tuning.viewDays)}
        GROUP BY p.pk, v.product_id) z WHERE k <= ${ctx.k}`,
  };
}

/**
 * The category of the trigger product, else of the person's last purchase or view (at `level`; the
 * middle one by default: a phone → cases, chargers), and its best sellers — unsold products too, after them.
 */
function sameCategory(ctx: StrategyContext): StrategySql {
  const key = categoryKey('c', ctx.spec.level);
  const lastSeen = `SELECT pk, product_id FROM (
      SELECT p.pk, e.product_id, row_number() OVER (PARTITION BY p.pk ORDER BY e.ts DESC, e.product_id) AS k
      FROM people p JOIN event_items e ON ${ownEvents(ctx, 'e', `'Order Completed', 'Product Viewed'`, tuning.historyDays)}
      ${ctx.hasTriggers ? 'WHERE NOT EXISTS (SELECT 1 FROM trig t WHERE t.pk = p.pk)' : ''}) z WHERE k = 1`;
  return {
    ctes: [
      ['seen', ctx.hasTriggers ? `SELECT pk, product_id FROM trig UNION ALL ${lastSeen}` : lastSeen],
      ['my_cats', `SELECT DISTINCT s.pk, ${key} AS cat FROM seen s JOIN ${catalog(ctx, 'c', 's.product_id')}`],
      [
        'cat_top',
        `SELECT cat, product_id, units FROM (
           SELECT ${key} AS cat, c.product_id, COALESCE(pop.units, 0) AS units,
             row_number() OVER (PARTITION BY ${key} ORDER BY COALESCE(pop.units, 0) DESC, c.product_id) AS k
           FROM products c LEFT JOIN pop ON pop.product_id = c.product_id
           WHERE c.workspace_id = ${ctx.p.get('ws', ctx.workspaceId)} AND ${key} IN (SELECT cat FROM my_cats)) z
         WHERE k <= ${ctx.k}`,
      ],
    ],
    select: 'SELECT m.pk, t.product_id, t.units AS score FROM my_cats m JOIN cat_top t ON t.cat = m.cat',
  };
}

/**
 * Anchors are the trigger products (the order that started the journey), else the person's latest
 * distinct purchases, the newest weighing most (1, 1/2, 1/3…). A candidate's score is the weighted
 * sum of its similarities to the anchors.
 */
function related(ctx: StrategyContext): StrategySql {
  const { p } = ctx;
  const history = `SELECT pk, product_id, ${p.double('1')} / k AS weight FROM (
      SELECT p.pk, o.product_id, row_number() OVER (PARTITION BY p.pk ORDER BY max(o.ts) DESC, o.product_id) AS k
      FROM people p JOIN event_items o ON ${ownEvents(ctx, 'o', `'Order Completed'`)}
      ${ctx.hasTriggers ? 'WHERE NOT EXISTS (SELECT 1 FROM trig t WHERE t.pk = p.pk)' : ''}
      GROUP BY p.pk, o.product_id) h WHERE k <= ${tuning.anchors}`;
  const anchors = ctx.hasTriggers ? `SELECT pk, product_id, ${p.double('1')} AS weight FROM trig UNION ALL ${history}` : history;
  const sim =
    ctx.similarity === 'model'
      ? `SELECT product_id, related_id, score FROM product_similarity
         WHERE workspace_id = ${p.get('ws', ctx.workspaceId)} AND product_id IN (SELECT product_id FROM anchor_products)`
      : `SELECT product_id, related_id, score FROM (${cooccurrenceSql(p, ctx.workspaceId, ctx.now, 'anchor_products')}) live`;
  return {
    ctes: [
      ['anchors', anchors],
      ['anchor_products', 'SELECT DISTINCT product_id FROM anchors'],
      ['sim', sim],
    ],
    select: `SELECT pk, product_id, score FROM (
        SELECT a.pk, s.related_id AS product_id, sum(a.weight * s.score) AS score,
          row_number() OVER (PARTITION BY a.pk ORDER BY sum(a.weight * s.score) DESC, s.related_id) AS k
        FROM anchors a JOIN sim s ON s.product_id = a.product_id GROUP BY a.pk, s.related_id) z WHERE k <= ${ctx.k}`,
  };
}

/** Products bought by the most people of a group (`members (cat, user_key)` per group), top k per group. */
function groupFavourites(ctx: StrategyContext, members: string): string {
  return `SELECT cat, product_id, buyers FROM (
      SELECT g.cat, o.product_id, ${ctx.p.double('count(DISTINCT o.user_key)')} AS buyers,
        row_number() OVER (PARTITION BY g.cat ORDER BY count(DISTINCT o.user_key) DESC, sum(${units('o')}) DESC, o.product_id) AS k
      FROM (${members}) g JOIN event_items o ON o.user_key = g.user_key AND ${recentOrders(ctx, 'o', tuning.popularDays)}
      GROUP BY g.cat, o.product_id) z WHERE k <= ${ctx.k}`;
}

/**
 * Persona favourites: a person's persona is their favourite top category (purchases count five
 * times a view, so browsers get one too); the list is what the buyers who share it bought most.
 */
function persona(ctx: StrategyContext): StrategySql {
  const key = categoryKey('c', 'top');
  const mine = `SELECT pk, cat FROM (
      SELECT p.pk, ${key} AS cat, row_number() OVER (PARTITION BY p.pk
        ORDER BY sum(CASE WHEN e.event = 'Order Completed' THEN 5 * ${units('e')} ELSE 1 END) DESC, max(e.ts) DESC, ${key}) AS k
      FROM people p JOIN event_items e ON ${ownEvents(ctx, 'e', `'Order Completed', 'Product Viewed'`, tuning.historyDays)}
      JOIN ${catalog(ctx, 'c', 'e.product_id')} GROUP BY p.pk, ${key}) z WHERE k = 1`;
  const buyers = `SELECT user_key, cat FROM (
      SELECT o.user_key, ${key} AS cat, row_number() OVER (PARTITION BY o.user_key ORDER BY sum(${units('o')}) DESC, max(o.ts) DESC, ${key}) AS k
      FROM event_items o JOIN ${catalog(ctx, 'c', 'o.product_id')} WHERE ${recentOrders(ctx, 'o', tuning.historyDays)}
      GROUP BY o.user_key, ${key}) z WHERE k = 1 AND cat IN (SELECT cat FROM my_persona)`;
  return {
    ctes: [
      ['my_persona', mine],
      ['persona_top', groupFavourites(ctx, buyers)],
    ],
    select: 'SELECT m.pk, t.product_id, t.buyers AS score FROM my_persona m JOIN persona_top t ON t.cat = m.cat',
  };
}

/** Segment favourites: what the segment's current members bought most (one list for everyone). */
function segment(ctx: StrategyContext): StrategySql {
  const members = `SELECT 0 AS cat, m.user_key FROM segment_members m
    WHERE m.workspace_id = ${ctx.p.get('ws', ctx.workspaceId)} AND m.segment_id = ${ctx.p.get('segment', ctx.spec.segmentId ?? 0)}`;
  return {
    ctes: [['segment_top', groupFavourites(ctx, members)]],
    select: 'SELECT p.pk, t.product_id, t.buyers AS score FROM people p CROSS JOIN segment_top t',
  };
}

export function strategySql(strategy: Strategy, ctx: StrategyContext): StrategySql {
  switch (strategy) {
    case 'related':
      return related(ctx);
    case 'same_category':
      return sameCategory(ctx);
    case 'popular':
      return popular(ctx);
    case 'trending':
      return trending(ctx);
    case 'recently_viewed':
      return recentlyViewed(ctx);
    case 'persona':
      return persona(ctx);
    case 'segment':
      return segment(ctx);
    default: {
      const never: never = strategy;
      throw new Error(`unknown strategy ${String(never)}`);
    }
  }
}
