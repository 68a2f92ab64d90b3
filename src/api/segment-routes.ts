import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  archiveSegment,
  checkReferences,
  createSegment,
  estimateSegment,
  listChanges,
  listMembers,
  listSegments,
  requireSegment,
  segmentDefinitionSchema,
  segmentInputSchema,
  updateSegment,
} from '../segments/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';

export const estimateBodySchema = z.strictObject({
  definition: segmentDefinitionSchema,
  sample: z.number().int().min(0).max(100).default(10).describe('How many members to return as a sample'),
});

const idParams = z.object({ id: z.coerce.number().int().positive().describe('Segment id') });

export const membersQuerySchema = z.object({
  after: z.coerce.number().int().optional().describe('The last user key of the previous page'),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});

export const changesQuerySchema = z.object({
  afterRefresh: z.coerce.number().int().min(0).default(0).describe('Refresh number of the last change read'),
  afterUserKey: z.coerce.number().int().optional().describe('User key of the last change read'),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

const stopwatch = () => performance.now();

export function registerSegmentRoutes(app: FastifyInstance, ctx: ApiContext) {
  const ws = async (request: Parameters<typeof workspaceFromAdminKey>[1]) => (await workspaceFromAdminKey(ctx.keys, request)).workspaceId;

  app.post('/api/segments/estimate', async (request) => {
    const workspaceId = await ws(request);
    const body = parseOrThrow(estimateBodySchema, request.body);
    await checkReferences(ctx.store, workspaceId, body.definition, null);
    const started = stopwatch();
    const estimate = await estimateSegment(ctx.store, workspaceId, body.definition, ctx.clock.now(), body.sample);
    return { ...estimate, tookMs: Math.round(stopwatch() - started) };
  });

  app.post('/api/segments', async (request, reply) => {
    const workspaceId = await ws(request);
    const input = parseOrThrow(segmentInputSchema, request.body);
    const segment = await createSegment(ctx.store, workspaceId, input, ctx.clock.now());
    // Evaluated right away, so the operator sees the audience and journeys can use it at once.
    const refresh = await ctx.segments.refreshOne(workspaceId, segment.segmentId, stopwatch);
    reply.status(201);
    return { ...(await requireSegment(ctx.store, workspaceId, segment.segmentId)), lastRefresh: refresh };
  });

  app.get('/api/segments', async (request) => {
    const workspaceId = await ws(request);
    return { segments: await listSegments(ctx.store, workspaceId) };
  });

  app.get('/api/segments/:id', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    return requireSegment(ctx.store, workspaceId, id);
  });

  app.put('/api/segments/:id', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const input = parseOrThrow(segmentInputSchema, request.body);
    await updateSegment(ctx.store, workspaceId, id, input, ctx.clock.now());
    const refresh = await ctx.segments.refreshOne(workspaceId, id, stopwatch);
    return { ...(await requireSegment(ctx.store, workspaceId, id)), lastRefresh: refresh };
  });

  app.delete('/api/segments/:id', async (request, reply) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    await archiveSegment(ctx.store, workspaceId, id, ctx.clock.now());
    reply.status(204);
  });

  app.post('/api/segments/:id/refresh', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    return ctx.segments.refreshOne(workspaceId, id, stopwatch);
  });

  app.get('/api/segments/:id/members', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const q = parseOrThrow(membersQuerySchema, request.query);
    await requireSegment(ctx.store, workspaceId, id);
    return listMembers(ctx.store, workspaceId, id, q);
  });

  app.get('/api/segments/:id/changes', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const q = parseOrThrow(changesQuerySchema, request.query);
    await requireSegment(ctx.store, workspaceId, id);
    return { changes: await listChanges(ctx.store, workspaceId, id, q) };
  });
}
