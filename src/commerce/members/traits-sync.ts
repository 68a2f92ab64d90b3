import type { Store } from '../../store/index.ts';

/** Members synced per transaction: bounds memory and lock time when a whole base is first synced. */
const CHUNK = 50_000;

/**
 * Mirrors each member's status, tier and balance into profile traits (`member_status`,
 * `member_tier`, `points_balance`), so segments (trait conditions), splits and templates
 * (`person.traits.points_balance`) use them with no join. The members table stays the source of
 * truth; a member row changed after its last sync (`updated_at > traits_synced_at`) is synced by
 * the next job tick, a chunk at a time: one UPDATE of users and one of members per chunk.
 *
 * This runs outside the ledger's transactions on purpose: on DuckDB a concurrent ingest batch
 * updating the same profile could abort it, and then only this sync is retried next tick.
 */
export async function syncMemberTraits(store: Store, workspaceId: number, now: number): Promise<number> {
  let synced = 0;
  for (;;) {
    const n = await syncChunk(store, workspaceId, now);
    synced += n;
    if (n < CHUNK) return synced;
  }
}

async function syncChunk(store: Store, workspaceId: number, now: number): Promise<number> {
  const merged =
    store.dialect === 'duckdb'
      ? `json_merge_patch(users.traits, json_object('member_status', s.status, 'member_tier', s.tier, 'points_balance', s.points_balance))`
      : `(users.traits - 'member_tier') || jsonb_strip_nulls(jsonb_build_object('member_status', s.status, 'member_tier', s.tier, 'points_balance', s.points_balance))`;
  return store.transaction(async (tx) => {
    const rows = await tx.query<{ user_key: number; updated_at: number }>(
      `SELECT user_key, updated_at FROM members WHERE workspace_id = $1 AND (traits_synced_at IS NULL OR traits_synced_at < updated_at)
       ORDER BY user_key LIMIT ${CHUNK}`,
      [workspaceId],
    );
    if (rows.length === 0) return 0;
    const keys = rows.map((r) => Number(r.user_key));
    await tx.query(
      `UPDATE users SET traits = ${merged}, updated_at = $3
       FROM (SELECT user_key, status, tier, points_balance FROM members WHERE workspace_id = $1 AND user_key IN (SELECT unnest($2::BIGINT[]))) s
       WHERE users.workspace_id = $1 AND users.user_key = s.user_key`,
      [workspaceId, keys, now],
    );
    // Marks what was read as synced; a row changed since (a newer updated_at) stays dirty.
    await tx.query(
      `UPDATE members SET traits_synced_at = s.updated_at
       FROM (SELECT unnest($2::BIGINT[]) AS user_key, unnest($3::BIGINT[]) AS updated_at) s
       WHERE members.workspace_id = $1 AND members.user_key = s.user_key AND members.updated_at = s.updated_at`,
      [workspaceId, keys, rows.map((r) => Number(r.updated_at))],
    );
    return rows.length;
  });
}
