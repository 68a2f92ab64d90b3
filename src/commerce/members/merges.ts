import type { Store } from '../../store/index.ts';
import { ledgerTransaction, lockMembers } from './ledger-tx.ts';

/**
 * When identity resolution merges two people, ingestion moves their events to the survivor but
 * not their membership (members has one row per person, so it cannot simply be re-keyed). Here
 * the merged-away person's ledger moves to the survivor and the membership rows combine: points
 * add up, the earliest join and any membership number or given tier are kept. Returns the
 * survivors whose membership changed (their tier is re-evaluated).
 */
export async function followMerges(store: Store, workspaceId: number, since: number | null, now: number): Promise<number[]> {
  const [recent] = await store.query<{ n: number }>(
    'SELECT COUNT(*) AS n FROM identity_merges WHERE workspace_id = $1 AND merged_at > $2',
    [workspaceId, since ?? -1],
  );
  if (Number(recent?.n ?? 0) === 0) return [];
  // Everyone merged away who still has membership data (also catches up on anything missed before).
  const stale = await store.query<{ user_key: number; merged_into: number }>(
    `SELECT user_key, merged_into FROM users WHERE workspace_id = $1 AND merged_into IS NOT NULL AND user_key IN (
       SELECT user_key FROM members WHERE workspace_id = $1 UNION SELECT user_key FROM points_ledger WHERE workspace_id = $1)`,
    [workspaceId],
  );
  if (stale.length === 0) return [];
  // Follow chains (A → B → C ends at C), one query per hop.
  const next = new Map(stale.map((r) => [Number(r.user_key), Number(r.merged_into)]));
  let frontier = [...new Set(next.values())].filter((k) => !next.has(k));
  for (let hop = 0; frontier.length > 0 && hop < 20; hop++) {
    const rows = await store.query<{ user_key: number; merged_into: number }>(
      'SELECT user_key, merged_into FROM users WHERE workspace_id = $1 AND merged_into IS NOT NULL AND user_key IN (SELECT unnest($2::BIGINT[]))',
      [workspaceId, frontier],
    );
    for (const r of rows) next.set(Number(r.user_key), Number(r.merged_into));
    frontier = rows.map((r) => Number(r.merged_into)).filter((k) => !next.has(k));
  }
  const survivor = (k: number) => {
    for (let hops = 0; next.has(k) && hops < 100; hops++) k = next.get(k)!;
    return k;
  };
  const from = stale.map((r) => Number(r.user_key));
  return moveMembership(store, workspaceId, from, from.map(survivor), now);
}

async function moveMembership(store: Store, workspaceId: number, from: number[], into: number[], now: number): Promise<number[]> {
  const mapping = 'SELECT unnest($2::BIGINT[]) AS from_key, unnest($3::BIGINT[]) AS into_key';
  return ledgerTransaction(store, workspaceId, now, async (tx) => {
    await lockMembers(store, tx, workspaceId, [...from, ...into]);
    await tx.query(
      `UPDATE points_ledger SET user_key = mp.into_key FROM (${mapping}) mp
       WHERE points_ledger.workspace_id = $1 AND points_ledger.user_key = mp.from_key`,
      [workspaceId, from, into],
    );
    const moved = await tx.query<{ user_key: number }>(
      `INSERT INTO members (workspace_id, user_key, member_no, status, tier, assigned_tier, source, store_id, joined_at, points_balance,
         tier_since, created_at, updated_at, traits_synced_at)
       SELECT $1, mp.into_key, MIN(f.member_no), 'active', MAX(f.tier), MAX(f.assigned_tier), MIN(f.source), MIN(f.store_id),
         MIN(f.joined_at), SUM(f.points_balance), MIN(f.tier_since), MIN(f.created_at), $4, NULL
       FROM members f JOIN (${mapping}) mp ON f.user_key = mp.from_key
       WHERE f.workspace_id = $1
       GROUP BY mp.into_key
       ON CONFLICT (workspace_id, user_key) DO UPDATE SET
         points_balance = members.points_balance + excluded.points_balance,
         joined_at = LEAST(members.joined_at, excluded.joined_at),
         member_no = COALESCE(members.member_no, excluded.member_no),
         assigned_tier = COALESCE(members.assigned_tier, excluded.assigned_tier),
         updated_at = excluded.updated_at
       RETURNING user_key`,
      [workspaceId, from, into, now],
    );
    await tx.query('DELETE FROM members WHERE workspace_id = $1 AND user_key IN (SELECT unnest($2::BIGINT[]))', [workspaceId, from]);
    return moved.map((r) => Number(r.user_key));
  });
}
