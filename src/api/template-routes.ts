import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import {
  createPartial,
  createTemplate,
  deletePartial,
  deleteTemplate,
  listPartials,
  listTemplates,
  partialSchema,
  renderForPerson,
  requirePartial,
  requireTemplate,
  templateChannels,
  templateNameSchema,
  templateSchema,
  updatePartial,
  updateTemplate,
} from '../messaging/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';
import { namedPersonKey, personFields } from './person-lookup.ts';

const nameParams = z.object({ name: templateNameSchema });

export const templatesQuerySchema = z.object({
  channel: z.enum(templateChannels).optional().describe('Only templates of this channel'),
});

export const partialBodySchema = partialSchema.partial({ name: true }).describe('A partial; the name comes from the path');

export const previewBodySchema = z.strictObject({
  ...personFields,
  event: z.record(z.string(), z.unknown()).optional().describe('Properties of a made-up triggering event (`event` in the template)'),
  coupon: z
    .strictObject({
      code: z.string().min(1).max(200),
      campaign: z.string().max(200).optional(),
      value: z.number().optional(),
      expires_at: z
        .union([z.iso.datetime({ offset: true }), z.number().int()])
        .optional()
        .describe('ISO date-time or epoch ms'),
    })
    .optional()
    .describe('A made-up coupon (`coupon` in the template)'),
  products: z.array(z.string().min(1).max(200)).max(50).optional().describe('Catalog product ids (`products` in the template)'),
});

/** A PUT body names its template by the path; a different name in the body would be a rename, which journeys would not follow. */
function withPathName(body: unknown, name: string): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const given = (body as { name?: unknown }).name;
  if (given !== undefined && given !== name) {
    throw new AppError('invalid_request', `the body names "${String(given)}" but the path "${name}"; names cannot change`, 'name');
  }
  return { ...body, name };
}

export function registerTemplateRoutes(app: FastifyInstance, ctx: ApiContext) {
  const ws = async (request: Parameters<typeof workspaceFromAdminKey>[1]) => (await workspaceFromAdminKey(ctx.keys, request)).workspaceId;

  app.post('/api/templates', async (request, reply) => {
    const workspaceId = await ws(request);
    const template = parseOrThrow(templateSchema, request.body);
    reply.status(201);
    return createTemplate(ctx.store, workspaceId, template, ctx.clock.now());
  });

  app.get('/api/templates', async (request) => {
    const workspaceId = await ws(request);
    const q = parseOrThrow(templatesQuerySchema, request.query);
    return { templates: await listTemplates(ctx.store, workspaceId, q.channel) };
  });

  app.get('/api/templates/:name', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(nameParams, request.params);
    return requireTemplate(ctx.store, workspaceId, name);
  });

  app.put('/api/templates/:name', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(nameParams, request.params);
    const template = parseOrThrow(templateSchema, withPathName(request.body, name));
    return updateTemplate(ctx.store, workspaceId, template, ctx.clock.now());
  });

  app.delete('/api/templates/:name', async (request, reply) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(nameParams, request.params);
    await deleteTemplate(ctx.store, workspaceId, name);
    reply.status(204);
  });

  app.post('/api/templates/:name/preview', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(nameParams, request.params);
    const body = parseOrThrow(previewBodySchema, request.body);
    await requireTemplate(ctx.store, workspaceId, name);
    const userKey = await namedPersonKey(ctx.store, workspaceId, body);
    const { rendered, context } = await renderForPerson(
      ctx.store,
      workspaceId,
      { template: name, userKey, event: body.event, coupon: body.coupon, products: body.products },
      ctx.clock.now(),
    );
    return { ...rendered, context };
  });

  app.post('/api/template-partials', async (request, reply) => {
    const workspaceId = await ws(request);
    const partial = parseOrThrow(partialSchema, request.body);
    reply.status(201);
    return createPartial(ctx.store, workspaceId, partial, ctx.clock.now());
  });

  app.get('/api/template-partials', async (request) => ({ partials: await listPartials(ctx.store, await ws(request)) }));

  app.get('/api/template-partials/:name', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(nameParams, request.params);
    return requirePartial(ctx.store, workspaceId, name);
  });

  app.put('/api/template-partials/:name', async (request) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(nameParams, request.params);
    const partial = parseOrThrow(partialSchema, withPathName(request.body, name));
    return updatePartial(ctx.store, workspaceId, partial, ctx.clock.now());
  });

  app.delete('/api/template-partials/:name', async (request, reply) => {
    const workspaceId = await ws(request);
    const { name } = parseOrThrow(nameParams, request.params);
    await deletePartial(ctx.store, workspaceId, name);
    reply.status(204);
  });
}
