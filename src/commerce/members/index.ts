/**
 * Membership and points: joining, tiers, the points ledger (earn by order with multipliers and
 * campaigns, spend, expiry), member days. See docs/members.md.
 */
export { archiveCampaign, createCampaign, getCampaign, listCampaigns, updateCampaign } from './campaigns.ts';
export { expireDue, expireFallenDue, upcomingExpiries } from './expiry.ts';
export { type JoinRequest, joinFromEvents, joinMember, memberByNumber } from './join.ts';
export { leaveFromEvents, leaveMember } from './leave.ts';
export {
  adjustPoints,
  listLedger,
  type OnSpent,
  type PointsMoveResult,
  type SpendRequest,
  spendPoints,
} from './ledger.ts';
export { type MemberDayAnswer, memberDayAt, memberPricingAt, type PricingAnswer } from './member-days.ts';
export { ledgerEventNames } from './member-events.ts';
export { defaultMemberJobOptions, type MemberJobOptions, MemberJobs, type MemberTick } from './member-jobs.ts';
export {
  listMembers,
  loadMembers,
  type MemberListItem,
  type MemberSummary,
  type MembershipSummary,
  memberRow,
  membershipSummary,
  memberView,
} from './members-repo.ts';
export { pointsCouponSchema, spendPointsOnCoupon } from './points-coupon.ts';
export { clawBackRefunds } from './refunds.ts';
export {
  adjustPointsSchema,
  joinMemberSchema,
  type LedgerEntry,
  leaveMemberSchema,
  ledgerEntrySchema,
  type MemberDays,
  type MembershipSettings,
  type MemberView,
  membershipSettingsSchema,
  memberViewSchema,
  type PointsCampaign,
  type PointsCampaignInput,
  pointsCampaignInputSchema,
  spendPointsSchema,
  type Tier,
  tierSchema,
} from './schema.ts';
export { defaultMembershipSettings, getMembershipSettings, MEMBERSHIP_SETTINGS_KEY, saveMembershipSettings } from './settings.ts';
export { evaluateTiers } from './tiers.ts';
