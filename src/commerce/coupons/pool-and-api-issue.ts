import { randomUUID } from 'node:crypto';
import { AppError } from '../../core/errors.ts';
import { arrayCast, type Dialect, type EventsTx, type Store, writingEvents } from '../../store/index.ts';
import { requireCampaign } from './campaigns-repo.ts';
import { retryLostCommitRace } from './commit-race.ts';
import { issueCoupons, prepareIssueTable } from './issue.ts';
import { couponWrites } from './serial.ts';
import { issueTerms } from './terms.ts';
import { type CouponView, codeView } from './views.ts';

/**
 * Adds uploaded codes to a pool campaign, in one statement. A code that exists anywhere in the
 * workspace (in a pool or issued) is left out and counted as a duplicate.
 */
export async function uploadPool(
  store: Store,
  workspaceId: number,
  campaignId: number,
  codes: readonly string[],
  now: number,
): Promise<{ added: number; duplicates: number }> {
  const campaign = await requireCampaign(store, workspaceId, campaignId);
  if (campaign.definition.codes !== 'pool') throw new AppError('conflict', `campaign "${campaign.name}" generates its codes`, 'codes');
  const unique = [...new Set(codes)];
  return couponWrites(store, () =>
    store.transaction(async (tx) => {
      const count = async () =>
        Number(
          (
            await tx.query<{ n: number }>('SELECT count(*) AS n FROM coupon_pool WHERE workspace_id = $1 AND campaign_id = $2', [
              workspaceId,
              campaignId,
            ])
          )[0]?.n ?? 0,
        );
      const before = await count();
      await tx.query(
        `INSERT INTO coupon_pool (workspace_id, code, campaign_id, uploaded_at)
         SELECT CAST($1 AS INTEGER), u.code, CAST($2 AS BIGINT), CAST($3 AS BIGINT) FROM (SELECT unnest($4::${arrayCast(store.dialect, 'text')}) AS code) u
         WHERE NOT EXISTS (SELECT 1 FROM coupon_codes c WHERE c.workspace_id = $1 AND c.code = u.code)
         ON CONFLICT DO NOTHING`,
        [workspaceId, campaignId, now, unique],
      );
      const added = (await count()) - before;
      return { added, duplicates: codes.length - added };
    }),
  );
}

export type IssueResult = { issued: true; replay: boolean; coupon: CouponView } | { issued: false; reason: string };

/**
 * Gives one person a code of a campaign outside journeys (claimed in the app, handed out by
 * support), under the same rules as a journey node. Retrying with an idempotency key returns the
 * code it gave the first time.
 */
export async function issueToPerson(
  store: Store,
  workspaceId: number,
  campaignId: number,
  userKey: number,
  idempotencyKey: string | undefined,
  now: number,
): Promise<IssueResult> {
  const issueKey = `api.${campaignId}.${idempotencyKey ?? randomUUID()}`;
  return couponWrites(store, () =>
    store.session((session) =>
      retryLostCommitRace(store.dialect, async () => {
        const earlier = await codeByIssueKey(store, workspaceId, issueKey, now);
        if (earlier) return { issued: true as const, replay: true, coupon: earlier };
        const outcome = await writingEvents(
          store,
          workspaceId,
          now,
          (tx) => issueInTransaction(tx, store.dialect, workspaceId, campaignId, userKey, issueKey, now),
          session,
        );
        if (!outcome?.code) return { issued: false as const, reason: outcome?.reason ?? 'code_conflict' };
        const coupon = await codeByIssueKey(store, workspaceId, issueKey, now);
        return { issued: true as const, replay: false, coupon: coupon as CouponView };
      }),
    ),
  );
}

/**
 * Issues one code to one person inside the caller's transaction (the API above, or points spent on
 * a coupon, where the spend and the code must commit together). Returns the code, or why none.
 */
export async function issueInTransaction(
  tx: EventsTx,
  dialect: Dialect,
  workspaceId: number,
  campaignId: number,
  userKey: number,
  issueKey: string,
  now: number,
): Promise<{ code: string | null; reason: string | null } | undefined> {
  const campaign = await requireCampaign(tx, workspaceId, campaignId);
  // Locks the campaign row on PostgreSQL, as journey nodes do, so budgets and limits hold across processes.
  if (dialect === 'postgres') {
    await tx.query('SELECT 1 FROM coupon_campaigns WHERE workspace_id = $1 AND campaign_id = $2 FOR UPDATE', [workspaceId, campaignId]);
  }
  await prepareIssueTable(tx, dialect);
  await tx.query('INSERT INTO coupon_issue (seq, user_key, issue_key, instance_id, value) VALUES (1, $1, $2, NULL, $3)', [
    userKey,
    issueKey,
    campaign.definition.discount.value,
  ]);
  await issueCoupons({ tx, dialect, workspaceId, now, campaign, terms: issueTerms(campaign, now), journeyId: null, nodeId: null });
  const [row] = await tx.query<{ code: string | null; reason: string | null }>('SELECT code, reason FROM coupon_issue');
  return row;
}

export async function codeByIssueKey(store: Store, workspaceId: number, issueKey: string, now: number): Promise<CouponView | null> {
  const [row] = await store.query<{ code: string }>('SELECT code FROM coupon_codes WHERE workspace_id = $1 AND issue_key = $2', [
    workspaceId,
    issueKey,
  ]);
  return row ? codeView(store, workspaceId, row.code, now) : null;
}
