import { jsonText, type SqlExecutor, type Store } from '../../store/index.ts';
import { ledgerTransaction } from './ledger-tx.ts';

const memberColumns = `workspace_id, user_key, member_no, status, tier, assigned_tier, source, store_id, joined_at, points_balance,
  tier_since, created_at, updated_at, traits_synced_at`;

/**
 * Everyone with a `Member Joined` event received after `since` becomes a member (their first such
 * event says when and how), in one INSERT … SELECT. Joining twice changes nothing: the existing
 * row wins (no re-join resets points or the join date). Someone who left the programme and joins
 * again after leaving (their latest join is later than `left_at`) is active again, from scratch.
 */
export async function joinFromEvents(store: Store, workspaceId: number, since: number | null, now: number): Promise<number[]> {
  const props = (key: string) => jsonText('e.properties', key);
  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    const rows = await tx.query<{ user_key: number }>(
      `INSERT INTO members (${memberColumns})
       SELECT $1, j.user_key, j.member_no, 'active', NULL, j.tier, 'event', j.store_id, j.ts, 0, NULL, ${Math.trunc(now)}, ${Math.trunc(now)}, NULL
       FROM (
         SELECT e.user_key, e.ts, ${props('member_no')} AS member_no, ${props('tier')} AS tier, ${props('store_id')} AS store_id,
           ROW_NUMBER() OVER (PARTITION BY e.user_key ORDER BY e.ts, e.message_id) AS rn
         FROM events e WHERE e.workspace_id = $1 AND e.event = 'Member Joined' AND e.received_at > $2
       ) j
       WHERE j.rn = 1 AND NOT EXISTS (SELECT 1 FROM members m WHERE m.workspace_id = $1 AND m.user_key = j.user_key)
       ON CONFLICT DO NOTHING
       RETURNING user_key`,
      [workspaceId, since ?? -1],
    );
    const rejoined = await tx.query<{ user_key: number }>(
      `UPDATE members SET status = 'active', left_at = NULL, joined_at = j.ts, member_no = COALESCE(j.member_no, members.member_no),
         assigned_tier = j.tier, store_id = j.store_id, source = 'event', tier = NULL, tier_since = NULL, updated_at = ${Math.trunc(now)}
       FROM (
         SELECT e.user_key, MAX(e.ts) AS ts, MAX(${props('member_no')}) AS member_no, MAX(${props('tier')}) AS tier,
           MAX(${props('store_id')}) AS store_id
         FROM events e WHERE e.workspace_id = $1 AND e.event = 'Member Joined' AND e.received_at > $2 GROUP BY e.user_key
       ) j
       WHERE members.workspace_id = $1 AND members.user_key = j.user_key AND members.status = 'left' AND j.ts > members.left_at
       RETURNING members.user_key`,
      [workspaceId, since ?? -1],
    );
    return [...rows, ...rejoined].map((r) => Number(r.user_key));
  });
}

export interface JoinRequest {
  userKey: number;
  memberNo?: string;
  tier?: string;
  storeId?: string;
  source: string;
}

/** One person joins now (the API); true if they were not a member before (or had left). */
export async function joinMember(store: Store, workspaceId: number, req: JoinRequest, now: number): Promise<boolean> {
  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    const rows = await tx.query<{ user_key: number }>(
      `INSERT INTO members (${memberColumns})
       VALUES ($1, $2, $3, 'active', NULL, $4, $5, $6, $7, 0, NULL, $7, $7, NULL)
       ON CONFLICT (workspace_id, user_key) DO UPDATE SET status = 'active', left_at = NULL, joined_at = excluded.joined_at,
         member_no = COALESCE(excluded.member_no, members.member_no), assigned_tier = excluded.assigned_tier, source = excluded.source,
         store_id = excluded.store_id, tier = NULL, tier_since = NULL, updated_at = excluded.updated_at
       WHERE members.status = 'left'
       RETURNING user_key`,
      [workspaceId, req.userKey, req.memberNo ?? null, req.tier ?? null, req.source, req.storeId ?? null, now],
    );
    return rows.length > 0;
  });
}

/** The member (by key) whose membership number is `memberNo`, if any. */
export async function memberByNumber(db: SqlExecutor, workspaceId: number, memberNo: string): Promise<number | null> {
  const [row] = await db.query<{ user_key: number }>(
    'SELECT user_key FROM members WHERE workspace_id = $1 AND member_no = $2 ORDER BY joined_at LIMIT 1',
    [workspaceId, memberNo],
  );
  return row ? Number(row.user_key) : null;
}
