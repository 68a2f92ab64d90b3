import type { SqlExecutor } from '../../store/index.ts';
import { upcomingExpiries } from './expiry.ts';
import type { MemberView } from './schema.ts';

type MemberRow = {
  user_key: number;
  member_no: string | null;
  status: string;
  tier: string | null;
  assigned_tier: string | null;
  source: string | null;
  store_id: string | null;
  joined_at: number | null;
  tier_since: number | null;
  points_balance: number;
  left_at: number | null;
};

const columns = 'user_key, member_no, status, tier, assigned_tier, source, store_id, joined_at, tier_since, points_balance, left_at';
const iso = (ms: number | null) => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString());

/** What segments, templates and the person API need of a member, for many people at once. */
export interface MemberSummary {
  status: 'active';
  memberNo: string | null;
  tier: string | null;
  pointsBalance: number;
  joinedAt: string;
}

/** Members among `userKeys` (one query; non-members are missing from the map). */
export async function loadMembers(db: SqlExecutor, workspaceId: number, userKeys: readonly number[]): Promise<Map<number, MemberSummary>> {
  if (userKeys.length === 0) return new Map();
  const rows = await db.query<MemberRow>(
    `SELECT ${columns} FROM members WHERE workspace_id = $1 AND status = 'active' AND user_key IN (SELECT unnest($2::BIGINT[]))`,
    [workspaceId, [...new Set(userKeys)]],
  );
  return new Map(
    rows.map((r) => [
      Number(r.user_key),
      { status: 'active', memberNo: r.member_no, tier: r.tier, pointsBalance: Number(r.points_balance), joinedAt: iso(r.joined_at)! },
    ]),
  );
}

export async function memberRow(db: SqlExecutor, workspaceId: number, userKey: number): Promise<MemberRow | null> {
  const [row] = await db.query<MemberRow>(`SELECT ${columns} FROM members WHERE workspace_id = $1 AND user_key = $2`, [
    workspaceId,
    userKey,
  ]);
  return row ?? null;
}

/** A person as a member; a known person who is not one has status "none" and no points. */
export async function memberView(db: SqlExecutor, workspaceId: number, userKey: number, now: number): Promise<MemberView> {
  const r = await memberRow(db, workspaceId, userKey);
  if (r?.status !== 'active') {
    return {
      userKey,
      status: r?.status === 'left' ? 'left' : 'none',
      leftAt: iso(r?.left_at ?? null),
      memberNo: null,
      tier: null,
      tierSince: null,
      assignedTier: null,
      joinedAt: null,
      source: null,
      storeId: null,
      pointsBalance: 0,
      expiring: [],
    };
  }
  const expiring = await upcomingExpiries(db, workspaceId, userKey, now);
  return {
    userKey,
    status: 'active',
    leftAt: null,
    memberNo: r.member_no,
    tier: r.tier,
    tierSince: iso(r.tier_since),
    assignedTier: r.assigned_tier,
    joinedAt: iso(r.joined_at),
    source: r.source,
    storeId: r.store_id,
    pointsBalance: Number(r.points_balance),
    expiring: expiring.map((e) => ({ points: e.points, expiresAt: iso(e.expiresAt)! })),
  };
}

export interface MemberListItem {
  userKey: number;
  userId: string | null;
  memberNo: string | null;
  tier: string | null;
  pointsBalance: number;
  joinedAt: string;
}

export async function listMembers(
  db: SqlExecutor,
  workspaceId: number,
  q: { tier?: string; limit: number; offset: number },
): Promise<{ total: number; members: MemberListItem[] }> {
  const tierFilter = q.tier === undefined ? '' : 'AND m.tier = $2';
  const params = q.tier === undefined ? [workspaceId] : [workspaceId, q.tier];
  const [count] = await db.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM members m WHERE m.workspace_id = $1 AND m.status = 'active' ${tierFilter}`,
    params,
  );
  const rows = await db.query<MemberRow & { user_id: string | null }>(
    `SELECT m.user_key, m.member_no, m.tier, m.points_balance, m.joined_at, i.value AS user_id FROM members m
     LEFT JOIN identities i ON i.workspace_id = m.workspace_id AND i.user_key = m.user_key AND i.type = 'user_id'
     WHERE m.workspace_id = $1 AND m.status = 'active' ${tierFilter}
     ORDER BY m.joined_at, m.user_key LIMIT ${Math.trunc(q.limit)} OFFSET ${Math.trunc(q.offset)}`,
    params,
  );
  return {
    total: Number(count?.n ?? 0),
    members: rows.map((r) => ({
      userKey: Number(r.user_key),
      userId: r.user_id,
      memberNo: r.member_no,
      tier: r.tier,
      pointsBalance: Number(r.points_balance),
      joinedAt: iso(r.joined_at)!,
    })),
  };
}

export interface MembershipSummary {
  members: number;
  byTier: { tier: string | null; members: number; pointsBalance: number }[];
  pointsOutstanding: number;
  /** Ledger totals of the period, by kind (debits as positive numbers). */
  period: {
    from: string;
    to: string;
    earned: number;
    spent: number;
    expired: number;
    adjusted: number;
    refunded: number;
    forfeited: number;
  };
}

/** Members per tier, points outstanding, and what was earned, spent and expired from `from` to `to` (both included). */
export async function membershipSummary(db: SqlExecutor, workspaceId: number, from: number, to: number): Promise<MembershipSummary> {
  const tiers = await db.query<{ tier: string | null; members: number; points: number }>(
    `SELECT tier, COUNT(*) AS members, SUM(points_balance) AS points FROM members
     WHERE workspace_id = $1 AND status = 'active' GROUP BY tier ORDER BY tier`,
    [workspaceId],
  );
  const kinds = await db.query<{ kind: string; points: number }>(
    'SELECT kind, SUM(points) AS points FROM points_ledger WHERE workspace_id = $1 AND created_at >= $2 AND created_at <= $3 GROUP BY kind',
    [workspaceId, from, to],
  );
  const byKind = new Map(kinds.map((k) => [k.kind, Number(k.points)]));
  return {
    members: tiers.reduce((s, t) => s + Number(t.members), 0),
    byTier: tiers.map((t) => ({ tier: t.tier, members: Number(t.members), pointsBalance: Number(t.points) })),
    pointsOutstanding: tiers.reduce((s, t) => s + Number(t.points), 0),
    period: {
      from: iso(from)!,
      to: iso(to)!,
      earned: byKind.get('earn') ?? 0,
      spent: -(byKind.get('spend') ?? 0),
      expired: -(byKind.get('expire') ?? 0),
      adjusted: byKind.get('adjust') ?? 0,
      refunded: -(byKind.get('refund') ?? 0),
      forfeited: -(byKind.get('forfeit') ?? 0),
    },
  };
}
