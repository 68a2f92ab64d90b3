import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  absoluteLink,
  CLICKED_EVENT,
  createSlot,
  decideQuerySchema,
  deleteSlot,
  getSlot,
  listSlots,
  reportQuerySchema,
  requireSlot,
  SlotDecider,
  slotClickTarget,
  slotClickToken,
  slotClickWorkspace,
  slotInputSchema,
  slotReport,
  updateSlot,
  verifySlotClickToken,
} from '../commerce/slots/index.ts';
import { AppError } from '../core/errors.ts';
import { normalizeEvent } from '../ingest/index.ts';
import { getMessagingSettings } from '../messaging/index.ts';
import { workspaceFromAdminKey, workspaceFromWriteKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';

/** How often each API process re-reads slots, segment changes and merges made elsewhere. */
const SYNC_MS = 1000;

export const slotNameParams = z.object({ name: z.string().describe('Slot name') });
export const previewQuerySchema = z
  .object({ userId: z.string().trim().min(1).optional(), anonymousId: z.string().trim().min(1).optional() })
  .refine((q) => q.userId !== undefined || q.anonymousId !== undefined, { message: 'send userId or anonymousId', path: ['userId'] });

const deciders = new WeakMap<FastifyInstance, SlotDecider>();

/** The decider of a server (tests and benchmarks sync or warm it directly). */
export function slotDecider(app: FastifyInstance): SlotDecider {
  const d = deciders.get(app);
  if (!d) throw new Error('slot routes are not registered on this server');
  return d;
}

/**
 * Slots: admin CRUD and report under /api/slots (admin key), and the shop's `GET /v1/decide`
 * (write key, as the tracking API). The decider lives with the routes: it starts when the server
 * is ready (loading the workspaces that have slots) and stops when it closes.
 */
export function registerSlotRoutes(app: FastifyInstance, ctx: ApiContext) {
  const decider = new SlotDecider(ctx.store, ctx.clock);
  deciders.set(app, decider);
  app.addHook('onReady', async () => decider.start(SYNC_MS, (err) => app.log.error({ err }, 'slot sync failed')));
  app.addHook('onClose', async () => decider.stop());

  const ws = async (request: Parameters<typeof workspaceFromAdminKey>[1]) => (await workspaceFromAdminKey(ctx.keys, request)).workspaceId;

  // The link secret of each workspace (it never changes once made), for click tokens.
  const secrets = new Map<number, string>();
  const linkSecret = async (workspaceId: number) => {
    let secret = secrets.get(workspaceId);
    if (secret === undefined) {
      secret = (await getMessagingSettings(ctx.store, workspaceId, ctx.clock.now())).linkSecret;
      secrets.set(workspaceId, secret);
    }
    return secret;
  };
  const workspaceExists = async (workspaceId: number) =>
    (await ctx.store.query('SELECT 1 AS one FROM workspaces WHERE workspace_id = $1', [workspaceId])).length > 0;

  app.get('/v1/decide', async (request, reply) => {
    const workspace = await workspaceFromWriteKey(ctx.keys, request);
    const q = parseOrThrow(decideQuerySchema, request.query);
    // Per person and per request: no shared cache may keep it.
    reply.header('cache-control', 'no-store');
    const decision = await decider.decide(workspace.workspaceId, q.slot, q);
    if (decision.variant !== null && absoluteLink(decision.content) !== null) {
      const ref = {
        workspaceId: workspace.workspaceId,
        slot: q.slot,
        variant: decision.variant,
        decisionId: decision.decisionId,
        userId: q.userId,
        anonymousId: q.anonymousId,
      };
      const publicUrl = ctx.dispatcher.options.publicUrl.replace(/\/$/, '');
      decision.clickUrl = `${publicUrl}/s/${slotClickToken(await linkSecret(workspace.workspaceId), ref)}`;
    }
    return decision;
  });

  // A click through a decision's clickUrl: record it as the shop's own click event would be, then go.
  // A wildcard, not `:token`: a token naming a long user id is longer than a path parameter may be.
  app.get('/s/*', async (request, reply) => {
    const { '*': token } = parseOrThrow(z.object({ '*': z.string().min(1).max(2000) }), request.params);
    const workspaceId = slotClickWorkspace(token);
    // Only a workspace that exists has a secret (reading one for a made-up id would create it).
    const known = workspaceId !== null && (secrets.has(workspaceId) || (await workspaceExists(workspaceId)));
    const ref = known ? verifySlotClickToken(await linkSecret(workspaceId), token) : null;
    const slot = ref ? await getSlot(ctx.store, ref.workspaceId, ref.slot) : null;
    const target = ref && slot ? slotClickTarget(slot, ref.variant) : null;
    if (!ref || !target) throw new AppError('not_found', 'this link is not valid', 'token');
    const now = ctx.clock.now();
    const raw = {
      type: 'track',
      event: CLICKED_EVENT,
      // One click per decision: reloading the redirect counts once.
      messageId: `slot-click:${ref.decisionId}`,
      ...(ref.userId ? { userId: ref.userId } : {}),
      ...(ref.anonymousId ? { anonymousId: ref.anonymousId } : {}),
      properties: { slot: ref.slot, variant: ref.variant, decision_id: ref.decisionId, via: 'redirect' },
    };
    const normalized = normalizeEvent(raw, [], { workspaceId: ref.workspaceId, receivedAt: now, source: 'api' });
    if (normalized.ok) await ctx.ingest.submit([normalized.event]);
    return reply.redirect(target, 302);
  });

  app.post('/api/slots', async (request, reply) => {
    const workspaceId = await ws(request);
    const input = parseOrThrow(slotInputSchema, request.body);
    const slot = await createSlot(ctx.store, workspaceId, input, ctx.clock.now());
    // Decides through this process see the change as soon as the answer arrives.
    await decider.refresh(workspaceId);
    reply.status(201);
    return slot;
  });

  app.get('/api/slots', async (request) => {
    const workspaceId = await ws(request);
    return { slots: await listSlots(ctx.store, workspaceId) };
  });

  app.get('/api/slots/:name', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(slotNameParams, request.params);
    return requireSlot(ctx.store, workspaceId, name);
  });

  app.put('/api/slots/:name', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(slotNameParams, request.params);
    const input = parseOrThrow(slotInputSchema, request.body);
    const slot = await updateSlot(ctx.store, workspaceId, name, input, ctx.clock.now());
    await decider.refresh(workspaceId);
    return slot;
  });

  app.delete('/api/slots/:name', async (request, reply) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(slotNameParams, request.params);
    await deleteSlot(ctx.store, workspaceId, name);
    await decider.refresh(workspaceId);
    reply.status(204);
  });

  app.get('/api/slots/:name/preview', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(slotNameParams, request.params);
    const q = parseOrThrow(previewQuerySchema, request.query);
    await requireSlot(ctx.store, workspaceId, name);
    // The workspace may have been loaded before the slot existed in another process: catch up first.
    await decider.load(workspaceId);
    await decider.refresh(workspaceId);
    return decider.decide(workspaceId, name, q, true);
  });

  app.get('/api/slots/:name/report', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(slotNameParams, request.params);
    const q = parseOrThrow(reportQuerySchema, request.query);
    const slot = await requireSlot(ctx.store, workspaceId, name);
    return slotReport(ctx.store, workspaceId, slot, q, ctx.clock.now());
  });
}
