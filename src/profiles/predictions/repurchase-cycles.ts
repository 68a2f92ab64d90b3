/**
 * Repurchase cycles: how many days typically pass between one person's consecutive paid purchases
 * of the same product, or of anything in the same category (at every level of the category path:
 * "Beauty", "Beauty > Skincare", "Beauty > Skincare > Serums"). Used to time replenishment
 * reminders ("your serum is probably running out").
 *
 * - A purchase is an `Order Completed` line; like the predictions, it counts per distinct UTC day,
 *   so two lines of one order (or two orders on one day) are one purchase, and intervals are whole
 *   days ≥ 1.
 * - Every interval counts once, so frequent repurchasers weigh more than one-time repeaters.
 * - Statistics: median, 25th and 75th percentile (continuous/interpolated) of the intervals;
 *   `buyers` = people who contributed at least one interval (repeat buyers), `intervals` = how many.
 * - Minimum sample: an item is written only with ≥ `minIntervals` intervals (default 5) from
 *   ≥ `minBuyers` different people (default 3), so one loyal customer cannot define a cycle.
 */
import { DAY } from '../../core/clock.ts';
import { columnTypes } from '../../store/dialect.ts';
import type { Dialect, Store } from '../../store/index.ts';
import { PAID_ORDER_EVENT } from './customer-summary.ts';

export interface RepurchaseCycleOptions {
  minIntervals?: number;
  minBuyers?: number;
}

/** Deepest category level written; deeper paths contribute their first levels only. */
export const MAX_CATEGORY_DEPTH = 6;

/** The one place the dialects differ here: a continuous percentile aggregate. */
export const percentileCont: Record<Dialect, (expr: string, fraction: number) => string> = {
  duckdb: (expr, fraction) => `quantile_cont(${expr}, ${fraction})`,
  postgres: (expr, fraction) => `percentile_cont(${fraction}) WITHIN GROUP (ORDER BY ${expr})`,
};

/** "A>B > C" → level n = "A > B > C" cut to n parts, with the parts trimmed. */
function categoryLevelsSql(): { parts: string; item: string; exists: string } {
  const levels = Array.from({ length: MAX_CATEGORY_DEPTH }, (_, i) => i + 1);
  const parts = levels.map((n) => `trim(split_part(category, '>', ${n})) AS p${n}`).join(', ');
  const prefix = (n: number) =>
    levels
      .slice(0, n)
      .map((i) => `p${i}`)
      .join(` || ' > ' || `);
  const item = `CASE lv.n ${levels.map((n) => `WHEN ${n} THEN ${prefix(n)}`).join(' ')} END`;
  const exists = `CASE lv.n ${levels.map((n) => `WHEN ${n} THEN p${n}`).join(' ')} END <> ''`;
  return { parts, item, exists };
}

export function repurchaseCyclesSql(dialect: Dialect): string {
  const { parts, item, exists } = categoryLevelsSql();
  const pct = (f: number) => percentileCont[dialect]('gap', f);
  const levelValues = Array.from({ length: MAX_CATEGORY_DEPTH }, (_, i) => `(${i + 1})`).join(', ');
  return `INSERT INTO repurchase_cycles (workspace_id, level, item, median_days, p25_days, p75_days, buyers, intervals, computed_at)
    WITH lines AS (
      SELECT DISTINCT user_key, product_id, category, CAST(floor(ts / ${DAY}.0) AS BIGINT) AS day
      FROM event_items
      WHERE workspace_id = $1 AND event = '${PAID_ORDER_EVENT}' AND ts <= $2
    ),
    -- Paths are split once per distinct category, not once per order line.
    parts AS (SELECT category, ${parts} FROM (SELECT DISTINCT category FROM lines WHERE category IS NOT NULL) c),
    levels AS (
      SELECT category, ${item} AS item
      FROM parts CROSS JOIN (VALUES ${levelValues}) AS lv(n)
      WHERE ${exists}
    ),
    purchases AS (
      SELECT DISTINCT 'product' AS level, product_id AS item, user_key, day FROM lines
      UNION ALL
      SELECT DISTINCT 'category' AS level, v.item, l.user_key, l.day FROM lines l JOIN levels v ON v.category = l.category
    ),
    gaps AS (
      SELECT level, item, user_key,
        CAST(day - lag(day) OVER (PARTITION BY level, item, user_key ORDER BY day) AS ${columnTypes[dialect].double}) AS gap
      FROM purchases
    )
    SELECT $1, level, item, ${pct(0.5)}, ${pct(0.25)}, ${pct(0.75)}, count(DISTINCT user_key), count(*), $2
    FROM gaps
    WHERE gap IS NOT NULL
    GROUP BY level, item
    HAVING count(*) >= $3 AND count(DISTINCT user_key) >= $4`;
}

/** Replaces the workspace's repurchase cycles; returns how many items got one. */
export async function refreshRepurchaseCycles(
  store: Store,
  workspaceId: number,
  now: number,
  options: RepurchaseCycleOptions = {},
): Promise<{ items: number }> {
  const { minIntervals = 5, minBuyers = 3 } = options;
  return store.transaction(async (tx) => {
    await tx.query('DELETE FROM repurchase_cycles WHERE workspace_id = $1', [workspaceId]);
    await tx.query(repurchaseCyclesSql(store.dialect), [workspaceId, now, minIntervals, minBuyers]);
    const [row] = await tx.query<{ n: number }>('SELECT count(*) AS n FROM repurchase_cycles WHERE workspace_id = $1', [workspaceId]);
    return { items: Number(row?.n ?? 0) };
  });
}
