import { z } from 'zod';
import {
  couponCampaignInputSchema,
  issueRequestSchema,
  notIssuedReasons,
  poolUploadSchema,
  redeemRequestSchema,
  refusalReasons,
  verifyRequestSchema,
} from '../commerce/coupons/index.ts';
import { campaignIdParams, codeParams, personCouponParams } from './coupon-routes.ts';
import { byQuerySchema } from './journey-routes.ts';
import { json, params, schema } from './openapi-kit.ts';

/** OpenAPI pieces of the coupons API; merged into the document by openapi.ts. */
const adminAuth = [{ adminKey: [] }];
const errors = {
  '400': { description: 'Invalid input (the path names the bad field)', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
};
const notFound = (what: string) => ({ '404': { description: `Unknown ${what}`, ...json('Error') } });
const id = params(campaignIdParams, 'path');
const op = (tag: string, summary: string, extra: object = {}) => ({ summary, tags: [tag], security: adminAuth, ...extra });
const campaignOp = (summary: string, extra: object = {}) => op('Coupons', summary, extra);
const tillOp = (summary: string, extra: object = {}) => op('Coupons (till)', summary, extra);

const couponView = z
  .object({
    code: z.string(),
    campaignId: z.number(),
    campaign: z.string(),
    state: z.enum(['issued', 'reminded', 'redeemed', 'expired']),
    userKey: z.number(),
    kind: z.enum(['amount', 'percent']),
    value: z.number(),
    maxDiscount: z.number().nullable(),
    minSpend: z.number(),
    issuedAt: z.number().describe('Epoch ms'),
    validFrom: z.number(),
    expiresAt: z.number(),
    journeyId: z.number().nullable(),
    nodeId: z.string().nullable(),
    remindedAt: z.number().nullable(),
    redeemedAt: z.number().nullable(),
    redeemedVia: z.enum(['event', 'till']).nullable(),
    orderId: z.string().nullable(),
    orderTotal: z.number().nullable().describe('Paid total of the order it was used on (attributed revenue)'),
    discount: z.number().nullable(),
    storeId: z.string().nullable(),
  })
  .describe('A code a person holds, with its state now');

const tillAnswer = z
  .object({
    valid: z.boolean(),
    reason: z.enum(refusalReasons).nullable(),
    coupon: couponView.nullable(),
    eligibleAmount: z.number().nullable().describe('The part of the basket in the coupon’s scope'),
    discount: z.number().nullable().describe('What the code takes off this basket'),
  })
  .describe('Whether a code applies at the till now');

const issueResult = z
  .union([
    z.object({ issued: z.literal(true), replay: z.boolean(), coupon: couponView }),
    z.object({ issued: z.literal(false), reason: z.enum(notIssuedReasons) }),
  ])
  .describe('The code given, or why none');

export const couponSchemas = {
  CouponCampaignInput: schema(couponCampaignInputSchema),
  CouponIssueRequest: schema(issueRequestSchema),
  CouponIssueResult: schema(issueResult),
  CouponPoolUpload: schema(poolUploadSchema),
  CouponVerifyRequest: schema(verifyRequestSchema),
  CouponRedeemRequest: schema(redeemRequestSchema),
  CouponTillAnswer: schema(tillAnswer),
  Coupon: schema(couponView),
};

export const couponPaths = {
  '/api/coupon-campaigns': {
    post: campaignOp('Create a coupon campaign', {
      requestBody: json('CouponCampaignInput'),
      responses: { '201': { description: 'The campaign' }, ...errors, '409': { description: 'Name taken', ...json('Error') } },
    }),
    get: campaignOp('Campaigns, each with its report (ad-hoc ones made by journey nodes too)', {
      responses: { '200': { description: '{campaigns}' }, ...errors },
    }),
  },
  '/api/coupon-campaigns/{id}': {
    get: campaignOp('One campaign with its report', {
      parameters: id,
      responses: { '200': { description: 'The campaign' }, ...errors, ...notFound('campaign') },
    }),
    put: campaignOp('Replace the terms (the name stays; codes already issued keep theirs)', {
      parameters: id,
      requestBody: json('CouponCampaignInput'),
      responses: { '200': { description: 'The campaign' }, ...errors, ...notFound('campaign') },
    }),
  },
  '/api/coupon-campaigns/{id}/pause': {
    post: campaignOp('Stop issuing (issued codes stay redeemable)', {
      parameters: id,
      responses: { '200': { description: 'The campaign' }, ...errors },
    }),
  },
  '/api/coupon-campaigns/{id}/resume': {
    post: campaignOp('Issue again', { parameters: id, responses: { '200': { description: 'The campaign' }, ...errors } }),
  },
  '/api/coupon-campaigns/{id}/report': {
    get: campaignOp('Issued, redeemed, redemption rate, discount cost, attributed revenue, refusals by reason, budget, pool', {
      parameters: id,
      responses: { '200': { description: 'The report' }, ...errors, ...notFound('campaign') },
    }),
  },
  '/api/coupon-campaigns/{id}/codes': {
    post: campaignOp('Upload codes to a pool campaign', {
      parameters: id,
      requestBody: json('CouponPoolUpload'),
      responses: {
        '200': { description: '{added, duplicates}' },
        ...errors,
        '409': { description: 'Not a pool campaign', ...json('Error') },
      },
    }),
  },
  '/api/coupon-campaigns/{id}/issue': {
    post: campaignOp('Give one person a code (claimed in the app, given by support), under the campaign’s rules', {
      parameters: id,
      requestBody: json('CouponIssueRequest'),
      responses: {
        '201': { description: 'Issued', ...json('CouponIssueResult') },
        '200': { description: 'Not issued (with the reason), or a retry of an idempotency key', ...json('CouponIssueResult') },
        ...errors,
        ...notFound('campaign or person'),
      },
    }),
  },
  '/api/coupons/{code}': {
    get: tillOp('One code with its state', {
      parameters: params(codeParams, 'path'),
      responses: { '200': { description: 'The code', ...json('Coupon') }, ...errors, ...notFound('code') },
    }),
  },
  '/api/coupons/verify': {
    post: tillOp('Check a code against a basket and a person without using it', {
      requestBody: json('CouponVerifyRequest'),
      responses: { '200': { description: 'valid, or the reason it is not', ...json('CouponTillAnswer') }, ...errors },
    }),
  },
  '/api/coupons/redeem': {
    post: tillOp('Use a code at the till, once (concurrent tills: exactly one wins)', {
      requestBody: json('CouponRedeemRequest'),
      responses: {
        '200': { description: 'Redeemed: {discount, payable, coupon, replay}' },
        ...errors,
        ...notFound('code'),
        '409': { description: 'Not redeemable: the message starts with the reason (already_redeemed, expired…)', ...json('Error') },
      },
    }),
  },
  '/api/coupons/sync': {
    post: tillOp('Bring coupon states up to date from order events now (reads do this themselves)', {
      responses: { '200': { description: '{merged, redeemed, attributed, reminded, expired}' }, ...errors },
    }),
  },
  '/api/people/{id}/coupons': {
    get: op('People', "A person's codes with their states (issued, reminded, redeemed, expired)", {
      parameters: [...params(personCouponParams, 'path'), ...params(byQuerySchema, 'query')],
      responses: { '200': { description: '{userKey, coupons}' }, ...errors, ...notFound('person') },
    }),
  },
};
