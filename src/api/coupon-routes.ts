import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  type CouponCampaign,
  campaignReports,
  codeView,
  couponCampaignInputSchema,
  couponCodeSchema,
  createCampaign,
  issueRequestSchema,
  issueToPerson,
  listCampaigns,
  personCoupons,
  poolUploadSchema,
  redeemCoupon,
  redeemRequestSchema,
  requireCampaign,
  setCampaignStatus,
  syncCoupons,
  updateCampaign,
  uploadPool,
  verifyCoupon,
  verifyRequestSchema,
} from '../commerce/coupons/index.ts';
import { AppError } from '../core/errors.ts';
import { consistentRead, type Store } from '../store/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';
import { byQuerySchema } from './journey-routes.ts';
import { namedPersonKey, personKey } from './person-lookup.ts';

export const campaignIdParams = z.object({ id: z.coerce.number().int().positive().describe('Coupon campaign id') });
export const codeParams = z.object({ code: couponCodeSchema });
export const personCouponParams = z.object({ id: z.string().min(1).describe('The person, by the identity named in `by`') });

/**
 * Coupon campaigns, codes and the till. Reads first bring coupon states up to date from the
 * events received since the last look (`syncCoupons`), so what they show is current even where no
 * background job runs.
 */
export function registerCouponRoutes(app: FastifyInstance, ctx: ApiContext) {
  const ws = async (request: FastifyRequest) => (await workspaceFromAdminKey(ctx.keys, request)).workspaceId;
  const current = async (workspaceId: number) => {
    await syncCoupons(ctx.store, workspaceId, ctx.clock.now());
  };
  const withReport = (store: Store, workspaceId: number) => async (campaigns: CouponCampaign[]) => {
    const reports = await consistentRead(store, (tx) => campaignReports(tx, workspaceId, campaigns, ctx.clock.now()));
    return campaigns.map((c) => ({ ...c, report: reports.get(c.campaignId) }));
  };

  app.post('/api/coupon-campaigns', async (request, reply) => {
    const workspaceId = await ws(request);
    const input = parseOrThrow(couponCampaignInputSchema, request.body);
    reply.status(201);
    return createCampaign(ctx.store, workspaceId, input, ctx.clock.now());
  });

  app.get('/api/coupon-campaigns', async (request) => {
    const workspaceId = await ws(request);
    await current(workspaceId);
    return { campaigns: await withReport(ctx.store, workspaceId)(await listCampaigns(ctx.store, workspaceId)) };
  });

  app.get('/api/coupon-campaigns/:id', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(campaignIdParams, request.params);
    const campaign = await requireCampaign(ctx.store, workspaceId, id);
    await current(workspaceId);
    return (await withReport(ctx.store, workspaceId)([campaign]))[0];
  });

  app.get('/api/coupon-campaigns/:id/report', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(campaignIdParams, request.params);
    const campaign = await requireCampaign(ctx.store, workspaceId, id);
    await current(workspaceId);
    return (await withReport(ctx.store, workspaceId)([campaign]))[0]?.report;
  });

  app.put('/api/coupon-campaigns/:id', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(campaignIdParams, request.params);
    const input = parseOrThrow(couponCampaignInputSchema, request.body);
    return updateCampaign(ctx.store, workspaceId, id, input, ctx.clock.now());
  });

  for (const [action, status] of [
    ['pause', 'paused'],
    ['resume', 'active'],
  ] as const) {
    app.post(`/api/coupon-campaigns/:id/${action}`, async (request) => {
      const workspaceId = await ws(request);
      const { id } = parseOrThrow(campaignIdParams, request.params);
      return setCampaignStatus(ctx.store, workspaceId, id, status, ctx.clock.now());
    });
  }

  app.post('/api/coupon-campaigns/:id/codes', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(campaignIdParams, request.params);
    const { codes } = parseOrThrow(poolUploadSchema, request.body);
    return uploadPool(ctx.store, workspaceId, id, codes, ctx.clock.now());
  });

  app.post('/api/coupon-campaigns/:id/issue', async (request, reply) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(campaignIdParams, request.params);
    const body = parseOrThrow(issueRequestSchema, request.body);
    await requireCampaign(ctx.store, workspaceId, id);
    const userKey = await namedPersonKey(ctx.store, workspaceId, body);
    const result = await issueToPerson(ctx.store, workspaceId, id, userKey, body.idempotencyKey, ctx.clock.now());
    reply.status(result.issued && !result.replay ? 201 : 200);
    return result;
  });

  app.get('/api/coupons/:code', async (request) => {
    const workspaceId = await ws(request);
    const { code } = parseOrThrow(codeParams, request.params);
    await current(workspaceId);
    const coupon = await codeView(ctx.store, workspaceId, code, ctx.clock.now());
    if (!coupon) throw new AppError('not_found', `no coupon "${code}"`, 'code');
    return coupon;
  });

  app.post('/api/coupons/verify', async (request) => {
    const workspaceId = await ws(request);
    const input = parseOrThrow(verifyRequestSchema, request.body);
    await current(workspaceId);
    return verifyCoupon(ctx.store, workspaceId, input, ctx.clock.now());
  });

  app.post('/api/coupons/redeem', async (request) => {
    const workspaceId = await ws(request);
    const input = parseOrThrow(redeemRequestSchema, request.body);
    await current(workspaceId);
    return redeemCoupon(ctx.store, workspaceId, input, ctx.clock.now());
  });

  app.post('/api/coupons/sync', async (request) => {
    const workspaceId = await ws(request);
    return (await syncCoupons(ctx.store, workspaceId, ctx.clock.now())) ?? { skipped: 'another process is syncing this workspace' };
  });

  app.get('/api/people/:id/coupons', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(personCouponParams, request.params);
    const { by } = parseOrThrow(byQuerySchema, request.query);
    const userKey = await personKey(ctx.store, workspaceId, by, id, 'id');
    await current(workspaceId);
    return { userKey, coupons: await personCoupons(ctx.store, workspaceId, userKey, ctx.clock.now()) };
  });
}
