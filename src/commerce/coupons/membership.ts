/**
 * Who counts as a member, for member-only coupons: the one place that decides it.
 *
 * A member is someone with an active row in the membership module's `members` table — or whose
 * `Member Joined` event (or `member` trait) the membership job has not taken in yet, so a coupon
 * at the till right after joining is not refused. A `members` row, when there is one, decides
 * alone: someone who left the programme is not a member, whatever their old events say. Everything that issues or redeems member-only
 * coupons calls this, set-at-a-time.
 *
 * @param ws SQL of the workspace id (a placeholder)
 * @param userKey SQL of the person's key (a column)
 */
export function isMemberSql(ws: string, userKey: string): string {
  return `(EXISTS (SELECT 1 FROM members mm WHERE mm.workspace_id = ${ws} AND mm.user_key = ${userKey} AND mm.status = 'active')
    OR (NOT EXISTS (SELECT 1 FROM members ml WHERE ml.workspace_id = ${ws} AND ml.user_key = ${userKey})
      AND (EXISTS (SELECT 1 FROM events m WHERE m.workspace_id = ${ws} AND m.user_key = ${userKey} AND m.event = 'Member Joined')
        OR EXISTS (SELECT 1 FROM users mu WHERE mu.workspace_id = ${ws} AND mu.user_key = ${userKey}
          AND lower(COALESCE((mu.traits ->> 'member'), 'false')) NOT IN ('false', '0', 'no', '')))))`;
}
