import { z } from 'zod';
import { identityTypes } from '../../core/identities.ts';
import { durationSchema } from '../../segments/index.ts';

/**
 * One schema per concept: a coupon campaign (the terms every code of it is issued with), and the
 * requests of the till and of the app. Each is the TypeScript type, the validator and the OpenAPI
 * component.
 */

export const couponCodeSchema = z
  .string()
  .trim()
  .min(3)
  .max(64)
  .transform((c) => c.toUpperCase())
  .pipe(z.string().regex(/^[A-Z0-9_-]+$/, 'letters, digits, "_" or "-"'))
  .describe('A coupon code; case does not matter');

const money = z.number().positive().max(1e9);

export const discountSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('amount'), value: money.describe('Amount off, in the order currency') }),
    z.strictObject({
      kind: z.literal('percent'),
      value: z.number().positive().max(100).describe('Percent off the eligible amount'),
      maxDiscount: money.optional().describe('Cap of the discount of one order'),
    }),
  ])
  .describe('What a code takes off');

export const scopeSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('shop') }).describe('Everything'),
    z
      .strictObject({
        kind: z.literal('categories'),
        categories: z.array(z.string().trim().min(1).max(500)).min(1).max(200),
      })
      .describe('Products of these categories: a path ("Electronics > Phones") or a category name at any level ("Phones")'),
    z
      .strictObject({ kind: z.literal('products'), products: z.array(z.string().min(1).max(200)).min(1).max(5000) })
      .describe('These products'),
  ])
  .describe('Which part of an order the coupon applies to (minimum spend counts that part only)');
export type CouponScope = z.infer<typeof scopeSchema>;

const isoInstant = z.iso.datetime({ offset: true }).describe('ISO 8601 date-time with offset');

export const validitySchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('after_issue'), duration: durationSchema.describe('e.g. "7d": valid for 7 days from issue') }),
    z
      .strictObject({ kind: z.literal('dates'), from: isoInstant, until: isoInstant })
      .refine((v) => Date.parse(v.until) > Date.parse(v.from), { message: 'until must be after from', path: ['until'] })
      .describe('Valid between fixed instants; codes are not issued after `until`'),
  ])
  .describe('How long a code is valid');

export const couponCampaignInputSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).describe('Unique; journeys issue from a campaign by this name, so it never changes'),
    description: z.string().max(2000).optional(),
    discount: discountSchema,
    minSpend: z.number().min(0).max(1e9).default(0).describe('Least eligible amount an order needs for the code to apply'),
    scope: scopeSchema.default({ kind: 'shop' }),
    validity: validitySchema.default({ kind: 'after_issue', duration: '7d' }),
    memberOnly: z.boolean().default(false).describe('Issued to and redeemable by members only'),
    perPersonLimit: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .nullable()
      .default(1)
      .describe('Codes one person may hold from this campaign, ever (null: no limit)'),
    budget: z
      .strictObject({
        maxCount: z.number().int().min(1).max(1e9).optional().describe('Codes issued at most'),
        maxValue: money.optional().describe('Sum of face values issued at most (percent coupons count their maxDiscount)'),
      })
      .default({})
      .describe('Issuing stops at the budget; who would have got a code is told why and goes on without one'),
    codes: z
      .enum(['generated', 'pool'])
      .default('generated')
      .describe('generated: unguessable codes made at issue; pool: codes you upload, handed out in upload order'),
    codePrefix: z
      .string()
      .regex(/^[A-Z0-9]{1,12}$/, 'upper-case letters and digits, at most 12')
      .optional()
      .describe('Generated codes start with this and a dash, e.g. "PAY-…"'),
  })
  .refine((c) => !(c.discount.kind === 'percent' && c.budget.maxValue !== undefined && c.discount.maxDiscount === undefined), {
    message: 'a percent coupon with a value budget needs discount.maxDiscount (what each code may cost)',
    path: ['discount', 'maxDiscount'],
  })
  .describe('A coupon campaign');
export type CouponCampaignInput = z.infer<typeof couponCampaignInputSchema>;

/** The reasons a person got no code, as recorded on the coupon node's outbox row and returned by the issue API. */
export const notIssuedReasons = [
  'unknown_campaign',
  'campaign_paused',
  'campaign_ended',
  'no_value',
  'not_a_member',
  'per_person_limit',
  'budget_exhausted',
  'pool_empty',
  'code_conflict',
] as const;
export type NotIssuedReason = (typeof notIssuedReasons)[number];

/** Why a code does not apply at the till (verify), or could not be redeemed. */
export const refusalReasons = [
  'unknown_code',
  'already_redeemed',
  'not_yet_valid',
  'expired',
  'member_required',
  'not_a_member',
  'not_holder',
  'min_spend_not_met',
  'nothing_in_scope',
] as const;
export type RefusalReason = (typeof refusalReasons)[number];

export const identityRefSchema = z.strictObject({
  type: z.enum(identityTypes).describe('user_id, phone, member_no, wechat_openid, …'),
  value: z.string().min(1).max(500),
});

export const orderLineSchema = z.strictObject({
  product_id: z.string().min(1).max(200),
  category: z.string().max(500).optional().describe('Category path; read from the catalog when left out'),
  price: z.number().min(0).describe('Unit price'),
  quantity: z.number().int().positive().default(1),
});

const tillFields = {
  code: couponCodeSchema,
  person: identityRefSchema.optional().describe('Who presents the code (a member card, phone…): needed for member-only coupons'),
  orderTotal: z.number().min(0).max(1e9).optional().describe('The basket before this discount'),
  lines: z
    .array(orderLineSchema)
    .max(1000)
    .optional()
    .describe('The basket lines; needed when the coupon is for some categories or products'),
  storeId: z.string().min(1).max(200).optional(),
};

export const verifyRequestSchema = z.strictObject(tillFields).describe('Check a code at the till without using it');
export type VerifyRequest = z.infer<typeof verifyRequestSchema>;

export const redeemRequestSchema = z
  .strictObject({
    ...tillFields,
    orderId: z.string().min(1).max(200).optional(),
    idempotencyKey: z.string().min(1).max(200).optional().describe('Retrying with the same key answers the first result again'),
  })
  .refine((r) => r.orderTotal !== undefined || r.lines !== undefined, { message: 'give orderTotal or lines', path: ['orderTotal'] })
  .describe('Use a code at the till, once');
export type RedeemRequest = z.infer<typeof redeemRequestSchema>;

export const issueRequestSchema = z
  .strictObject({
    userId: z.string().min(1).optional(),
    identity: identityRefSchema.optional(),
    idempotencyKey: z.string().min(1).max(200).optional().describe('Retrying with the same key issues once'),
  })
  .refine((r) => r.userId !== undefined || r.identity !== undefined, { message: 'name the person: userId or identity', path: ['userId'] })
  .describe('Give one person a code of the campaign (e.g. claimed in the app)');

export const poolUploadSchema = z
  .strictObject({ codes: z.array(couponCodeSchema).min(1).max(100_000) })
  .describe('Codes for a pool campaign, handed out in upload order');
