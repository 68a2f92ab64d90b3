import { campaignForNode, issueCoupons, issueTerms, prepareIssueTable } from '../../commerce/coupons/index.ts';
import { jsonObject } from '../../store/index.ts';
import { everyone, moveAll, type NodeHandler, type StepContext } from '../step-context.ts';
import { messageKeySql } from './outbox.ts';

/**
 * Issues a code of a campaign to everyone ready (the holdout gets nothing), set-at-a-time: the
 * value is the node's tier reached by the triggering order total, else its value, else the
 * campaign's. Each instance gets an outbox row — `issued` with `{code, campaign, value,
 * expires_at, …}` for templates, or `skipped` with the reason it got none (budget spent, limit
 * reached, not a member…), and goes on either way (or down `not_issued` if the node asks).
 * A name with no campaign behind it makes an ad-hoc one from the node's own terms.
 */
export const couponHandler: NodeHandler<'coupon'> = {
  branches: (node) => (node.notIssuedBranch ? ['next', 'not_issued'] : ['next']),
  waits: false,
  async step(ctx, node) {
    const [{ n }] = (await ctx.tx.query<{ n: number }>('SELECT count(*) AS n FROM ready WHERE NOT holdout')) as [{ n: number }];
    if (Number(n) === 0) return everyone('next');
    const campaign = await campaignForNode(ctx.tx, ctx.dialect, ctx.workspaceId, node, ctx.now);
    const terms = campaign ? issueTerms(campaign, ctx.now, { value: node.value, validFor: node.validFor }) : null;
    await prepareIssueTable(ctx.tx, ctx.dialect);
    const params: (string | number | null)[] = [];
    const p = (v: string | number | null) => {
      params.push(v);
      return `$${params.length}`;
    };
    const dbl = 'DOUBLE PRECISION';
    const fallback = terms ? `CAST(${p(terms.value)} AS ${dbl})` : 'NULL';
    const tiers = [...(node.tiers ?? [])].sort((a, b) => b.minTotal - a.minTotal);
    const value =
      tiers.length === 0
        ? fallback
        : `CASE ${tiers.map((t) => `WHEN r.trigger_total >= CAST(${p(t.minTotal)} AS ${dbl}) THEN CAST(${p(t.value)} AS ${dbl})`).join(' ')} ELSE ${fallback} END`;
    await ctx.tx.query(
      `INSERT INTO coupon_issue (seq, user_key, issue_key, instance_id, value)
       SELECT r.instance_id, r.user_key, ${messageKeySql(ctx, `CAST(${p(node.id)} AS TEXT)`)}, r.instance_id, ${value} FROM ready r WHERE NOT r.holdout`,
      params,
    );
    if (campaign && terms) {
      await issueCoupons({
        tx: ctx.tx,
        dialect: ctx.dialect,
        workspaceId: ctx.workspaceId,
        now: ctx.now,
        campaign,
        terms,
        journeyId: ctx.journeyId,
        nodeId: node.id,
      });
    } else {
      await ctx.tx.query(`UPDATE coupon_issue SET reason = 'unknown_campaign'`);
    }
    await insertCouponRows(ctx, node.id, node.campaign, campaign?.campaignId ?? null, terms?.kind ?? null);
    if (!node.notIssuedBranch) return everyone('next');
    await moveAll(ctx, 'not_issued', 'r.instance_id IN (SELECT instance_id FROM coupon_issue WHERE code IS NULL)');
    await moveAll(ctx, 'next', 'r.instance_id NOT IN (SELECT instance_id FROM coupon_issue WHERE code IS NULL)');
  },
};

/**
 * The node's outbox rows: what templates and `coupon_used` read (keep `code`, `campaign`,
 * `value` and `expires_at`), and what the journey shows for each instance.
 */
async function insertCouponRows(ctx: StepContext, nodeId: string, name: string, campaignId: number | null, kind: string | null) {
  const issued = (sql: string) => `CASE WHEN x.code IS NULL THEN NULL ELSE ${sql} END`;
  const payload = jsonObject(ctx.dialect, [
    ['code', 'x.code'],
    ['campaign', 'CAST($6 AS TEXT)'],
    ['campaign_id', 'CAST($7 AS BIGINT)'],
    ['kind', 'CAST($8 AS TEXT)'],
    ['value', issued('x.value')],
    ['min_spend', issued('c.min_spend')],
    ['expires_at', issued('c.expires_at')],
    ['reason', 'x.reason'],
    ['trigger', 'r.trigger_props'],
  ]);
  await ctx.tx.query(
    `INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel, template, payload,
       status, reason, transactional, attempts, created_at)
     SELECT $1, x.issue_key, $2, $3, r.instance_id, CAST($4 AS TEXT), r.user_key, 'coupon', NULL, NULL, ${payload},
       CASE WHEN x.code IS NULL THEN 'skipped' ELSE 'issued' END, x.reason, FALSE, 0, $5
     FROM ready r JOIN coupon_issue x ON x.instance_id = r.instance_id
     LEFT JOIN coupon_codes c ON c.workspace_id = $1 AND c.code = x.code`,
    [ctx.workspaceId, ctx.journeyId, ctx.version, nodeId, ctx.now, name, campaignId, kind],
  );
}
