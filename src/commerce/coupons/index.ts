/**
 * Coupons: campaigns (terms, limits, budgets), unguessable or uploaded codes, issuing from
 * journeys and the API, redemption at the till and from order events, states per person, and a
 * report per campaign. See docs/coupons.md.
 */
export {
  type CampaignStatus,
  type CouponCampaign,
  campaignForNode,
  createCampaign,
  listCampaigns,
  requireCampaign,
  setCampaignStatus,
  updateCampaign,
} from './campaigns-repo.ts';
export { generateCodes } from './codes.ts';
export { retryLostCommitRace } from './commit-race.ts';
export { issueCoupons, prepareIssueTable } from './issue.ts';
export { isMemberSql } from './membership.ts';
export { codeByIssueKey, type IssueResult, issueInTransaction, issueToPerson, uploadPool } from './pool-and-api-issue.ts';
export { type Redemption, redeemCoupon, type TillAnswer, verifyCoupon } from './redeem.ts';
export { type CampaignReport, campaignReports } from './report.ts';
export {
  type CouponCampaignInput,
  couponCampaignInputSchema,
  couponCodeSchema,
  issueRequestSchema,
  type NotIssuedReason,
  notIssuedReasons,
  poolUploadSchema,
  type RedeemRequest,
  type RefusalReason,
  redeemRequestSchema,
  refusalReasons,
  type VerifyRequest,
  verifyRequestSchema,
} from './schema.ts';
export { type SyncResult, syncAllCoupons, syncCoupons } from './sync.ts';
export { issueTerms } from './terms.ts';
export { type CouponState, type CouponView, codeView, couponStates, couponStatesOf, personCoupons } from './views.ts';
