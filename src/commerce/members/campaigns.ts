import { AppError } from '../../core/errors.ts';
import type { SqlExecutor } from '../../store/index.ts';
import type { PointsCampaign, PointsCampaignInput } from './schema.ts';

type CampaignRow = {
  campaign_id: number;
  name: string;
  starts_at: number;
  ends_at: number;
  multiplier: number;
  tiers: string | null;
  status: 'active' | 'archived';
  created_at: number;
  updated_at: number;
};

const columns = 'campaign_id, name, starts_at, ends_at, multiplier, tiers, status, created_at, updated_at';
const iso = (ms: number) => new Date(Number(ms)).toISOString();

/**
 * Tiers are stored as ",gold,silver," so that earning (one SQL statement on both engines) tests
 * "is the member's tier listed" with a plain `position(',' || tier || ',' IN tiers)`.
 */
const encodeTiers = (tiers: readonly string[] | undefined) => (tiers ? `,${tiers.join(',')},` : null);
const decodeTiers = (tiers: string | null) => (tiers ? tiers.split(',').filter(Boolean) : null);

function toCampaign(r: CampaignRow): PointsCampaign {
  return {
    campaignId: Number(r.campaign_id),
    name: r.name,
    startsAt: iso(r.starts_at),
    endsAt: iso(r.ends_at),
    multiplier: Number(r.multiplier),
    tiers: decodeTiers(r.tiers),
    status: r.status,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export async function createCampaign(
  db: SqlExecutor,
  workspaceId: number,
  input: PointsCampaignInput,
  now: number,
): Promise<PointsCampaign> {
  const [row] = await db.query<CampaignRow>(
    `INSERT INTO points_campaigns (workspace_id, campaign_id, name, starts_at, ends_at, multiplier, tiers, status, created_at, updated_at)
     VALUES ($1, nextval('points_campaign_seq'), $2, $3, $4, $5, $6, 'active', $7, $7) RETURNING ${columns}`,
    [workspaceId, input.name, Date.parse(input.startsAt), Date.parse(input.endsAt), input.multiplier, encodeTiers(input.tiers), now],
  );
  return toCampaign(row!);
}

/**
 * Replaces a campaign's window, multiplier or tiers. Orders already credited keep their points
 * (the ledger is never rewritten); later orders use the new terms.
 */
export async function updateCampaign(
  db: SqlExecutor,
  workspaceId: number,
  campaignId: number,
  input: PointsCampaignInput,
  now: number,
): Promise<PointsCampaign> {
  const rows = await db.query<CampaignRow>(
    `UPDATE points_campaigns SET name = $3, starts_at = $4, ends_at = $5, multiplier = $6, tiers = $7, updated_at = $8
     WHERE workspace_id = $1 AND campaign_id = $2 AND status = 'active' RETURNING ${columns}`,
    [
      workspaceId,
      campaignId,
      input.name,
      Date.parse(input.startsAt),
      Date.parse(input.endsAt),
      input.multiplier,
      encodeTiers(input.tiers),
      now,
    ],
  );
  if (!rows[0]) throw new AppError('not_found', `no active points campaign ${campaignId}`, 'id');
  return toCampaign(rows[0]);
}

/** Archives (it stays readable: ledger entries name it); archived campaigns no longer apply. */
export async function archiveCampaign(db: SqlExecutor, workspaceId: number, campaignId: number, now: number): Promise<PointsCampaign> {
  const rows = await db.query<CampaignRow>(
    `UPDATE points_campaigns SET status = 'archived', updated_at = $3 WHERE workspace_id = $1 AND campaign_id = $2 RETURNING ${columns}`,
    [workspaceId, campaignId, now],
  );
  if (!rows[0]) throw new AppError('not_found', `no points campaign ${campaignId}`, 'id');
  return toCampaign(rows[0]);
}

export async function getCampaign(db: SqlExecutor, workspaceId: number, campaignId: number): Promise<PointsCampaign> {
  const [row] = await db.query<CampaignRow>(`SELECT ${columns} FROM points_campaigns WHERE workspace_id = $1 AND campaign_id = $2`, [
    workspaceId,
    campaignId,
  ]);
  if (!row) throw new AppError('not_found', `no points campaign ${campaignId}`, 'id');
  return toCampaign(row);
}

export async function listCampaigns(db: SqlExecutor, workspaceId: number, includeArchived: boolean): Promise<PointsCampaign[]> {
  const rows = await db.query<CampaignRow>(
    `SELECT ${columns} FROM points_campaigns WHERE workspace_id = $1 AND (status = 'active' OR $2) ORDER BY starts_at, campaign_id`,
    [workspaceId, includeArchived],
  );
  return rows.map(toCampaign);
}
