import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import type { Store } from '../../store/index.ts';
import { type CouponView, codeByIssueKey, issueInTransaction, requireCampaign, retryLostCommitRace } from '../coupons/index.ts';
import { type PointsMoveResult, spendPoints } from './ledger.ts';

export const pointsCouponSchema = z
  .strictObject({
    campaignId: z.number().int().positive().describe('The coupon campaign the points buy a code of'),
    points: z.number().int().min(1).max(1_000_000_000).describe('What the coupon costs in points'),
    idempotencyKey: z.string().min(1).max(200).optional().describe('Or the Idempotency-Key header'),
  })
  .describe('Spend points on a coupon');

/**
 * Spends points on a coupon: the debit and the code commit in one transaction, so either the
 * member has the code and fewer points, or neither changed (a campaign out of budget, a paused
 * one, a member at the per-person limit is a 409 and costs nothing). The same idempotency key
 * returns the same code.
 */
export async function spendPointsOnCoupon(
  store: Store,
  workspaceId: number,
  req: { userKey: number; campaignId: number; points: number; idempotencyKey: string },
  now: number,
): Promise<PointsMoveResult & { coupon: CouponView }> {
  const campaign = await requireCampaign(store, workspaceId, req.campaignId);
  const issueKey = `points.${req.campaignId}.${req.idempotencyKey}`;
  // A lost commit race (DuckDB) rolls back the spend with the code; the retry finds the winner's code.
  const moved = await retryLostCommitRace(store.dialect, () =>
    spendPoints(
      store,
      workspaceId,
      {
        userKey: req.userKey,
        points: req.points,
        idempotencyKey: `coupon:${req.idempotencyKey}`,
        reason: 'coupon',
        reference: campaign.name,
      },
      now,
      async (tx) => {
        const issued = await issueInTransaction(tx, store.dialect, workspaceId, req.campaignId, req.userKey, issueKey, now);
        if (!issued?.code) throw new AppError('conflict', `no coupon issued: ${issued?.reason ?? 'code_conflict'}`, 'campaignId');
      },
    ),
  );
  const coupon = await codeByIssueKey(store, workspaceId, issueKey, now);
  if (!coupon) throw new AppError('conflict', 'this idempotency key was used to spend points on something else', 'idempotencyKey');
  return { ...moved, coupon };
}
