import { DAY } from '../../core/clock.ts';
import type { SqlParam, Store } from '../../store/index.ts';
import { ledgerTransaction } from './ledger-tx.ts';
import { recordTierEvents } from './member-events.ts';
import type { MembershipSettings } from './schema.ts';

export interface TierResult {
  /** Members whose tier changed. */
  changed: number;
  userKeys: number[];
}

/**
 * One aggregate per distinct (metric, period) the rules use, each a GROUP BY over the period:
 * - spend: Order Completed totals (each order once, however often its event was sent) minus
 *   Order Refunded totals, with the order time in the period;
 * - points: points earned from orders (`earn` entries) whose order time is in the period, minus
 *   what refunds of orders took back (`refund` entries) in the period.
 */
function metricSql(metric: 'spend' | 'points', periodDays: number, now: number, who: string): string {
  const from = Math.trunc(now - periodDays * DAY);
  const to = Math.trunc(now);
  if (metric === 'points') {
    return `SELECT user_key, SUM(points) AS v FROM points_ledger
      WHERE workspace_id = $1 AND kind IN ('earn', 'refund') AND occurred_at > ${from} AND occurred_at <= ${to} AND ${who} GROUP BY user_key`;
  }
  return `SELECT user_key, SUM(amount) AS v FROM (
      SELECT user_key, MAX(total) AS amount FROM events
      WHERE workspace_id = $1 AND event = 'Order Completed' AND order_id IS NOT NULL AND total IS NOT NULL
        AND ts > ${from} AND ts <= ${to} AND ${who} GROUP BY user_key, order_id
      UNION ALL
      SELECT user_key, -total FROM events
      WHERE workspace_id = $1 AND event = 'Order Refunded' AND total IS NOT NULL AND ts > ${from} AND ts <= ${to} AND ${who}
    ) x GROUP BY user_key`;
}

/**
 * Puts members in the highest tier whose rule they meet now (or the tier they were given at
 * joining, if higher), set-at-a-time: one INSERT … SELECT records every change in
 * `member_tier_changes` (which is also what journeys and reports read), one UPDATE applies them.
 * `userKeys` null evaluates everyone (periods slide with time, so tiers fall as well as rise).
 */
export async function evaluateTiers(
  store: Store,
  workspaceId: number,
  settings: MembershipSettings,
  now: number,
  userKeys: readonly number[] | null,
): Promise<TierResult> {
  if (settings.tiers.length === 0 || (userKeys !== null && userKeys.length === 0)) return { changed: 0, userKeys: [] };
  const params: SqlParam[] = [workspaceId];
  let who = 'TRUE';
  if (userKeys !== null) {
    params.push([...new Set(userKeys)]);
    who = 'user_key IN (SELECT unnest($2::BIGINT[]))';
  }
  const metrics = new Map<string, string>();
  const joins: string[] = [];
  const conditions = settings.tiers.map((t) => {
    if (!t.rule) return 'TRUE';
    const id = `${t.rule.metric}_${t.rule.periodDays}`;
    if (!metrics.has(id)) {
      const alias = `s${metrics.size}`;
      metrics.set(id, alias);
      joins.push(`LEFT JOIN (${metricSql(t.rule.metric, t.rule.periodDays, now, who)}) ${alias} ON ${alias}.user_key = m.user_key`);
    }
    return `COALESCE(${metrics.get(id)}.v, 0) >= ${String(t.rule.min)}`;
  });
  // Highest tier first; tier names are validated slugs, so they are inlined.
  const whens = settings.tiers
    .map((t, i) => `WHEN (${conditions[i]}) OR m.assigned_tier = '${t.name}' THEN '${t.name}'`)
    .reverse()
    .join('\n        ');
  const memberWho = userKeys === null ? '' : `AND m.${who}`;

  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    const changes = await tx.query<{ user_key: number; from_tier: string | null; to_tier: string | null }>(
      `INSERT INTO member_tier_changes (workspace_id, user_key, from_tier, to_tier, changed_at)
       SELECT $1, t.user_key, t.old_tier, t.new_tier, ${Math.trunc(now)} FROM (
         SELECT m.user_key, m.tier AS old_tier, CASE
           ${whens}
           ELSE NULL END AS new_tier
         FROM members m
         ${joins.join('\n         ')}
         WHERE m.workspace_id = $1 AND m.status = 'active' ${memberWho}
       ) t WHERE t.old_tier IS DISTINCT FROM t.new_tier
       RETURNING user_key, from_tier, to_tier`,
      params,
    );
    if (changes.length === 0) return { changed: 0, userKeys: [] };
    await tx.query(
      `UPDATE members SET tier = NULLIF(s.tier, ''), tier_since = $4, updated_at = $4
       FROM (SELECT unnest($2::BIGINT[]) AS user_key, unnest($3::TEXT[]) AS tier) s
       WHERE members.workspace_id = $1 AND members.user_key = s.user_key`,
      [workspaceId, changes.map((c) => Number(c.user_key)), changes.map((c) => c.to_tier ?? ''), now],
    );
    const changed = changes.map((c) => ({ userKey: Number(c.user_key), from: c.from_tier, to: c.to_tier }));
    await recordTierEvents(tx, { dialect: store.dialect, workspaceId, now }, changed);
    return { changed: changes.length, userKeys: changes.map((c) => Number(c.user_key)) };
  });
}
