import { z } from 'zod';
import { isValidTimeZone } from '../../core/identities.ts';

/**
 * One schema per concept of the membership programme: it is the TypeScript type, the request
 * validator and the OpenAPI component. Tier names are slugs because they are inlined into SQL
 * (tier multipliers, rule CASEs) and used as trait values in segments.
 */
export const tierNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be a slug: lower-case letters, digits, _ and -, at most 40')
  .describe('Tier name, e.g. "gold"');

export const tierRuleSchema = z
  .strictObject({
    metric: z
      .enum(['spend', 'points'])
      .describe(
        'spend: order totals (Order Completed, net of Order Refunded) in the period; points: points earned from orders in the period',
      ),
    min: z.number().nonnegative().describe('Reach the tier at this value or more, e.g. 5000'),
    periodDays: z.number().int().min(1).max(3650).default(365).describe('The period, ending now, e.g. 365 for "in the last year"'),
  })
  .describe('A threshold over a trailing period');

export const tierSchema = z
  .strictObject({
    name: tierNameSchema,
    label: z.string().max(100).optional().describe('Display name'),
    rule: tierRuleSchema.optional().describe('Omitted only on the entry tier (the first), which every member has at least'),
    multiplier: z.number().min(0).max(100).default(1).describe('Points earned by orders are multiplied by this (e.g. 1.5 for gold)'),
  })
  .describe('A member tier; tiers are listed lowest first');
export type Tier = z.infer<typeof tierSchema>;

export const memberDaysSchema = z
  .strictObject({
    weekdays: z.array(z.number().int().min(0).max(6)).default([]).describe('Days of the week, 0 = Sunday'),
    monthDays: z.array(z.number().int().min(1).max(31)).default([]).describe('Days of the month, e.g. [8, 18, 28]'),
    dates: z.array(z.iso.date()).default([]).describe('Particular dates, e.g. ["2026-11-11"]'),
    tiers: z.array(tierNameSchema).min(1).optional().describe('Only these tiers get member pricing (default: every member)'),
  })
  .describe('When members get member pricing (local dates in the programme time zone)');
export type MemberDays = z.infer<typeof memberDaysSchema>;

export const membershipSettingsSchema = z
  .strictObject({
    pointsPerUnit: z.number().min(0).max(10_000).default(1).describe('Points per unit of order total (before multipliers), rounded down'),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/)
      .transform((c) => c.toUpperCase())
      .optional()
      .describe('Only orders in this currency (or with none) earn; default any'),
    minOrderTotal: z.number().nonnegative().default(0).describe('Orders below this total earn nothing'),
    expiryDays: z
      .number()
      .int()
      .min(1)
      .max(36_500)
      .nullable()
      .default(365)
      .describe('Points expire this many days after they were credited (oldest first); null: never'),
    tiers: z.array(tierSchema).max(20).default([]),
    memberDays: memberDaysSchema.default({ weekdays: [], monthDays: [], dates: [] }),
    timezone: z
      .string()
      .refine(isValidTimeZone, 'must be an IANA time zone such as "Asia/Shanghai"')
      .default('UTC')
      .describe('Time zone of member days'),
  })
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.tiers.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['tiers', i, 'name'], message: `tier "${t.name}" is listed twice` });
      seen.add(t.name);
      if (i > 0 && !t.rule)
        ctx.addIssue({ code: 'custom', path: ['tiers', i, 'rule'], message: 'only the first (entry) tier may omit its rule' });
    });
    s.memberDays.tiers?.forEach((name, i) => {
      if (!seen.has(name)) ctx.addIssue({ code: 'custom', path: ['memberDays', 'tiers', i], message: `no tier named "${name}"` });
    });
  })
  .describe('The membership programme of a workspace: earning, expiry, tiers, member days');
export type MembershipSettings = z.infer<typeof membershipSettingsSchema>;

const instant = z.iso.datetime({ offset: true }).describe('ISO 8601 date-time with offset');

export const pointsCampaignInputSchema = z
  .strictObject({
    name: z.string().min(1).max(200),
    startsAt: instant.describe('Orders at or after this instant earn more, e.g. the start of the burst hours'),
    endsAt: instant.describe('…and before this one'),
    multiplier: z.number().min(1).max(100).describe('Points of an order are multiplied by this, e.g. 2 for double points'),
    tiers: z.array(tierNameSchema).min(1).optional().describe('Only members of these tiers (default: every member)'),
  })
  .refine((c) => Date.parse(c.endsAt) > Date.parse(c.startsAt), { path: ['endsAt'], message: 'must be after startsAt' })
  .describe('A points campaign: a time window with a multiplier. When several apply to an order, the highest multiplier wins.');
export type PointsCampaignInput = z.infer<typeof pointsCampaignInputSchema>;

export interface PointsCampaign {
  campaignId: number;
  name: string;
  startsAt: string;
  endsAt: string;
  multiplier: number;
  tiers: string[] | null;
  status: 'active' | 'archived';
  createdAt: string;
  updatedAt: string;
}

const personFields = {
  userId: z.string().min(1).max(200).optional(),
  anonymousId: z.string().min(1).max(200).optional(),
};

export const joinMemberSchema = z
  .strictObject({
    ...personFields,
    memberNo: z.string().min(1).max(100).optional().describe('Your membership number'),
    tier: tierNameSchema.optional().describe('A tier given at joining (e.g. a paid card): the member never drops below it'),
    storeId: z.string().min(1).max(200).optional().describe('Where they joined'),
  })
  .refine((b) => b.userId !== undefined || b.anonymousId !== undefined, {
    path: ['userId'],
    message: 'name the person: userId or anonymousId',
  })
  .describe('Join the membership programme; also records a `Member Joined` event, so journeys see API joins too');
export type JoinMemberInput = z.infer<typeof joinMemberSchema>;

export const leaveMemberSchema = z
  .strictObject({ reason: z.string().min(1).max(200).optional().describe('Why they left (kept on the `Member Left` event)') })
  .describe('Leave the programme: the tier ends and the points balance is forfeited; joining again starts from zero');

const idempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .optional()
  .describe('Retrying with the same key moves points once (may instead be sent as the Idempotency-Key header)');

export const spendPointsSchema = z
  .strictObject({
    points: z.number().int().min(1).max(1_000_000_000),
    idempotencyKey,
    reason: z.string().min(1).max(200).default('redeem').describe('Why, e.g. "redeem", "coupon"'),
    reference: z.string().min(1).max(200).optional().describe('What it paid for, e.g. an order or coupon id'),
  })
  .describe('Redeem points; refused with 409 when the balance is smaller');
export type SpendPointsInput = z.infer<typeof spendPointsSchema>;

export const adjustPointsSchema = z
  .strictObject({
    points: z
      .number()
      .int()
      .min(-1_000_000_000)
      .max(1_000_000_000)
      .refine((p) => p !== 0, 'must not be 0'),
    idempotencyKey,
    reason: z.string().min(1).max(200).describe('Why, e.g. "goodwill", "correction"'),
    reference: z.string().min(1).max(200).optional(),
  })
  .describe('Credit (positive) or debit (negative) points by hand; a debit never takes the balance below 0');
export type AdjustPointsInput = z.infer<typeof adjustPointsSchema>;

export const ledgerKinds = ['earn', 'spend', 'expire', 'adjust', 'refund', 'forfeit'] as const;
export type LedgerKind = (typeof ledgerKinds)[number];

export const ledgerEntrySchema = z
  .object({
    entryId: z.number(),
    kind: z.enum(ledgerKinds),
    points: z.number().describe('Signed: credits positive, debits negative'),
    balanceAfter: z.number(),
    reason: z.string().nullable(),
    reference: z.string().nullable(),
    orderId: z.string().nullable(),
    multiplier: z.number().nullable().describe('earn: tier × campaign multiplier applied'),
    campaignId: z.number().nullable().describe('earn: the points campaign that applied'),
    lotEntryId: z.number().nullable().describe('expire: the credit whose remainder expired'),
    expiresAt: z.string().nullable().describe('credits: when what is left of them expires'),
    occurredAt: z.string().describe('earn: when the order happened; otherwise when it was recorded'),
    createdAt: z.string(),
  })
  .describe('One points ledger entry (append-only)');
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

export const memberViewSchema = z
  .object({
    userKey: z.number(),
    status: z.enum(['active', 'left', 'none']).describe('none: a known person who never joined; left: left the programme'),
    leftAt: z.string().nullable().describe('left: when they left (their points were forfeited)'),
    memberNo: z.string().nullable(),
    tier: z.string().nullable(),
    tierSince: z.string().nullable(),
    assignedTier: z.string().nullable(),
    joinedAt: z.string().nullable(),
    source: z.string().nullable(),
    storeId: z.string().nullable(),
    pointsBalance: z.number(),
    expiring: z.array(z.object({ points: z.number(), expiresAt: z.string() })).describe('Upcoming expiries, soonest first (at most 5)'),
  })
  .describe('A person as a member');
export type MemberView = z.infer<typeof memberViewSchema>;
