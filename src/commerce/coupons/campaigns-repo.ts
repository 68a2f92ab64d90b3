import { AppError } from '../../core/errors.ts';
import { columnTypes, type Dialect, type SqlExecutor, type Store } from '../../store/index.ts';
import { type CouponCampaignInput, couponCampaignInputSchema } from './schema.ts';

export const campaignStatuses = ['active', 'paused'] as const;
export type CampaignStatus = (typeof campaignStatuses)[number];

export interface CouponCampaign {
  campaignId: number;
  name: string;
  status: CampaignStatus;
  /** Made up by a journey's coupon node from its inline value (no campaign of that name existed). */
  adhoc: boolean;
  definition: CouponCampaignInput;
  createdAt: number;
  updatedAt: number;
}

type CampaignRow = {
  campaign_id: number;
  name: string;
  status: CampaignStatus;
  adhoc: boolean;
  definition: unknown;
  created_at: number;
  updated_at: number;
};

const columns = 'campaign_id, name, status, adhoc, definition, created_at, updated_at';

const toCampaign = (r: CampaignRow): CouponCampaign => ({
  campaignId: Number(r.campaign_id),
  name: r.name,
  status: r.status,
  adhoc: Boolean(r.adhoc),
  definition: couponCampaignInputSchema.parse(typeof r.definition === 'string' ? JSON.parse(r.definition) : r.definition),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

/**
 * A campaign id from the shared key ranges (one statement, like `reserveKeys`, whose closed list of
 * counters belongs to the store). DuckDB cannot prepare UPDATE … RETURNING, hence no parameters.
 */
async function reserveCampaignId(db: SqlExecutor): Promise<number> {
  const [row] = await db.query<{ first: number }>(
    `UPDATE key_ranges SET next_value = next_value + 1 WHERE name = 'coupon_campaign_id' RETURNING next_value - 1 AS first`,
  );
  if (!row) throw new Error('no key range named coupon_campaign_id');
  return Number(row.first);
}

/** Inserts a campaign unless the name is taken; returns whether it went in. */
async function insertCampaign(
  db: SqlExecutor,
  dialect: Dialect,
  workspaceId: number,
  input: CouponCampaignInput,
  adhoc: boolean,
  now: number,
): Promise<boolean> {
  const campaignId = await reserveCampaignId(db);
  await db.query(
    `INSERT INTO coupon_campaigns (workspace_id, campaign_id, name, definition, status, adhoc, created_at, updated_at)
     VALUES ($1, $2, $3, CAST($4 AS ${columnTypes[dialect].json}), 'active', $5, $6, $6) ON CONFLICT DO NOTHING`,
    [workspaceId, campaignId, input.name, JSON.stringify(input), adhoc, now],
  );
  const [row] = await db.query<{ campaign_id: number }>('SELECT campaign_id FROM coupon_campaigns WHERE workspace_id = $1 AND name = $2', [
    workspaceId,
    input.name,
  ]);
  return Number(row?.campaign_id) === campaignId;
}

export async function createCampaign(store: Store, workspaceId: number, input: CouponCampaignInput, now: number): Promise<CouponCampaign> {
  if (!(await insertCampaign(store, store.dialect, workspaceId, input, false, now))) {
    throw new AppError('conflict', `a coupon campaign named "${input.name}" exists`, 'name');
  }
  return (await campaignByName(store, store.dialect, workspaceId, input.name, false)) as CouponCampaign;
}

export async function listCampaigns(db: SqlExecutor, workspaceId: number): Promise<CouponCampaign[]> {
  const rows = await db.query<CampaignRow>(`SELECT ${columns} FROM coupon_campaigns WHERE workspace_id = $1 ORDER BY campaign_id`, [
    workspaceId,
  ]);
  return rows.map(toCampaign);
}

export async function requireCampaign(db: SqlExecutor, workspaceId: number, campaignId: number): Promise<CouponCampaign> {
  const [row] = await db.query<CampaignRow>(`SELECT ${columns} FROM coupon_campaigns WHERE workspace_id = $1 AND campaign_id = $2`, [
    workspaceId,
    campaignId,
  ]);
  if (!row) throw new AppError('not_found', `no coupon campaign ${campaignId}`, 'id');
  return toCampaign(row);
}

/**
 * A campaign by name. With `lock`, on PostgreSQL the row stays locked until the transaction ends:
 * whoever issues from a campaign holds it, so budgets and per-person counts are read and spent by
 * one issuer at a time across processes (DuckDB has one writing process, whose journey steps run
 * one at a time).
 */
export async function campaignByName(
  db: SqlExecutor,
  dialect: Dialect,
  workspaceId: number,
  name: string,
  lock: boolean,
): Promise<CouponCampaign | null> {
  const [row] = await db.query<CampaignRow>(
    `SELECT ${columns} FROM coupon_campaigns WHERE workspace_id = $1 AND name = $2${lock && dialect === 'postgres' ? ' FOR UPDATE' : ''}`,
    [workspaceId, name],
  );
  return row ? toCampaign(row) : null;
}

/**
 * The campaign a journey node names, made up from the node's inline terms when there is none
 * (journeys written before campaigns existed keep working: such a campaign has no limit per
 * person and no budget until someone edits it). Locked as `campaignByName` does.
 */
export async function campaignForNode(
  db: SqlExecutor,
  dialect: Dialect,
  workspaceId: number,
  node: { campaign: string; value?: number | undefined; tiers?: { value: number }[] | undefined; validFor?: string | undefined },
  now: number,
): Promise<CouponCampaign | null> {
  const found = await campaignByName(db, dialect, workspaceId, node.campaign, true);
  if (found) return found;
  const value = node.value ?? node.tiers?.[0]?.value;
  if (value === undefined) return null;
  const adhoc = couponCampaignInputSchema.parse({
    name: node.campaign,
    description: 'Made by a journey coupon node',
    discount: { kind: 'amount', value },
    validity: { kind: 'after_issue', duration: node.validFor ?? '7d' },
    perPersonLimit: null,
  });
  await insertCampaign(db, dialect, workspaceId, adhoc, true, now);
  return campaignByName(db, dialect, workspaceId, node.campaign, true);
}

/** Replaces a campaign's terms. Codes already issued keep theirs; the name cannot change (journeys refer to it). */
export async function updateCampaign(
  store: Store,
  workspaceId: number,
  campaignId: number,
  input: CouponCampaignInput,
  now: number,
): Promise<CouponCampaign> {
  const current = await requireCampaign(store, workspaceId, campaignId);
  if (current.name !== input.name) {
    throw new AppError('invalid_request', `a campaign keeps its name ("${current.name}"): journeys issue from it by name`, 'name');
  }
  if (current.definition.codes !== input.codes) {
    throw new AppError('invalid_request', `codes stay "${current.definition.codes}"; make a new campaign for the other kind`, 'codes');
  }
  await store.query(
    `UPDATE coupon_campaigns SET definition = CAST($3 AS ${columnTypes[store.dialect].json}), adhoc = FALSE, updated_at = $4
     WHERE workspace_id = $1 AND campaign_id = $2`,
    [workspaceId, campaignId, JSON.stringify(input), now],
  );
  return requireCampaign(store, workspaceId, campaignId);
}

/** Pausing stops issuing; codes already issued can still be redeemed. */
export async function setCampaignStatus(
  store: Store,
  workspaceId: number,
  campaignId: number,
  status: CampaignStatus,
  now: number,
): Promise<CouponCampaign> {
  await requireCampaign(store, workspaceId, campaignId);
  await store.query('UPDATE coupon_campaigns SET status = $3, updated_at = $4 WHERE workspace_id = $1 AND campaign_id = $2', [
    workspaceId,
    campaignId,
    status,
    now,
  ]);
  return requireCampaign(store, workspaceId, campaignId);
}
