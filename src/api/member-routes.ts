import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  adjustPoints,
  adjustPointsSchema,
  archiveCampaign,
  createCampaign,
  evaluateTiers,
  getCampaign,
  getMembershipSettings,
  joinMember,
  joinMemberSchema,
  leaveMember,
  leaveMemberSchema,
  listCampaigns,
  listLedger,
  listMembers,
  MemberJobs,
  memberByNumber,
  memberDayAt,
  memberPricingAt,
  memberRow,
  membershipSettingsSchema,
  membershipSummary,
  memberView,
  pointsCampaignInputSchema,
  pointsCouponSchema,
  saveMembershipSettings,
  spendPoints,
  spendPointsOnCoupon,
  spendPointsSchema,
  updateCampaign,
} from '../commerce/members/index.ts';
import { DAY } from '../core/clock.ts';
import { AppError } from '../core/errors.ts';
import { identityTypes } from '../core/identities.ts';
import { normalizeEvent } from '../ingest/index.ts';
import { consistentRead } from '../store/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';
import { namedPersonKey, personKey } from './person-lookup.ts';

export const memberQuerySchema = z.object({
  by: z
    .enum(identityTypes)
    .default('user_id')
    .describe('Which identity the path names (default user_id); member_no also finds members by number'),
});
export const memberListQuerySchema = z.object({
  tier: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
export const ledgerQuerySchema = z.object({
  by: memberQuerySchema.shape.by,
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().positive().optional().describe('Entries older than this entryId (paging)'),
});
export const summaryQuerySchema = z.object({
  from: z.iso.datetime({ offset: true }).optional().describe('Default: 30 days ago'),
  to: z.iso.datetime({ offset: true }).optional().describe('Default: now'),
});
const campaignListQuerySchema = z.object({ archived: z.enum(['true', 'false']).default('false') });

/** The person a path names (`?by=`); membership numbers are also looked up on members. */
async function memberKey(ctx: ApiContext, workspaceId: number, request: FastifyRequest): Promise<number> {
  const { id } = request.params as { id: string };
  const { by } = parseOrThrow(memberQuerySchema, { by: (request.query as { by?: string }).by });
  if (by === 'member_no') {
    const key = await memberByNumber(ctx.store, workspaceId, id);
    if (key !== null) return key;
  }
  return personKey(ctx.store, workspaceId, by, id, 'id');
}

/** The person a join names, or null when they are new (the join's event creates them). */
async function knownPersonKey(
  ctx: ApiContext,
  workspaceId: number,
  body: { userId?: string; anonymousId?: string },
): Promise<number | null> {
  try {
    return await namedPersonKey(ctx.store, workspaceId, body);
  } catch (err) {
    if (err instanceof AppError && err.code === 'not_found') return null;
    throw err;
  }
}

/** Points-moving calls need a key: the Idempotency-Key header or `idempotencyKey` in the body. */
function idempotencyKeyOf(request: FastifyRequest, fromBody: string | undefined): string {
  const header = request.headers['idempotency-key'];
  const key = fromBody ?? (typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined);
  if (!key)
    throw new AppError(
      'invalid_request',
      'send an Idempotency-Key header or idempotencyKey, so a retry moves points once',
      'idempotencyKey',
    );
  if (key.length > 200) throw new AppError('invalid_request', 'the idempotency key is longer than 200 characters', 'idempotencyKey');
  return key;
}

const campaignId = (request: FastifyRequest) => {
  const id = Number((request.params as { id: string }).id);
  if (!Number.isSafeInteger(id) || id < 1) throw new AppError('not_found', 'no such points campaign', 'id');
  return id;
};

export function registerMemberRoutes(app: FastifyInstance, ctx: ApiContext) {
  const admin = (request: FastifyRequest) => workspaceFromAdminKey(ctx.keys, request);

  // The programme: earning, expiry, tiers, member days.
  app.get('/api/membership/settings', async (request) => getMembershipSettings(ctx.store, (await admin(request)).workspaceId));

  app.put('/api/membership/settings', async (request) => {
    const ws = await admin(request);
    const settings = parseOrThrow(membershipSettingsSchema, request.body);
    const now = ctx.clock.now();
    await saveMembershipSettings(ctx.store, ws.workspaceId, settings, now);
    // New rules apply to everyone at once, not only to people who order next.
    const tiers = await evaluateTiers(ctx.store, ws.workspaceId, settings, now, null);
    return { settings, tiersChanged: tiers.changed };
  });

  app.get('/api/membership/campaigns', async (request) => {
    const ws = await admin(request);
    const q = parseOrThrow(campaignListQuerySchema, request.query);
    return { campaigns: await listCampaigns(ctx.store, ws.workspaceId, q.archived === 'true') };
  });

  app.post('/api/membership/campaigns', async (request, reply) => {
    const ws = await admin(request);
    const input = parseOrThrow(pointsCampaignInputSchema, request.body);
    reply.status(201);
    return createCampaign(ctx.store, ws.workspaceId, input, ctx.clock.now());
  });

  app.get('/api/membership/campaigns/:id', async (request) =>
    getCampaign(ctx.store, (await admin(request)).workspaceId, campaignId(request)),
  );

  app.put('/api/membership/campaigns/:id', async (request) => {
    const ws = await admin(request);
    const input = parseOrThrow(pointsCampaignInputSchema, request.body);
    return updateCampaign(ctx.store, ws.workspaceId, campaignId(request), input, ctx.clock.now());
  });

  app.delete('/api/membership/campaigns/:id', async (request) =>
    archiveCampaign(ctx.store, (await admin(request)).workspaceId, campaignId(request), ctx.clock.now()),
  );

  // Runs the background work now: joins and orders from events, expiry, tiers, traits.
  app.post('/api/membership/refresh', async (request) => {
    const ws = await admin(request);
    return new MemberJobs(ctx.store, ctx.clock).tickWorkspace(ws.workspaceId);
  });

  app.get('/api/membership/summary', async (request) => {
    const ws = await admin(request);
    const q = parseOrThrow(summaryQuerySchema, request.query);
    const to = q.to ? Date.parse(q.to) : ctx.clock.now();
    const from = q.from ? Date.parse(q.from) : to - 30 * DAY;
    return consistentRead(ctx.store, (tx) => membershipSummary(tx, ws.workspaceId, from, to));
  });

  app.get('/api/membership/member-day', async (request) => {
    const ws = await admin(request);
    return memberDayAt(await getMembershipSettings(ctx.store, ws.workspaceId), ctx.clock.now());
  });

  // Members.
  app.post('/api/members', async (request, reply) => {
    const ws = await admin(request);
    const body = parseOrThrow(joinMemberSchema, request.body);
    const now = ctx.clock.now();
    // A `Member Joined` event first: it creates the person if new, and journeys triggered by
    // joining see API joins like any other. Its messageId makes a retried call one event.
    const who = body.userId ? { userId: body.userId } : { anonymousId: body.anonymousId! };
    const properties = Object.fromEntries(
      Object.entries({ member_no: body.memberNo, tier: body.tier, store_id: body.storeId }).filter(([, v]) => v !== undefined),
    );
    // Someone who left and joins again gets a new event (one per leaving, so retries stay one).
    const known = await knownPersonKey(ctx, ws.workspaceId, body);
    const before = known === null ? null : await memberRow(ctx.store, ws.workspaceId, known);
    const rejoin = before?.status === 'left' ? `:after-leaving:${before.left_at}` : '';
    const raw = {
      type: 'track',
      event: 'Member Joined',
      messageId: `member-joined:${body.userId ?? `anon:${body.anonymousId}`}${rejoin}`,
      ...who,
      properties,
    };
    const normalized = normalizeEvent(raw, [], { workspaceId: ws.workspaceId, receivedAt: now, source: 'api' });
    if (!normalized.ok) throw new AppError('invalid_request', normalized.errors[0]!.message, normalized.errors[0]!.path, normalized.errors);
    await ctx.ingest.submit([normalized.event]);
    const userKey = await namedPersonKey(ctx.store, ws.workspaceId, body);
    const joined = await joinMember(
      ctx.store,
      ws.workspaceId,
      { userKey, memberNo: body.memberNo, tier: body.tier, storeId: body.storeId, source: 'api' },
      now,
    );
    if (joined) await evaluateTiers(ctx.store, ws.workspaceId, await getMembershipSettings(ctx.store, ws.workspaceId), now, [userKey]);
    reply.status(joined ? 201 : 200);
    return { joined, member: await memberView(ctx.store, ws.workspaceId, userKey, now) };
  });

  app.post('/api/members/:id/leave', async (request) => {
    const ws = await admin(request);
    const body = parseOrThrow(leaveMemberSchema, request.body ?? {});
    const key = await memberKey(ctx, ws.workspaceId, request);
    const now = ctx.clock.now();
    await leaveMember(ctx.store, ws.workspaceId, { userKey: key, reason: body.reason }, now);
    return memberView(ctx.store, ws.workspaceId, key, now);
  });

  app.get('/api/members', async (request) => {
    const ws = await admin(request);
    const q = parseOrThrow(memberListQuerySchema, request.query);
    return listMembers(ctx.store, ws.workspaceId, q);
  });

  app.get('/api/members/:id', async (request) => {
    const ws = await admin(request);
    return memberView(ctx.store, ws.workspaceId, await memberKey(ctx, ws.workspaceId, request), ctx.clock.now());
  });

  app.get('/api/members/:id/pricing', async (request) => {
    const ws = await admin(request);
    const key = await memberKey(ctx, ws.workspaceId, request);
    const settings = await getMembershipSettings(ctx.store, ws.workspaceId);
    return memberPricingAt(settings, await memberRow(ctx.store, ws.workspaceId, key), ctx.clock.now());
  });

  app.get('/api/members/:id/points', async (request) => {
    const ws = await admin(request);
    const key = await memberKey(ctx, ws.workspaceId, request);
    const q = parseOrThrow(ledgerQuerySchema, request.query);
    const member = await memberRow(ctx.store, ws.workspaceId, key);
    return {
      pointsBalance: Number(member?.points_balance ?? 0),
      entries: await listLedger(ctx.store, ws.workspaceId, key, { limit: q.limit, before: q.before }),
    };
  });

  app.post('/api/members/:id/points/spend', async (request, reply) => {
    const ws = await admin(request);
    const body = parseOrThrow(spendPointsSchema, request.body);
    const idempotencyKey = idempotencyKeyOf(request, body.idempotencyKey);
    const userKey = await memberKey(ctx, ws.workspaceId, request);
    const result = await spendPoints(ctx.store, ws.workspaceId, { ...body, userKey, idempotencyKey }, ctx.clock.now());
    reply.status(result.replayed ? 200 : 201);
    return result;
  });

  app.post('/api/members/:id/points/coupon', async (request, reply) => {
    const ws = await admin(request);
    const body = parseOrThrow(pointsCouponSchema, request.body);
    const idempotencyKey = idempotencyKeyOf(request, body.idempotencyKey);
    const userKey = await memberKey(ctx, ws.workspaceId, request);
    const result = await spendPointsOnCoupon(ctx.store, ws.workspaceId, { ...body, userKey, idempotencyKey }, ctx.clock.now());
    reply.status(result.replayed ? 200 : 201);
    return result;
  });

  app.post('/api/members/:id/points/adjust', async (request, reply) => {
    const ws = await admin(request);
    const body = parseOrThrow(adjustPointsSchema, request.body);
    const idempotencyKey = idempotencyKeyOf(request, body.idempotencyKey);
    const userKey = await memberKey(ctx, ws.workspaceId, request);
    const result = await adjustPoints(ctx.store, ws.workspaceId, { ...body, userKey, idempotencyKey }, ctx.clock.now());
    reply.status(result.replayed ? 200 : 201);
    return result;
  });
}
