import { DAY } from '../../core/clock.ts';
import type { Store } from '../../store/index.ts';
import { addToBalances, ledgerTransaction, lockMembers } from './ledger-tx.ts';
import { recordLedgerEvents } from './member-events.ts';
import type { MembershipSettings } from './schema.ts';

export interface EarnResult {
  orders: number;
  people: number;
  points: number;
  userKeys: number[];
}

/** A validated finite number as an SQL literal (settings are validated by their schema). */
const lit = (n: number) => {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  return String(n);
};

/** The member's tier multiplier as one CASE over `m.tier` (tier names are validated slugs). */
export function tierMultiplierSql(settings: MembershipSettings, tierColumn = 'm.tier'): string {
  const whens = settings.tiers.filter((t) => t.multiplier !== 1).map((t) => `WHEN '${t.name}' THEN ${lit(t.multiplier)}`);
  return whens.length === 0 ? '1' : `CASE ${tierColumn} ${whens.join(' ')} ELSE 1 END`;
}

/**
 * Orders earn points, set-at-a-time: every `Order Completed` received after `since` (plus the
 * earlier orders of people who became members after `since`, so a join that arrives after the
 * order still counts) by someone who was a member when they ordered earns
 * `floor(total × pointsPerUnit × tier multiplier × best campaign multiplier)`.
 *
 * An order earns once: its ledger key is `order:<order_id>`, so a replayed event (same or new
 * messageId), an overlapping read or a second process finds it taken. One INSERT … SELECT writes
 * every entry (balance_after by a running sum per person) and one UPDATE moves the balances.
 */
export async function earnFromOrders(
  store: Store,
  workspaceId: number,
  settings: MembershipSettings,
  since: number | null,
  now: number,
): Promise<EarnResult> {
  const after = since ?? -1;
  const currency = settings.currency ? `AND (e.currency IS NULL OR e.currency = '${settings.currency}')` : '';
  const orderFilter = `e.workspace_id = $1 AND e.event = 'Order Completed' AND e.order_id IS NOT NULL AND e.total IS NOT NULL
    AND e.total >= ${lit(settings.minOrderTotal)} ${currency}`;
  // Candidates: new order events, and orders of new members (UNION ALL; duplicates fall to rn = 1).
  const candidates = `
    SELECT e.user_key, e.order_id, e.total, e.ts, e.message_id FROM events e
    WHERE ${orderFilter} AND e.received_at > $2
    UNION ALL
    SELECT e.user_key, e.order_id, e.total, e.ts, e.message_id FROM events e
    JOIN members nm ON nm.workspace_id = e.workspace_id AND nm.user_key = e.user_key AND nm.created_at > $2
    WHERE ${orderFilter}`;
  const expiresAt = settings.expiryDays ? String(Math.trunc(now + settings.expiryDays * DAY)) : 'CAST(NULL AS BIGINT)';
  const text = store.dialect === 'postgres' ? 'TEXT' : 'VARCHAR';

  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    const keys = await tx.query<{ user_key: number }>(
      `SELECT DISTINCT c.user_key FROM (${candidates}) c
       JOIN members m ON m.workspace_id = $1 AND m.user_key = c.user_key AND m.status = 'active'`,
      [workspaceId, after],
    );
    if (keys.length === 0) return { orders: 0, people: 0, points: 0, userKeys: [] };
    const locked = keys.map((k) => Number(k.user_key));
    await lockMembers(store, tx, workspaceId, locked);
    const rows = await tx.query<{ entry_id: number; user_key: number; points: number }>(
      `INSERT INTO points_ledger (workspace_id, entry_id, user_key, kind, points, balance_after, idempotency_key, order_id,
         order_total, multiplier, campaign_id, expires_at, reason, occurred_at, created_at)
       SELECT $1, nextval('points_entry_seq'), o.user_key, 'earn', o.points,
         o.balance + SUM(o.points) OVER (PARTITION BY o.user_key ORDER BY o.ts, o.order_id ROWS UNBOUNDED PRECEDING),
         'order:' || o.order_id, o.order_id, o.total, o.multiplier, o.campaign_id, ${expiresAt}, 'order', o.ts, ${Math.trunc(now)}
       FROM (
         SELECT r.*, r.tier_mult * COALESCE(r.campaign_mult, 1) AS multiplier,
           CAST(FLOOR(r.total * ${lit(settings.pointsPerUnit)} * r.tier_mult * COALESCE(r.campaign_mult, 1) + 0.000001) AS BIGINT) AS points
         FROM (
           SELECT c.user_key, c.order_id, c.total, c.ts, m.points_balance AS balance,
             ${tierMultiplierSql(settings)} AS tier_mult, pc.campaign_id, pc.multiplier AS campaign_mult,
             ROW_NUMBER() OVER (PARTITION BY c.order_id
               ORDER BY c.ts, c.message_id, pc.multiplier DESC NULLS LAST, pc.campaign_id) AS rn
           FROM (${candidates}) c
           JOIN members m ON m.workspace_id = $1 AND m.user_key = c.user_key AND m.status = 'active' AND m.joined_at <= c.ts
           LEFT JOIN points_campaigns pc ON pc.workspace_id = $1 AND pc.status = 'active'
             AND c.ts >= pc.starts_at AND c.ts < pc.ends_at
             AND (pc.tiers IS NULL OR position(',' || COALESCE(m.tier, '') || ',' IN pc.tiers) > 0)
           WHERE c.user_key IN (SELECT unnest($3::BIGINT[]))
             AND NOT EXISTS (SELECT 1 FROM points_ledger l WHERE l.workspace_id = $1 AND l.idempotency_key = 'order:' || CAST(c.order_id AS ${text}))
         ) r WHERE r.rn = 1
       ) o WHERE o.points > 0
       ON CONFLICT DO NOTHING
       RETURNING entry_id, user_key, points`,
      // Only the people locked above: an order event of someone else committed meanwhile waits for the next tick.
      [workspaceId, after, locked],
    );
    await addToBalances(tx, workspaceId, rows, now);
    await recordLedgerEvents(
      tx,
      { dialect: store.dialect, workspaceId, now },
      rows.map((r) => Number(r.entry_id)),
    );
    const userKeys = [...new Set(rows.map((r) => Number(r.user_key)))];
    return { orders: rows.length, people: userKeys.length, points: rows.reduce((s, r) => s + Number(r.points), 0), userKeys };
  });
}
