import { AppError } from '../../core/errors.ts';
import { type EventsTx, jsonText, type Store } from '../../store/index.ts';
import { addToBalances, ledgerTransaction, lockMembers } from './ledger-tx.ts';
import { recordLedgerEvents, recordLeftEvents } from './member-events.ts';

interface Leaving {
  userKey: number;
  at: number;
  reason: string;
}

/**
 * Leaving the programme: status `left` (with `left_at`), no tier, and the balance forfeited by a
 * `forfeit` ledger entry (the ledger stays append-only and the balance = the sum of the ledger).
 * A later join starts again from zero (join.ts). Callers hold the ledger transaction.
 */
async function applyLeaves(store: Store, tx: EventsTx, workspaceId: number, leaving: readonly Leaving[], now: number): Promise<number[]> {
  if (leaving.length === 0) return [];
  const keys = leaving.map((l) => l.userKey);
  await lockMembers(store, tx, workspaceId, keys);
  const active = await tx.query<{ user_key: number; points_balance: number; joined_at: number }>(
    `SELECT user_key, points_balance, joined_at FROM members
     WHERE workspace_id = $1 AND status = 'active' AND user_key IN (SELECT unnest($2::BIGINT[]))`,
    [workspaceId, keys],
  );
  const byKey = new Map(active.map((m) => [Number(m.user_key), m]));
  // A leave older than the current membership (left, then joined again) is history, not news.
  const left = leaving.filter((l) => byKey.has(l.userKey) && l.at >= Number(byKey.get(l.userKey)!.joined_at));
  if (left.length === 0) return [];
  const text = store.dialect === 'postgres' ? 'TEXT' : 'VARCHAR';
  const forfeits = left.filter((l) => Number(byKey.get(l.userKey)!.points_balance) > 0);
  const entries = forfeits.length
    ? await tx.query<{ entry_id: number; user_key: number; points: number }>(
        `INSERT INTO points_ledger (workspace_id, entry_id, user_key, kind, points, balance_after, idempotency_key, reason, occurred_at, created_at)
         SELECT $1, nextval('points_entry_seq'), f.user_key, 'forfeit', -m.points_balance, 0,
           'leave:' || CAST(f.user_key AS ${text}) || ':' || CAST(f.at AS ${text}),
           'left the programme', f.at, $4
         FROM (SELECT unnest($2::BIGINT[]) AS user_key, unnest($3::BIGINT[]) AS at) f
         JOIN members m ON m.workspace_id = $1 AND m.user_key = f.user_key
         ON CONFLICT DO NOTHING RETURNING entry_id, user_key, points`,
        [workspaceId, forfeits.map((f) => f.userKey), forfeits.map((f) => f.at), now],
      )
    : [];
  await addToBalances(tx, workspaceId, entries, now);
  await recordLedgerEvents(
    tx,
    { dialect: store.dialect, workspaceId, now },
    entries.map((e) => Number(e.entry_id)),
  );
  await tx.query(
    `UPDATE members SET status = 'left', left_at = s.at, tier = NULL, tier_since = s.at, updated_at = $4
     FROM (SELECT unnest($2::BIGINT[]) AS user_key, unnest($3::BIGINT[]) AS at) s
     WHERE members.workspace_id = $1 AND members.user_key = s.user_key`,
    [workspaceId, left.map((l) => l.userKey), left.map((l) => l.at), now],
  );
  return left.map((l) => l.userKey);
}

/** Everyone with a `Member Left` event received after `since` (after they last joined) leaves. */
export async function leaveFromEvents(store: Store, workspaceId: number, since: number | null, now: number): Promise<number[]> {
  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    const rows = await tx.query<{ user_key: number; ts: number; reason: string | null }>(
      `SELECT e.user_key, MAX(e.ts) AS ts, MAX(${jsonText('e.properties', 'reason')}) AS reason
       FROM events e JOIN members m ON m.workspace_id = e.workspace_id AND m.user_key = e.user_key AND m.status = 'active'
       WHERE e.workspace_id = $1 AND e.event = 'Member Left' AND e.received_at > $2 GROUP BY e.user_key`,
      [workspaceId, since ?? -1],
    );
    const leaving = rows.map((r) => ({ userKey: Number(r.user_key), at: Number(r.ts), reason: r.reason ?? 'event' }));
    return applyLeaves(store, tx, workspaceId, leaving, now);
  });
}

/** One member leaves now (the API), with a `Member Left` event; 404 for someone who is not a member. */
export async function leaveMember(
  store: Store,
  workspaceId: number,
  req: { userKey: number; reason?: string },
  now: number,
): Promise<void> {
  const reason = req.reason ?? 'api';
  await ledgerTransaction(store, workspaceId, now, async (tx) => {
    const left = await applyLeaves(store, tx, workspaceId, [{ userKey: req.userKey, at: now, reason }], now);
    if (left.length === 0) throw new AppError('not_found', 'this person is not a member', 'id');
    await recordLeftEvents(tx, { dialect: store.dialect, workspaceId, now }, [{ userKey: req.userKey, reason }]);
  });
}
