import type { PeopleInput } from './people.ts';
import type { RecommendationSpec } from './schema.ts';
import { recentOrders, type StrategyContext, strategySql } from './strategies.ts';
import { type Params, tuning } from './tuning.ts';

export interface RecommendationQuery {
  p: Params;
  workspaceId: number;
  /** Global figures (popularity, similarities…) are as of this instant. */
  now: number;
  spec: RecommendationSpec;
  /** related: read the precomputed model (when fresh) or compute similarities live. */
  similarity: 'model' | 'live';
}

/**
 * One statement for everyone in `people`: `(pk, product_id, rn, score, source)`, at most
 * `spec.count` rows per pk, rn = 1 first. Set-at-a-time whatever the number of people:
 *
 * 1. candidates of the strategy (tier 1) and, with `fallback`, the shop's best sellers (tier 2):
 *    a person with a thin history still gets a full list, strategy first;
 * 2. the rules: never what triggered the list, never out of stock (`products.stock <= 0`; unknown
 *    stock is not out), with `excludePurchased` never what the person bought before;
 * 3. with `perCategory`, at most that many of one leaf category (by tier, then score);
 * 4. ranked by tier, score, product id (so ties break the same way on both engines).
 */
export function recommendationSql(q: RecommendationQuery, input: PeopleInput): string {
  const { p, spec } = q;
  const ws = p.get('ws', q.workspaceId);
  const k = spec.count + tuning.slack + (spec.perCategory === undefined ? 0 : spec.count * 3);
  const ctx: StrategyContext = {
    p,
    workspaceId: q.workspaceId,
    now: q.now,
    spec,
    hasTriggers: input.triggers !== null,
    similarity: q.similarity,
    k,
  };
  const strategy = strategySql(spec.strategy, ctx);
  // popular without a category is its own fill-up.
  const fill = spec.fallback && !(spec.strategy === 'popular' && spec.category === undefined);
  const ctes: [string, string][] = [
    ['people', input.people],
    ...(input.triggers === null ? [] : ([['trig', input.triggers]] as [string, string][])),
    [
      'pop',
      `SELECT x.product_id, ${p.double('sum(COALESCE(x.quantity, 1))')} AS units FROM event_items x
       WHERE ${recentOrders(ctx, 'x', tuning.popularDays)} GROUP BY x.product_id`,
    ],
    ...strategy.ctes,
    ['cand', strategy.select],
  ];
  if (fill) {
    ctes.push([
      'fill',
      `SELECT p.pk, t.product_id, t.units AS score FROM people p
       CROSS JOIN (SELECT product_id, units FROM pop ORDER BY units DESC, product_id LIMIT ${k}) t`,
    ]);
  }
  ctes.push([
    'pool',
    `SELECT pk, product_id, 1 AS tier, score FROM cand${fill ? ' UNION ALL SELECT pk, product_id, 2 AS tier, score FROM fill' : ''}`,
  ]);
  // The exclusions are anti-joins written as LEFT JOIN … IS NULL: DuckDB turns a correlated NOT
  // EXISTS into delim joins (a dozen small pipelines), PostgreSQL plans both as anti-joins.
  const excluded = [...(input.triggers === null ? [] : ['trig']), ...(spec.excludePurchased ? ['bought'] : [])];
  const antiJoins = excluded.map((t) => `LEFT JOIN ${t} ON ${t}.pk = f.pk AND ${t}.product_id = f.product_id`).join(' ');
  const rules = ['(c.stock IS NULL OR c.stock > 0)', ...excluded.map((t) => `${t}.pk IS NULL`)];
  if (spec.excludePurchased) {
    ctes.push([
      'bought',
      `SELECT DISTINCT pp.pk, b.product_id FROM people pp JOIN event_items b ON b.workspace_id = ${ws} AND b.user_key = pp.user_key
       AND b.event = 'Order Completed' AND b.ts <= pp.as_of`,
    ]);
  }
  // Every strategy gives a product once per list; only the fill-up can give it again (tier 2).
  const unique = fill
    ? '(SELECT * FROM (SELECT x.*, row_number() OVER (PARTITION BY x.pk, x.product_id ORDER BY x.tier, x.score DESC) AS d FROM pool x) d WHERE d = 1)'
    : 'pool';
  ctes.push([
    'kept',
    `SELECT f.pk, f.product_id, f.tier, f.score, COALESCE(c.category_path, f.product_id) AS cat FROM ${unique} f
     LEFT JOIN products c ON c.workspace_id = ${ws} AND c.product_id = f.product_id ${antiJoins}
     WHERE ${rules.join(' AND ')}`,
  ]);
  const capped =
    spec.perCategory === undefined
      ? 'kept'
      : `(SELECT * FROM (SELECT kk.*, row_number() OVER (PARTITION BY kk.pk, kk.cat ORDER BY kk.tier, kk.score DESC, kk.product_id) AS in_cat
           FROM kept kk) z WHERE in_cat <= ${p.get('per-category', spec.perCategory)})`;
  ctes.push([
    'ranked',
    `SELECT r.pk, r.product_id, r.tier, r.score, row_number() OVER (PARTITION BY r.pk ORDER BY r.tier, r.score DESC, r.product_id) AS rn
     FROM ${capped} r`,
  ]);
  return `WITH ${ctes.map(([name, sql]) => `${name} AS (${sql})`).join(',\n')}
    SELECT pk, product_id, rn, score, CASE WHEN tier = 1 THEN CAST(${p.get('source', spec.strategy)} AS TEXT) ELSE 'fallback' END AS source
    FROM ranked WHERE rn <= ${p.get('count', spec.count)}`;
}
