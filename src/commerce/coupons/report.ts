import type { SqlExecutor } from '../../store/index.ts';
import type { CouponCampaign } from './campaigns-repo.ts';
import { stateSql } from './views.ts';

/** What a campaign gave and what it brought, per campaign. Amounts are in the order currency. */
export interface CampaignReport {
  issued: number;
  /** Codes issued and not redeemed, by their state now. */
  open: { issued: number; reminded: number; expired: number };
  redeemed: number;
  /** redeemed / issued (0 when nothing was issued). */
  redemptionRate: number;
  redeemedVia: { event: number; till: number };
  /** Sum of face values of amount coupons issued (what the campaign could cost at most). */
  faceValueIssued: number;
  /** What redeemed codes took off orders. */
  discountCost: number;
  /** Paid totals of the orders codes were redeemed on. */
  attributedRevenue: number;
  /** Who got no code, by reason (journey nodes record it on their outbox row). */
  notIssued: Record<string, number>;
  budget: {
    maxCount: number | null;
    maxValue: number | null;
    usedCount: number;
    usedValue: number;
    /** Issuing has stopped at the budget: the next code would not fit, or someone was refused for it. */
    exhausted: boolean;
  };
  /** Pool campaigns: codes uploaded and still waiting to be issued. */
  pool: { uploaded: number; left: number } | null;
}

type Totals = {
  campaign_id: number;
  issued: number;
  issued_open: number;
  reminded: number;
  expired: number;
  redeemed: number;
  via_event: number;
  via_till: number;
  face: number;
  cost: number;
  discount: number;
  revenue: number;
};

const round2 = (n: number) => Math.round(n * 100) / 100;

/** What the campaign's next code costs against its value budget (tiers may differ; this is its own value). */
const nextCost = (c: CouponCampaign) =>
  c.definition.discount.kind === 'amount' ? c.definition.discount.value : (c.definition.discount.maxDiscount ?? 0);

/** Reports of the given campaigns, from a few grouped statements whatever their number (pass `consistentRead`'s transaction for counts of one moment). */
export async function campaignReports(
  db: SqlExecutor,
  workspaceId: number,
  campaigns: readonly CouponCampaign[],
  now: number,
): Promise<Map<number, CampaignReport>> {
  const out = new Map<number, CampaignReport>();
  if (campaigns.length === 0) return out;
  const state = stateSql('c', '$2');
  const sumIf = (cond: string, expr = '1') => `COALESCE(sum(CASE WHEN ${cond} THEN ${expr} ELSE 0 END), 0)`;
  // One after another: callers may pass one transaction (consistentRead), whose connection runs a statement at a time.
  const totals = await db.query<Totals>(
    `SELECT c.campaign_id, count(*) AS issued, ${sumIf(`${state} = 'issued'`)} AS issued_open, ${sumIf(`${state} = 'reminded'`)} AS reminded,
         ${sumIf(`${state} = 'expired'`)} AS expired, ${sumIf(`${state} = 'redeemed'`)} AS redeemed,
         ${sumIf(`c.redeemed_via = 'event'`)} AS via_event, ${sumIf(`c.redeemed_via = 'till'`)} AS via_till,
         ${sumIf(`c.kind = 'amount'`, 'c.value')} AS face, COALESCE(sum(c.cost), 0) AS cost,
         ${sumIf(`${state} = 'redeemed'`, 'COALESCE(c.discount, 0)')} AS discount, ${sumIf(`${state} = 'redeemed'`, 'COALESCE(c.order_total, 0)')} AS revenue
       FROM coupon_codes c WHERE c.workspace_id = $1 GROUP BY c.campaign_id`,
    [workspaceId, now],
  );
  const skipped = await db.query<{ campaign_id: string | null; reason: string | null; n: number }>(
    `SELECT (payload ->> 'campaign_id') AS campaign_id, reason, count(*) AS n FROM outbox
       WHERE workspace_id = $1 AND action = 'coupon' AND status = 'skipped' GROUP BY (payload ->> 'campaign_id'), reason`,
    [workspaceId],
  );
  const pools = await db.query<{ campaign_id: number; uploaded: number; remaining: number }>(
    `SELECT p.campaign_id, count(*) AS uploaded,
         ${`COALESCE(sum(CASE WHEN NOT EXISTS (SELECT 1 FROM coupon_codes c WHERE c.workspace_id = p.workspace_id AND c.code = p.code) THEN 1 ELSE 0 END), 0)`} AS remaining
       FROM coupon_pool p WHERE p.workspace_id = $1 GROUP BY p.campaign_id`,
    [workspaceId],
  );
  const byId = new Map(totals.map((t) => [Number(t.campaign_id), t]));
  const poolById = new Map(pools.map((p) => [Number(p.campaign_id), p]));
  for (const campaign of campaigns) {
    const id = campaign.campaignId;
    const t = byId.get(id);
    const issued = Number(t?.issued ?? 0);
    const redeemed = Number(t?.redeemed ?? 0);
    const notIssued: Record<string, number> = {};
    for (const s of skipped) if (Number(s.campaign_id) === id && s.reason) notIssued[s.reason] = Number(s.n);
    const pool = poolById.get(id);
    const budget = campaign.definition.budget;
    out.set(id, {
      issued,
      open: { issued: Number(t?.issued_open ?? 0), reminded: Number(t?.reminded ?? 0), expired: Number(t?.expired ?? 0) },
      redeemed,
      redemptionRate: issued === 0 ? 0 : Math.round((redeemed / issued) * 10_000) / 10_000,
      redeemedVia: { event: Number(t?.via_event ?? 0), till: Number(t?.via_till ?? 0) },
      faceValueIssued: round2(Number(t?.face ?? 0)),
      discountCost: round2(Number(t?.discount ?? 0)),
      attributedRevenue: round2(Number(t?.revenue ?? 0)),
      notIssued,
      budget: {
        maxCount: budget.maxCount ?? null,
        maxValue: budget.maxValue ?? null,
        usedCount: issued,
        usedValue: round2(Number(t?.cost ?? 0)),
        exhausted:
          (notIssued.budget_exhausted ?? 0) > 0 ||
          (budget.maxCount !== undefined && issued >= budget.maxCount) ||
          (budget.maxValue !== undefined && Number(t?.cost ?? 0) + nextCost(campaign) > budget.maxValue + 1e-9),
      },
      pool: campaign.definition.codes === 'pool' ? { uploaded: Number(pool?.uploaded ?? 0), left: Number(pool?.remaining ?? 0) } : null,
    });
  }
  return out;
}
