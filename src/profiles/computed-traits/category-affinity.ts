import { AFFINITY_HALF_LIFE_MS, AFFINITY_TOP_N, affinityWeights, sqlList } from './definitions.ts';
import type { TraitSources } from './sources.ts';
import type { TraitDialect } from './sql-dialect.ts';

/**
 * CTEs for category affinity over the category tree, ending in `aff_top`, `aff_mid`, `aff_leaf`
 * and `aff_json` (one row per person with any categorised product interaction).
 *
 * Score of a category path = Σ weight(behaviour) × 2^(−age / half-life) over the person's
 * product lines (`event_items`). Paths are normalised to "Top > Mid > Leaf" (spaces around `>`),
 * so "A>B" and "A > B" are one category.
 *
 * The favourites descend the tree, so the three tags always agree with each other: the top
 * category with the highest summed score, then the best middle category inside it, then the best
 * leaf inside that (or inside the top category when its paths have no middle level). Ties go to
 * the alphabetically first name.
 */
export function affinityCtes(d: TraitDialect, src: TraitSources): string {
  const weight = `CASE event ${Object.entries(affinityWeights)
    .map(([event, w]) => `WHEN '${event}' THEN ${w}`)
    .join(' ')} ELSE 0 END`;
  // age in ms, clamped so an event stamped in the future counts as "now", not as more than 1.
  const decay = `exp(CAST(${(-Math.LN2 / AFFINITY_HALF_LIFE_MS).toExponential(17)} AS ${d.double}) * greatest(CAST($2 AS BIGINT) - ts, 0))`;
  return `
  aff_items AS (
    SELECT user_key, category, sum(${weight} * ${decay}) AS score
    FROM ${src.items} it
    WHERE category IS NOT NULL AND event IN ${sqlList(Object.keys(affinityWeights))}
    GROUP BY user_key, category),
  aff_norm AS (
    SELECT user_key, score, trim(regexp_replace(category, '\\s*>\\s*', ' > ', 'g')) AS path FROM aff_items),
  aff_paths AS (
    SELECT user_key, path, trim(split_part(path, '>', 1)) AS top,
      CASE WHEN length(path) - length(replace(path, '>', '')) >= 2
        THEN trim(split_part(path, '>', 1)) || ' > ' || trim(split_part(path, '>', 2)) END AS mid,
      sum(score) AS score
    FROM aff_norm WHERE path <> '' GROUP BY user_key, path),
  aff_top AS (
    SELECT user_key, top FROM (
      SELECT user_key, top, row_number() OVER (PARTITION BY user_key ORDER BY sum(score) DESC, top) AS rn
      FROM aff_paths GROUP BY user_key, top) t
    WHERE rn = 1),
  aff_mid AS (
    SELECT user_key, mid FROM (
      SELECT a.user_key, a.mid, row_number() OVER (PARTITION BY a.user_key ORDER BY sum(a.score) DESC, a.mid) AS rn
      FROM aff_paths a JOIN aff_top t ON t.user_key = a.user_key AND t.top = a.top
      WHERE a.mid IS NOT NULL GROUP BY a.user_key, a.mid) t
    WHERE rn = 1),
  aff_leaf AS (
    SELECT user_key, path FROM (
      SELECT a.user_key, a.path, row_number() OVER (PARTITION BY a.user_key ORDER BY a.score DESC, a.path) AS rn
      FROM aff_paths a
      JOIN aff_top t ON t.user_key = a.user_key AND t.top = a.top
      LEFT JOIN aff_mid m ON m.user_key = a.user_key
      WHERE m.mid IS NULL OR a.mid = m.mid) t
    WHERE rn = 1),
  aff_ranked AS (
    SELECT user_key, path, score,
      row_number() OVER (PARTITION BY user_key ORDER BY score DESC, path) AS rn,
      sum(score) OVER (PARTITION BY user_key) AS total
    FROM aff_paths),
  aff_json AS (
    SELECT user_key,
      ${d.jsonObjectArray({ category: 'path', score: d.round('CASE WHEN total > 0 THEN score / total ELSE 0 END', 4) }, 'rn')} AS affinity
    FROM aff_ranked WHERE rn <= ${AFFINITY_TOP_N} GROUP BY user_key)`;
}

/** Output columns from `aff_top a_top`, `aff_mid a_mid`, `aff_leaf a_leaf`, `aff_json a_json` (`at` is reserved in DuckDB). */
export const affinityColumns: Record<string, string> = {
  favourite_top_category: 'a_top.top',
  favourite_mid_category: 'a_mid.mid',
  favourite_category: 'a_leaf.path',
  category_affinity: 'a_json.affinity',
};
