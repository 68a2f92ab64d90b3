import type { SqlExecutor, SqlParam } from '../../store/index.ts';
import { type LifecycleRules, lifecycleSql } from './lifecycle-rules.ts';

/** Quintile boundaries of one RFM metric: the values at the 20/40/60/80 % ranks of the buyers. */
export type Boundaries = [number, number, number, number];

export interface RfmBoundaries {
  buyers: number;
  recency: Boundaries;
  frequency: Boundaries;
  monetary: Boundaries;
}

const metrics = { recency: 'last_order_at', frequency: 'order_count', monetary: 'total_spend' } as const;

/**
 * Boundaries over every buyer (order_count > 0) of the workspace. Boundary k is the value at rank
 * ceil(k·n/5) in ascending order (PostgreSQL's percentile_disc); it is computed with row_number
 * rather than each engine's percentile function because DuckDB's quantile_disc picks a different
 * rank, and both engines must give the same scores.
 */
export async function rfmBoundaries(db: SqlExecutor, workspaceId: number): Promise<RfmBoundaries | null> {
  const [row] = await db.query<{ n: number }>('SELECT count(*) AS n FROM computed_traits WHERE workspace_id = $1 AND order_count > 0', [
    workspaceId,
  ]);
  const buyers = Number(row?.n ?? 0);
  if (buyers === 0) return null;
  const ranks = [1, 2, 3, 4].map((k) => Math.ceil((k * buyers) / 5));
  const parts = Object.entries(metrics).map(
    ([name, column]) => `SELECT '${name}' AS metric, rn, v FROM (
      SELECT ${column} AS v, row_number() OVER (ORDER BY ${column}) AS rn
      FROM computed_traits WHERE workspace_id = $1 AND order_count > 0) t
    WHERE rn IN (${ranks.join(', ')})`,
  );
  const rows = await db.query<{ metric: keyof typeof metrics; rn: number; v: number }>(parts.join(' UNION ALL '), [workspaceId]);
  const pick = (metric: keyof typeof metrics): Boundaries => {
    const byRank = new Map(rows.filter((r) => r.metric === metric).map((r) => [Number(r.rn), Number(r.v)]));
    return ranks.map((rank) => byRank.get(rank) ?? 0) as Boundaries;
  };
  return { buyers, recency: pick('recency'), frequency: pick('frequency'), monetary: pick('monetary') };
}

/** 1 + the number of boundaries the value is above: ties at a boundary go to the lower score. */
function scoreSql(column: string, firstParam: number): string {
  const above = [0, 1, 2, 3].map((i) => `CASE WHEN ${column} > $${firstParam + i} THEN 1 ELSE 0 END`).join(' + ');
  return `CASE WHEN order_count > 0 THEN 1 + ${above} END`;
}

/**
 * Re-scores RFM and re-evaluates the lifecycle stage of every person of the workspace, writing
 * only the rows that change. Both depend on the whole population (boundaries) or on time
 * (lifecycle), so this runs after every refresh, full or incremental: that is what makes an
 * incremental refresh end in exactly the state a full refresh would.
 */
export async function rescoreWorkspace(db: SqlExecutor, workspaceId: number, rules: LifecycleRules, now: number): Promise<void> {
  const b = await rfmBoundaries(db, workspaceId);
  // Without buyers every score is NULL; boundaries of 0 keep the statement the same shape.
  const params: SqlParam[] = [workspaceId, ...(b ? [...b.recency, ...b.frequency, ...b.monetary] : Array<number>(12).fill(0))];
  const r = scoreSql('last_order_at', 2);
  const f = scoreSql('order_count', 6);
  const m = scoreSql('total_spend', 10);
  const stage = lifecycleSql(rules, now);
  const score = `CAST(${r} AS TEXT) || CAST(${f} AS TEXT) || CAST(${m} AS TEXT)`;
  await db.query(
    `UPDATE computed_traits SET rfm_recency = ${r}, rfm_frequency = ${f}, rfm_monetary = ${m}, rfm_score = ${score}, lifecycle = ${stage}
     WHERE workspace_id = $1 AND (rfm_recency IS DISTINCT FROM ${r} OR rfm_frequency IS DISTINCT FROM ${f}
       OR rfm_monetary IS DISTINCT FROM ${m} OR lifecycle <> ${stage})`,
    params,
  );
}
