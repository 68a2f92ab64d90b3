import type { SqlExecutor } from '../../store/index.ts';

/** Holders of codes who were merged into someone else (identity resolution), with their survivor. */
const mergedHolders = `SELECT c.code, c.campaign_id, c.issued_at, u.merged_into AS into_key
  FROM coupon_codes c JOIN users u ON u.workspace_id = c.workspace_id AND u.user_key = c.user_key
  WHERE c.workspace_id = $1 AND u.merged_into IS NOT NULL`;

/**
 * When identity resolution merges two people, ingestion moves their events, journeys and messages
 * to the survivor, but not their coupons: a code cannot simply be re-keyed, because the unique
 * (campaign, person, person_seq) index would collide when both people held a code of one campaign.
 * Here every code of a merged-away person moves to the survivor, numbered after the survivor's
 * own codes of that campaign. Both codes were given legitimately, so the survivor keeps both, even
 * past the campaign's per-person limit. One hop per pass: A → B → C takes two.
 *
 * Runs inside the coupon sync, before redemptions are detected, only when merges happened since
 * the last sync (a first sync checks all).
 */
export async function followCouponMerges(tx: SqlExecutor, workspaceId: number, since: number): Promise<number> {
  const [recent] = await tx.query<{ n: number }>('SELECT count(*) AS n FROM identity_merges WHERE workspace_id = $1 AND merged_at > $2', [
    workspaceId,
    since,
  ]);
  if (Number(recent?.n ?? 0) === 0 && since > 0) return 0;
  let moved = 0;
  for (let hop = 0; hop < 10; hop++) {
    const [pending] = await tx.query<{ n: number }>(`SELECT count(*) AS n FROM (${mergedHolders}) x`, [workspaceId]);
    const n = Number(pending?.n ?? 0);
    if (n === 0) break;
    await tx.query(
      `UPDATE coupon_codes SET user_key = mv.into_key, person_seq = mv.seq
       FROM (
         SELECT m.code, m.into_key,
           COALESCE((SELECT max(s.person_seq) FROM coupon_codes s
             WHERE s.workspace_id = $1 AND s.campaign_id = m.campaign_id AND s.user_key = m.into_key), 0)
           + row_number() OVER (PARTITION BY m.campaign_id, m.into_key ORDER BY m.issued_at, m.code) AS seq
         FROM (${mergedHolders}) m
       ) mv
       WHERE coupon_codes.workspace_id = $1 AND coupon_codes.code = mv.code`,
      [workspaceId],
    );
    moved += n;
  }
  return moved;
}
