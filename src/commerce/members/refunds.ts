import type { Store } from '../../store/index.ts';
import { expireDue } from './expiry.ts';
import { addToBalances, ledgerTransaction, lockMembers } from './ledger-tx.ts';
import { recordLedgerEvents } from './member-events.ts';

export interface RefundResult {
  refunds: number;
  points: number;
  userKeys: number[];
}

type Candidate = {
  message_id: string;
  user_key: number;
  order_id: string;
  refunded: number | null;
  ts: number;
  earned: number;
  order_total: number | null;
  taken: number;
};

/**
 * Refunds take back the points their order earned: every `Order Refunded` received after `since`
 * whose order earned points gets a `refund` entry of
 * `floor(earned × refunded amount / order total)` (all of it when the event has no `total`),
 * never more than the order earned minus what earlier refunds of it took, and never more than
 * the balance (points already spent stay spent; the ledger entry's reason says how much could not
 * be taken back). Each refund event moves points once: its key is `refund:<messageId>`.
 *
 * Refunds are rare next to orders, so each is its own small step inside one transaction; the
 * job's periodic re-read (`reconcileWindowMs`) catches a refund that arrived before its order
 * had earned.
 */
export async function clawBackRefunds(store: Store, workspaceId: number, since: number | null, now: number): Promise<RefundResult> {
  const text = store.dialect === 'postgres' ? 'TEXT' : 'VARCHAR';
  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    const candidates = await tx.query<Candidate>(
      `SELECT r.message_id, e.user_key, r.order_id, r.total AS refunded, r.ts, e.points AS earned, e.order_total,
         COALESCE((SELECT -SUM(p.points) FROM points_ledger p
           WHERE p.workspace_id = $1 AND p.kind = 'refund' AND p.order_id = r.order_id), 0) AS taken
       FROM events r
       JOIN points_ledger e ON e.workspace_id = $1 AND e.idempotency_key = 'order:' || r.order_id
       WHERE r.workspace_id = $1 AND r.event = 'Order Refunded' AND r.order_id IS NOT NULL AND r.received_at > $2
         AND NOT EXISTS (SELECT 1 FROM points_ledger d WHERE d.workspace_id = $1
           AND d.idempotency_key = 'refund:' || CAST(r.message_id AS ${text}))
       ORDER BY r.ts, r.message_id`,
      [workspaceId, since ?? -1],
    );
    if (candidates.length === 0) return { refunds: 0, points: 0, userKeys: [] };
    const people = [...new Set(candidates.map((c) => Number(c.user_key)))];
    await lockMembers(store, tx, workspaceId, people);
    // Expired lots first, so a refund takes back live points, not points that were due to lapse.
    await expireDue(store.dialect, tx, workspaceId, now, people);
    const balances = new Map(
      (
        await tx.query<{ user_key: number; points_balance: number }>(
          'SELECT user_key, points_balance FROM members WHERE workspace_id = $1 AND user_key IN (SELECT unnest($2::BIGINT[]))',
          [workspaceId, people],
        )
      ).map((r) => [Number(r.user_key), Number(r.points_balance)]),
    );
    const takenByOrder = new Map<string, number>();
    const entries: { entry_id: number; user_key: number; points: number }[] = [];
    for (const c of candidates) {
      const key = Number(c.user_key);
      const earned = Number(c.earned);
      const taken = takenByOrder.get(c.order_id) ?? Number(c.taken);
      const share = c.refunded === null || !c.order_total ? 1 : Math.min(1, Math.max(0, Number(c.refunded) / Number(c.order_total)));
      const due = Math.min(Math.floor(earned * share + 1e-6), earned - taken);
      const balance = balances.get(key) ?? 0;
      const points = Math.min(due, balance);
      takenByOrder.set(c.order_id, taken + points);
      const reason = points < due ? `refund (${due - points} points already spent)` : 'refund';
      const [row] = await tx.query<{ entry_id: number }>(
        `INSERT INTO points_ledger (workspace_id, entry_id, user_key, kind, points, balance_after, idempotency_key, order_id,
           order_total, reason, occurred_at, created_at)
         VALUES ($1, nextval('points_entry_seq'), $2, 'refund', $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING RETURNING entry_id`,
        [workspaceId, key, -points, balance - points, `refund:${c.message_id}`, c.order_id, c.refunded, reason, Number(c.ts), now],
      );
      if (!row) continue;
      balances.set(key, balance - points);
      entries.push({ entry_id: Number(row.entry_id), user_key: key, points: -points });
    }
    await addToBalances(tx, workspaceId, entries, now);
    await recordLedgerEvents(
      tx,
      { dialect: store.dialect, workspaceId, now },
      entries.map((e) => e.entry_id),
    );
    return {
      refunds: entries.length,
      points: -entries.reduce((s, e) => s + e.points, 0),
      userKeys: [...new Set(entries.map((e) => e.user_key))],
    };
  });
}
