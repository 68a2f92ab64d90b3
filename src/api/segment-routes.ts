import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import { journeysReadingSegment } from '../journeys/index.ts';
import {
  archiveSegment,
  checkReferences,
  createLookalikeSegment,
  createSegment,
  estimateSegment,
  exportDmpAudience,
  exportSegmentCsv,
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

export const exportQuerySchema = z.object({
  format: z.enum(['csv', 'dmp']).default('csv').describe('csv: identities and traits; dmp: hashed identifiers only'),
  traits: z
    .string()
    .optional()
    .transform((t) =>
      t
        ? t
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)
        : [],
    )
    .describe('CSV only: comma-separated trait names to add as columns'),
  userIdHmacKey: z.string().min(16).optional().describe('DMP only: adds user_id_hmac = HMAC-SHA256(key, user_id)'),
});

export const lookalikeBodySchema = z.strictObject({
  seedSegmentId: z.number().int().positive().describe('The segment whose members are the examples'),
  name: z.string().trim().min(1).max(200).describe('Name of the new (static) segment'),
  size: z.number().int().min(1).max(1_000_000).describe('How many people to keep'),
  excludeSegmentId: z.number().int().positive().optional().describe('Leave out members of this segment too'),
  metric: z.enum(['cosine', 'distance']).default('cosine'),
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
    // Archived, a segment has no members and is never refreshed: a journey entering by it would stop
    // enrolling, and its conditions on it would be false for everyone, without a word.
    const readers = await journeysReadingSegment(ctx.store, workspaceId, id);
    if (readers.length > 0) {
      throw new AppError('conflict', `segment ${id} is used by journey ${readers.map((j) => `"${j.name}"`).join(', ')}`, 'id');
    }
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

  app.get('/api/segments/:id/export', async (request, reply) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const q = parseOrThrow(exportQuerySchema, request.query);
    const segment = await requireSegment(ctx.store, workspaceId, id);
    const out = new PassThrough();
    const done =
      q.format === 'csv'
        ? exportSegmentCsv(ctx.store, workspaceId, id, out, { traits: q.traits })
        : exportDmpAudience(ctx.store, workspaceId, id, out, { userIdHmacKey: q.userIdHmacKey });
    // A failure half-way cannot become a 4xx any more: end the stream with an error so the client sees a broken download.
    done.catch((err: Error) => out.destroy(err));
    const file = `${segment.name.replace(/[^\w.-]+/g, '_')}-${q.format}.csv`;
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${file}"`).send(out);
  });

  app.post('/api/segments/lookalike', async (request, reply) => {
    const workspaceId = await ws(request);
    const body = parseOrThrow(lookalikeBodySchema, request.body);
    if (body.excludeSegmentId !== undefined) await requireSegment(ctx.store, workspaceId, body.excludeSegmentId, 'excludeSegmentId');
    const result = await createLookalikeSegment(ctx.store, workspaceId, body.seedSegmentId, { ...body, now: ctx.clock.now() });
    reply.status(201);
    return { ...result.segment, lookalike: { scores: result.scores, features: result.features, seedCategories: result.seedCategories } };
  });
}
