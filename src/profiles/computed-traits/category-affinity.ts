import type { SqlExecutor, SqlParam } from '../../store/index.ts';
import { columnTypes } from '../../store/index.ts';
import { AFFINITY_HALF_LIFE_MS, AFFINITY_TOP_N, affinityWeights, sqlList } from './definitions.ts';
import type { TraitSources } from './sources.ts';
import type { TraitDialect } from './sql-dialect.ts';

/**
 * Category affinity over the category tree: stageAffinity scores each person's category paths
 * into `ct_aff_paths`; affinityCtes ranks them into `aff_top`, `aff_mid`, `aff_leaf` and
 * `aff_json` (one row per person with any categorised product interaction).
 *
 * Score of a category path = Σ weight(behaviour) × 2^(−age / half-life) over the person's
 * product lines (`event_items`). Paths are normalised to "Top > Mid > Leaf" (spaces around `>`),
 * so "A>B" and "A > B" are one category.
 *
 * The favourites descend the tree, so the three tags always agree with each other: the top
 * category with the highest summed score, then the best middle category inside it, then the best
 * leaf inside that (or inside the top category when its paths have no middle level). Ties go to
 * the alphabetically first name.
 *
 * Speed: a shop has a few hundred category strings but tens of millions of product lines, so
 * each distinct string is normalised and split once (`ct_aff_cat`), and paths, tops and mids are
 * numbered in alphabetical order. The per-person work then groups and ranks integers, and "ties
 * go to the alphabetically first" is "ties go to the smallest number".
 */
export async function stageAffinity(db: SqlExecutor, d: TraitDialect, src: TraitSources, workspaceId: number, now: number): Promise<void> {
  const params: SqlParam[] = src.items.includes('$1') ? [workspaceId] : [];
  const t = columnTypes[d.dialect];
  const events = sqlList(Object.keys(affinityWeights));
  const weight = `CASE it.event ${Object.entries(affinityWeights)
    .map(([event, w]) => `WHEN '${event}' THEN ${w}`)
    .join(' ')} ELSE 0 END`;
  // age in ms, clamped so an event stamped in the future counts as "now", not as more than 1.
  const decay = `exp(CAST(${(-Math.LN2 / AFFINITY_HALF_LIFE_MS).toExponential(17)} AS ${d.double}) * greatest(CAST(${Math.trunc(now)} AS BIGINT) - it.ts, 0))`;
  await db.query(`CREATE TEMP TABLE ct_aff_cat (category ${t.text} NOT NULL, path ${t.text} NOT NULL, top ${t.text} NOT NULL,
    mid ${t.text}, path_id ${t.bigint} NOT NULL, top_id ${t.bigint} NOT NULL, mid_id ${t.bigint})`);
  await db.query(
    `INSERT INTO ct_aff_cat
     WITH raw AS (
       SELECT category, trim(regexp_replace(category, '\\s*>\\s*', ' > ', 'g')) AS path
       FROM (SELECT DISTINCT category FROM ${src.items} it WHERE category IS NOT NULL AND event IN ${events}) c),
     split AS (
       SELECT category, path, trim(split_part(path, '>', 1)) AS top,
         CASE WHEN length(path) - length(replace(path, '>', '')) >= 2
           THEN trim(split_part(path, '>', 1)) || ' > ' || trim(split_part(path, '>', 2)) END AS mid
       FROM raw WHERE path <> ''),
     path_ids AS (SELECT path, row_number() OVER (ORDER BY path) AS path_id FROM (SELECT DISTINCT path FROM split) x),
     top_ids AS (SELECT top, row_number() OVER (ORDER BY top) AS top_id FROM (SELECT DISTINCT top FROM split) x),
     mid_ids AS (SELECT mid, row_number() OVER (ORDER BY mid) AS mid_id FROM (SELECT DISTINCT mid FROM split WHERE mid IS NOT NULL) x)
     SELECT s.category, s.path, s.top, s.mid, p.path_id, tp.top_id, m.mid_id FROM split s
     JOIN path_ids p ON p.path = s.path JOIN top_ids tp ON tp.top = s.top LEFT JOIN mid_ids m ON m.mid = s.mid`,
    params,
  );
  // Read four times by the rankings: computed once (a CTE may be recomputed per reference).
  await db.query(`CREATE TEMP TABLE ct_aff_paths (user_key ${t.bigint} NOT NULL, path_id ${t.bigint} NOT NULL,
    top_id ${t.bigint} NOT NULL, mid_id ${t.bigint}, score ${t.double} NOT NULL)`);
  await db.query(
    `INSERT INTO ct_aff_paths
     SELECT it.user_key, c.path_id, c.top_id, c.mid_id, sum(${weight} * ${decay})
     FROM ${src.items} it JOIN ct_aff_cat c ON c.category = it.category
     WHERE it.event IN ${events}
     GROUP BY it.user_key, c.path_id, c.top_id, c.mid_id`,
    params,
  );
}

/** The ranking CTEs over `ct_aff_paths` (see stageAffinity), ending in aff_top/aff_mid/aff_leaf/aff_json. */
export function affinityCtes(d: TraitDialect): string {
  const best = (rel: string, id: string, score: string) =>
    d.topPerUser(
      rel,
      [id],
      [
        { expr: score, desc: true },
        { expr: id, desc: false },
      ],
      1,
    );
  return `
  aff_tops AS (SELECT user_key, top_id, sum(score) AS score FROM ct_aff_paths GROUP BY user_key, top_id),
  aff_top_pick AS (${best('aff_tops', 'top_id', 'score')}),
  aff_mids AS (
    SELECT a.user_key, a.mid_id, sum(a.score) AS score
    FROM ct_aff_paths a JOIN aff_top_pick t ON t.user_key = a.user_key AND t.top_id = a.top_id
    WHERE a.mid_id IS NOT NULL GROUP BY a.user_key, a.mid_id),
  aff_mid_pick AS (${best('aff_mids', 'mid_id', 'score')}),
  aff_leaves AS (
    SELECT a.user_key, a.path_id, a.score
    FROM ct_aff_paths a
    JOIN aff_top_pick t ON t.user_key = a.user_key AND t.top_id = a.top_id
    LEFT JOIN aff_mid_pick m ON m.user_key = a.user_key
    WHERE m.mid_id IS NULL OR a.mid_id = m.mid_id),
  aff_leaf_pick AS (${best('aff_leaves', 'path_id', 'score')}),
  aff_path_ids AS (SELECT DISTINCT path_id, path FROM ct_aff_cat),
  aff_top AS (SELECT x.user_key, n.top FROM aff_top_pick x JOIN (SELECT DISTINCT top_id, top FROM ct_aff_cat) n ON n.top_id = x.top_id),
  aff_mid AS (SELECT x.user_key, n.mid FROM aff_mid_pick x JOIN (SELECT DISTINCT mid_id, mid FROM ct_aff_cat) n ON n.mid_id = x.mid_id),
  aff_leaf AS (SELECT x.user_key, n.path FROM aff_leaf_pick x JOIN aff_path_ids n ON n.path_id = x.path_id),
  aff_best AS (${d.topPerUser(
    'ct_aff_paths',
    ['path_id', 'score'],
    [
      { expr: 'score', desc: true },
      { expr: 'path_id', desc: false },
    ],
    AFFINITY_TOP_N,
    { total: 'sum(score)' },
  )}),
  aff_json AS (
    SELECT b.user_key,
      ${d.jsonObjectArray({ category: 'n.path', score: d.round('CASE WHEN b.total > 0 THEN b.score / b.total ELSE 0 END', 4) }, 'b.score DESC, b.path_id')} AS affinity
    FROM aff_best b JOIN aff_path_ids n ON n.path_id = b.path_id GROUP BY b.user_key)`;
}

/** Output columns from `aff_top a_top`, `aff_mid a_mid`, `aff_leaf a_leaf`, `aff_json a_json` (`at` is reserved in DuckDB). */
export const affinityColumns: Record<string, string> = {
  favourite_top_category: 'a_top.top',
  favourite_mid_category: 'a_mid.mid',
  favourite_category: 'a_leaf.path',
  category_affinity: 'a_json.affinity',
};
