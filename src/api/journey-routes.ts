import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { identityTypes } from '../core/identities.ts';
import {
  archiveJourney,
  createJourney,
  enrollViaApi,
  journeyInputSchema,
  journeyStats,
  listJourneys,
  listOutbox,
  personPath,
  publishJourney,
  requireJourney,
  setJourneyRunning,
  updateJourney,
  validateJourney,
} from '../journeys/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';
import { namedPersonKey, personFields, personKey } from './person-lookup.ts';

const idParams = z.object({ id: z.coerce.number().int().positive().describe('Journey id') });

export const personParamsSchema = z.object({
  id: z.coerce.number().int().positive(),
  person: z.string().min(1).describe('The person, by the identity named in `by`'),
});
export const byQuerySchema = z.object({ by: z.enum(identityTypes).default('user_id') });

export const enrollBodySchema = z.strictObject({
  ...personFields,
  key: z.string().min(1).max(200).optional().describe('Keyed journeys: the instance key, e.g. an order id'),
  properties: z.record(z.string(), z.unknown()).optional().describe('Available to templates as the trigger'),
  total: z.number().optional().describe('Amount for tiered coupons'),
  idempotencyKey: z.string().min(1).max(200).optional().describe('Retrying with the same key enrols once'),
});

export const outboxQuerySchema = z.object({
  journeyId: z.coerce.number().int().positive().optional(),
  status: z
    .enum(['queued', 'claimed', 'sending', 'sent', 'delivered', 'skipped', 'failed', 'unknown', 'issued'])
    .optional()
    .describe('Only rows in this delivery state (`failed` is the dead letter, `skipped` what governance held back)'),
  before: z.string().optional().describe('`cursor` of the last row of the previous page (newest first)'),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});

export function registerJourneyRoutes(app: FastifyInstance, ctx: ApiContext) {
  const ws = async (request: Parameters<typeof workspaceFromAdminKey>[1]) => (await workspaceFromAdminKey(ctx.keys, request)).workspaceId;

  app.post('/api/journeys/validate', async (request) => {
    const workspaceId = await ws(request);
    const body = parseOrThrow(z.object({ definition: z.unknown() }), request.body);
    const problems = await validateJourney(ctx.store, workspaceId, body.definition);
    return { valid: problems.length === 0, problems };
  });

  app.post('/api/journeys', async (request, reply) => {
    const workspaceId = await ws(request);
    const input = parseOrThrow(journeyInputSchema, request.body);
    reply.status(201);
    return createJourney(ctx.store, workspaceId, input, ctx.clock.now());
  });

  app.get('/api/journeys', async (request) => ({ journeys: await listJourneys(ctx.store, await ws(request)) }));

  app.get('/api/journeys/:id', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const journey = await requireJourney(ctx.store, workspaceId, id);
    return { ...journey, stats: await journeyStats(ctx.store, workspaceId, id) };
  });

  app.put('/api/journeys/:id', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const input = parseOrThrow(journeyInputSchema, request.body);
    return updateJourney(ctx.store, workspaceId, id, input, ctx.clock.now());
  });

  app.post('/api/journeys/:id/publish', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const journey = await publishJourney(ctx.store, workspaceId, id, ctx.clock.now());
    ctx.wake.engine();
    return journey;
  });

  app.post('/api/journeys/:id/pause', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    return setJourneyRunning(ctx.store, workspaceId, id, false, ctx.clock.now());
  });

  app.post('/api/journeys/:id/resume', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const journey = await setJourneyRunning(ctx.store, workspaceId, id, true, ctx.clock.now());
    ctx.wake.engine();
    return journey;
  });

  app.delete('/api/journeys/:id', async (request, reply) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    await archiveJourney(ctx.store, workspaceId, id, ctx.clock.now());
    reply.status(204);
  });

  app.get('/api/journeys/:id/stats', async (request) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    await requireJourney(ctx.store, workspaceId, id);
    return journeyStats(ctx.store, workspaceId, id);
  });

  app.get('/api/journeys/:id/people/:person', async (request) => {
    const workspaceId = await ws(request);
    const { id, person } = parseOrThrow(personParamsSchema, request.params);
    const { by } = parseOrThrow(byQuerySchema, request.query);
    await requireJourney(ctx.store, workspaceId, id);
    const userKey = await personKey(ctx.store, workspaceId, by, person, 'person');
    return { userKey, instances: await personPath(ctx.store, workspaceId, id, userKey) };
  });

  app.post('/api/journeys/:id/enroll', async (request, reply) => {
    const workspaceId = await ws(request);
    const { id } = parseOrThrow(idParams, request.params);
    const body = parseOrThrow(enrollBodySchema, request.body);
    const userKey = await namedPersonKey(ctx.store, workspaceId, body);
    const result = await enrollViaApi(ctx.store, workspaceId, id, { ...body, userKey }, ctx.clock.now());
    ctx.wake.engine();
    reply.status(result.entered ? 201 : 200);
    return result;
  });

  app.get('/api/outbox', async (request) => {
    const workspaceId = await ws(request);
    const q = parseOrThrow(outboxQuerySchema, request.query);
    return { messages: await listOutbox(ctx.store, workspaceId, q) };
  });
}
