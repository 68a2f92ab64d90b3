import type { SqlExecutor } from '../../store/index.ts';

export const couponStates = ['issued', 'reminded', 'redeemed', 'expired'] as const;
export type CouponState = (typeof couponStates)[number];

/**
 * A code's state now (SQL over alias `c`): stored as issued, reminded or redeemed, and expired
 * from the moment it is past its end — whether or not the sync has written that down yet.
 */
export function stateSql(c: string, now: string): string {
  return `CASE WHEN ${c}.state IN ('issued', 'reminded') AND ${c}.expires_at <= ${now} THEN 'expired' ELSE ${c}.state END`;
}

/** One code as the API, templates and tills see it. Instants are epoch milliseconds. */
export interface CouponView {
  code: string;
  campaignId: number;
  campaign: string;
  state: CouponState;
  userKey: number;
  kind: 'amount' | 'percent';
  value: number;
  maxDiscount: number | null;
  minSpend: number;
  issuedAt: number;
  validFrom: number;
  expiresAt: number;
  journeyId: number | null;
  nodeId: string | null;
  remindedAt: number | null;
  redeemedAt: number | null;
  redeemedVia: string | null;
  orderId: string | null;
  orderTotal: number | null;
  discount: number | null;
  storeId: string | null;
}

export type CodeRow = {
  code: string;
  campaign_id: number;
  campaign: string;
  state: CouponState;
  user_key: number;
  kind: 'amount' | 'percent';
  value: number;
  max_discount: number | null;
  min_spend: number;
  issued_at: number;
  valid_from: number;
  expires_at: number;
  journey_id: number | null;
  node_id: string | null;
  reminded_at: number | null;
  redeemed_at: number | null;
  redeemed_via: string | null;
  redeemed_by: number | null;
  redemption_key: string | null;
  order_id: string | null;
  order_total: number | null;
  discount: number | null;
  store_id: string | null;
  member_only: boolean;
  scope: unknown;
};

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function toView(r: CodeRow): CouponView {
  return {
    code: r.code,
    campaignId: Number(r.campaign_id),
    campaign: r.campaign,
    state: r.state,
    userKey: Number(r.user_key),
    kind: r.kind,
    value: Number(r.value),
    maxDiscount: num(r.max_discount),
    minSpend: Number(r.min_spend),
    issuedAt: Number(r.issued_at),
    validFrom: Number(r.valid_from),
    expiresAt: Number(r.expires_at),
    journeyId: num(r.journey_id),
    nodeId: r.node_id,
    remindedAt: num(r.reminded_at),
    redeemedAt: num(r.redeemed_at),
    redeemedVia: r.redeemed_via,
    orderId: r.order_id,
    orderTotal: num(r.order_total),
    discount: num(r.discount),
    storeId: r.store_id,
  };
}

/** The columns of a code with its campaign (alias c, k), its state at $2 = now. */
const selectCodes = `SELECT c.code, c.campaign_id, k.name AS campaign, ${stateSql('c', '$2')} AS state, c.user_key, c.kind, c.value,
    c.max_discount, c.min_spend, c.issued_at, c.valid_from, c.expires_at, c.journey_id, c.node_id, c.reminded_at, c.redeemed_at,
    c.redeemed_via, c.redeemed_by, c.redemption_key, c.order_id, c.order_total, c.discount, c.store_id,
    (k.definition ->> 'memberOnly') = 'true' AS member_only, (k.definition -> 'scope') AS scope
  FROM coupon_codes c JOIN coupon_campaigns k ON k.workspace_id = c.workspace_id AND k.campaign_id = c.campaign_id`;

/** A code with its campaign's member-only flag and scope (for the till), or null. */
export async function codeRow(db: SqlExecutor, workspaceId: number, code: string, now: number): Promise<CodeRow | null> {
  const [row] = await db.query<CodeRow>(`${selectCodes} WHERE c.workspace_id = $1 AND c.code = $3`, [workspaceId, now, code]);
  return row ?? null;
}

export async function codeView(db: SqlExecutor, workspaceId: number, code: string, now: number): Promise<CouponView | null> {
  const row = await codeRow(db, workspaceId, code, now);
  return row ? toView(row) : null;
}

/** Everything a person holds, newest first, each with its state now. */
export async function personCoupons(db: SqlExecutor, workspaceId: number, userKey: number, now: number): Promise<CouponView[]> {
  const rows = await db.query<CodeRow>(`${selectCodes} WHERE c.workspace_id = $1 AND c.user_key = $3 ORDER BY c.issued_at DESC, c.code`, [
    workspaceId,
    now,
    userKey,
  ]);
  return rows.map(toView);
}

/**
 * The state of codes by code, for templates ("your 15-off coupon expires tomorrow"): the renderer
 * reads a message's coupon from its journey's outbox row and can add `state` from here.
 */
export async function couponStatesOf(
  db: SqlExecutor,
  workspaceId: number,
  codes: readonly string[],
  now: number,
): Promise<Map<string, CouponState>> {
  if (codes.length === 0) return new Map();
  const rows = await db.query<{ code: string; state: CouponState }>(
    `SELECT c.code, ${stateSql('c', '$2')} AS state FROM coupon_codes c WHERE c.workspace_id = $1 AND c.code IN (SELECT unnest($3::text[]))`,
    [workspaceId, now, [...codes]],
  );
  return new Map(rows.map((r) => [r.code, r.state]));
}
