import type { SqlExecutor } from '../store/index.ts';

/**
 * People with events received after `since` (by the store's received_at), and people merged
 * since: whose computed traits and segment memberships may have changed.
 */
export async function touchedPeople(db: SqlExecutor, workspaceId: number, since: number): Promise<number[]> {
  const rows = await db.query<{ user_key: number }>(
    `SELECT DISTINCT user_key FROM events WHERE workspace_id = $1 AND received_at > $2
     UNION SELECT from_user_key FROM identity_merges WHERE workspace_id = $1 AND merged_at > $2
     UNION SELECT into_user_key FROM identity_merges WHERE workspace_id = $1 AND merged_at > $2`,
    [workspaceId, since],
  );
  return rows.map((r) => Number(r.user_key));
}
