import type { Dialect, EventsTx, SqlExecutor, Store } from '../../store/index.ts';
import { addToBalances, ledgerTransaction, lockMembers } from './ledger-tx.ts';
import { recordLedgerEvents } from './member-events.ts';

/**
 * Points are spent and expire oldest-expiry first (FIFO). Nothing records which credit a spend
 * used: it follows from the append-only ledger. Order a person's credits ("lots") by expiry;
 * all their debits together (spends, expiries, negative adjustments) use up the lots in that
 * order, so lot i has left `points − clamp(debits − (credits before i), 0, points)`.
 * This holds as long as every lot is expired when due before a later spend is recorded, which
 * `expireDue` (run by the job, and for the person inside every debit) makes sure of.
 *
 * `who` is an SQL condition on `user_key` (with its parameters starting at $2).
 */
export function lotsSql(who: string): string {
  return `WITH credits AS (
      SELECT user_key, entry_id, points, expires_at,
        COALESCE(SUM(points) OVER (PARTITION BY user_key ORDER BY expires_at NULLS LAST, entry_id
          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
      FROM points_ledger WHERE workspace_id = $1 AND points > 0 AND ${who}
    ), debits AS (
      SELECT user_key, -SUM(points) AS used FROM points_ledger WHERE workspace_id = $1 AND points < 0 AND ${who} GROUP BY user_key
    )
    SELECT c.user_key, c.entry_id, c.expires_at,
      c.points - LEAST(c.points, GREATEST(0, COALESCE(d.used, 0) - c.before)) AS remaining
    FROM credits c LEFT JOIN debits d ON d.user_key = c.user_key`;
}

export interface ExpiryResult {
  people: number;
  lots: number;
  points: number;
}

/**
 * Writes an `expire` entry for what is left of every lot of these people due by `now`: one
 * INSERT … SELECT and one UPDATE of balances. The entry's key names its lot, so a lot expires
 * once however often this runs. Callers hold the ledger transaction and have locked the people
 * (PostgreSQL).
 */
export async function expireDue(
  dialect: Dialect,
  tx: EventsTx,
  workspaceId: number,
  now: number,
  userKeys: readonly number[],
): Promise<ExpiryResult> {
  if (userKeys.length === 0) return { people: 0, lots: 0, points: 0 };
  const text = dialect === 'postgres' ? 'TEXT' : 'VARCHAR';
  // `now` is inlined (an integer of ours): DuckDB refuses a placeholder the lots CTE would not use.
  const rows = await tx.query<{ entry_id: number; user_key: number; points: number }>(
    `INSERT INTO points_ledger (workspace_id, entry_id, user_key, kind, points, balance_after, idempotency_key,
       lot_entry_id, reason, occurred_at, created_at)
     SELECT $1, nextval('points_entry_seq'), d.user_key, 'expire', -d.remaining,
       m.points_balance - SUM(d.remaining) OVER (PARTITION BY d.user_key ORDER BY d.expires_at, d.entry_id ROWS UNBOUNDED PRECEDING),
       'expire:' || CAST(d.entry_id AS ${text}), d.entry_id, 'expired', d.expires_at, ${Math.trunc(now)}
     FROM (${lotsSql('user_key IN (SELECT unnest($2::BIGINT[]))')}) d
     JOIN members m ON m.workspace_id = $1 AND m.user_key = d.user_key
     WHERE d.remaining > 0 AND d.expires_at <= ${Math.trunc(now)}
     ON CONFLICT DO NOTHING
     RETURNING entry_id, user_key, points`,
    [workspaceId, [...new Set(userKeys)]],
  );
  await addToBalances(tx, workspaceId, rows, now);
  await recordLedgerEvents(
    tx,
    { dialect, workspaceId, now },
    rows.map((r) => Number(r.entry_id)),
  );
  return {
    people: new Set(rows.map((r) => Number(r.user_key))).size,
    lots: rows.length,
    points: -rows.reduce((s, r) => s + Number(r.points), 0),
  };
}

/**
 * The job's expiry: everyone with a lot that fell due in (since, now], locked, then `expireDue`.
 * Lots that fell due earlier were expired by an earlier run (or by a debit of their owner).
 */
export async function expireFallenDue(store: Store, workspaceId: number, since: number | null, now: number): Promise<ExpiryResult> {
  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    const rows = await tx.query<{ user_key: number }>(
      `SELECT DISTINCT user_key FROM points_ledger WHERE workspace_id = $1 AND points > 0 AND expires_at > $2 AND expires_at <= $3`,
      [workspaceId, since ?? -1, now],
    );
    const keys = rows.map((r) => Number(r.user_key));
    await lockMembers(store, tx, workspaceId, keys);
    return expireDue(store.dialect, tx, workspaceId, now, keys);
  });
}

/** What is left of a person's lots that expire after `now`, soonest first (what "expiring soon" shows). */
export async function upcomingExpiries(
  db: SqlExecutor,
  workspaceId: number,
  userKey: number,
  now: number,
  limit = 5,
): Promise<{ points: number; expiresAt: number }[]> {
  const rows = await db.query<{ expires_at: number; points: number }>(
    `SELECT l.expires_at, SUM(l.remaining) AS points FROM (${lotsSql('user_key = $2')}) l
     WHERE l.remaining > 0 AND l.expires_at > $3 GROUP BY l.expires_at ORDER BY l.expires_at LIMIT ${Math.trunc(limit)}`,
    [workspaceId, userKey, now],
  );
  return rows.map((r) => ({ points: Number(r.points), expiresAt: Number(r.expires_at) }));
}
