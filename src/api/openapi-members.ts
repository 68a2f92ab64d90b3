import { z } from 'zod';
import {
  adjustPointsSchema,
  joinMemberSchema,
  leaveMemberSchema,
  ledgerEntrySchema,
  membershipSettingsSchema,
  memberViewSchema,
  pointsCampaignInputSchema,
  pointsCouponSchema,
  spendPointsSchema,
} from '../commerce/members/index.ts';
import { ledgerQuerySchema, memberListQuerySchema, memberQuerySchema, summaryQuerySchema } from './member-routes.ts';
import { json, params, ref, schema } from './openapi-kit.ts';

/** OpenAPI pieces of the membership and points API; merged into the document by openapi.ts. */
const security = [{ adminKey: [] }];
const errors = {
  '400': { description: 'Invalid input (the path names the bad field)', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
};
const notFound = { '404': { description: 'No such person, member or campaign', ...json('Error') } };
const conflict = {
  '409': { description: 'Not enough points, or the idempotency key was used for a different move', ...json('Error') },
};
const memberId = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'The person, by the identity `by` names',
};
const campaignId = { name: 'id', in: 'path', required: true, schema: { type: 'integer' }, description: 'Campaign id' };
const idempotencyHeader = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: { type: 'string', maxLength: 200 },
  description: 'Required here or as idempotencyKey in the body: a retry with the same key moves points once',
};
const op = (summary: string, tag: 'Membership' | 'Members', extra: object = {}) => ({ summary, tags: [tag], security, ...extra });
const ok = (description: string, name?: string) => ({ '200': { description, ...(name ? json(name) : {}) }, ...errors });

export const memberSchemas = {
  MembershipSettings: schema(membershipSettingsSchema),
  PointsCampaignInput: schema(pointsCampaignInputSchema),
  JoinMemberRequest: schema(joinMemberSchema),
  LeaveMemberRequest: schema(leaveMemberSchema),
  SpendPointsRequest: schema(spendPointsSchema),
  PointsCouponRequest: schema(pointsCouponSchema),
  AdjustPointsRequest: schema(adjustPointsSchema),
  Member: z.toJSONSchema(memberViewSchema, { io: 'output', unrepresentable: 'any' }),
  LedgerEntry: z.toJSONSchema(ledgerEntrySchema, { io: 'output', unrepresentable: 'any' }),
  PointsMoveResult: {
    type: 'object',
    properties: {
      entry: ref('LedgerEntry'),
      balance: { type: 'integer' },
      replayed: { type: 'boolean', description: 'True for a retry of a known key: nothing moved, the first entry is returned' },
    },
  },
};

const moveResult = (what: string) => ({
  '201': { description: `${what} recorded`, ...json('PointsMoveResult') },
  '200': { description: 'A retry of a known idempotency key: nothing moved', ...json('PointsMoveResult') },
  ...errors,
  ...notFound,
  ...conflict,
});

export const memberPaths = {
  '/api/membership/settings': {
    get: op('The membership programme: earning, expiry, tiers, member days', 'Membership', {
      responses: ok('Settings', 'MembershipSettings'),
    }),
    put: op('Replace the programme (omitted fields take defaults); every member’s tier is re-evaluated at once', 'Membership', {
      requestBody: json('MembershipSettings'),
      responses: ok('{settings, tiersChanged}'),
    }),
  },
  '/api/membership/campaigns': {
    get: op('Points campaigns (time windows with a multiplier)', 'Membership', {
      parameters: [{ name: 'archived', in: 'query', schema: { type: 'string', enum: ['true', 'false'] }, description: 'Include archived' }],
      responses: ok('{campaigns}'),
    }),
    post: op('Create a points campaign, e.g. double points in the first two hours of a promotion', 'Membership', {
      requestBody: json('PointsCampaignInput'),
      responses: { '201': { description: 'The campaign' }, ...errors },
    }),
  },
  '/api/membership/campaigns/{id}': {
    get: op('One points campaign', 'Membership', { parameters: [campaignId], responses: { ...ok('The campaign'), ...notFound } }),
    put: op('Change a campaign; orders already credited keep their points', 'Membership', {
      parameters: [campaignId],
      requestBody: json('PointsCampaignInput'),
      responses: { ...ok('The campaign'), ...notFound },
    }),
    delete: op('Archive a campaign: it no longer applies, ledger entries still name it', 'Membership', {
      parameters: [campaignId],
      responses: { ...ok('The archived campaign'), ...notFound },
    }),
  },
  '/api/membership/refresh': {
    post: op('Run the membership job now: merges, joins and order points from events, expiry, tiers, traits', 'Membership', {
      responses: ok('{merged, joined, left, earned, refunded, expired, tiers, traitsSynced}'),
    }),
  },
  '/api/membership/summary': {
    get: op(
      'Members per tier, points outstanding, points earned / spent / expired / adjusted / refunded / forfeited in a period',
      'Membership',
      {
        parameters: params(summaryQuerySchema, 'query'),
        responses: ok('Summary'),
      },
    ),
  },
  '/api/membership/member-day': {
    get: op('Whether today (programme time zone) is a member day', 'Membership', { responses: ok('{memberDay, localDate, timezone}') }),
  },
  '/api/members': {
    get: op('Members, oldest first (filter by tier)', 'Members', {
      parameters: params(memberListQuerySchema, 'query'),
      responses: ok('{total, members}'),
    }),
    post: op('Join the programme (records a Member Joined event; creates the person if new)', 'Members', {
      requestBody: json('JoinMemberRequest'),
      responses: {
        '201': { description: 'Joined: {joined: true, member}' },
        '200': { description: 'Already a member: {joined: false, member}' },
        ...errors,
      },
    }),
  },
  '/api/members/{id}': {
    get: op('A person as a member: status, tier, points balance, upcoming expiries (status "none" for non-members)', 'Members', {
      parameters: [memberId, ...params(memberQuerySchema, 'query')],
      responses: { '200': { description: 'The member', ...json('Member') }, ...errors, ...notFound },
    }),
  },
  '/api/members/{id}/leave': {
    post: op(
      'Leave the programme: status "left", no tier, the balance forfeited (a ledger entry); records a Member Left event',
      'Members',
      {
        parameters: [memberId, ...params(memberQuerySchema, 'query')],
        requestBody: json('LeaveMemberRequest'),
        responses: { '200': { description: 'The person as a member, now "left"', ...json('Member') }, ...errors, ...notFound },
      },
    ),
  },
  '/api/members/{id}/pricing': {
    get: op('Whether this person gets member pricing now (an active member, on a member day, of an eligible tier)', 'Members', {
      parameters: [memberId, ...params(memberQuerySchema, 'query')],
      responses: { ...ok('{memberPricing, memberDay, member, tier, localDate, timezone}'), ...notFound },
    }),
  },
  '/api/members/{id}/points': {
    get: op('The points ledger of a member, newest first', 'Members', {
      parameters: [memberId, ...params(ledgerQuerySchema, 'query')],
      responses: { ...ok('{pointsBalance, entries: LedgerEntry[]}'), ...notFound },
    }),
  },
  '/api/members/{id}/points/spend': {
    post: op('Redeem points (refused with 409 beyond the balance)', 'Members', {
      parameters: [memberId, ...params(memberQuerySchema, 'query'), idempotencyHeader],
      requestBody: json('SpendPointsRequest'),
      responses: moveResult('Spend'),
    }),
  },
  '/api/members/{id}/points/coupon': {
    post: op(
      'Spend points on a coupon of a campaign: the debit and the code commit together (409 and nothing moves when no code can be issued)',
      'Members',
      {
        parameters: [memberId, ...params(memberQuerySchema, 'query'), idempotencyHeader],
        requestBody: json('PointsCouponRequest'),
        responses: moveResult('Spend'),
      },
    ),
  },
  '/api/members/{id}/points/adjust': {
    post: op('Credit or debit points by hand (a debit never takes the balance below 0)', 'Members', {
      parameters: [memberId, ...params(memberQuerySchema, 'query'), idempotencyHeader],
      requestBody: json('AdjustPointsRequest'),
      responses: moveResult('Adjustment'),
    }),
  },
};
