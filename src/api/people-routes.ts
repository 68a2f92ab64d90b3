import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import { identityTypes, normalizeIdentity } from '../core/identities.ts';
import { getPerson, identityHistory } from '../profiles/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';

export const personQuerySchema = z.object({
  by: z.enum(identityTypes).default('user_id').describe('Which identity the path names (default user_id)'),
  events: z.coerce.number().int().min(0).max(1000).default(50).describe('How many recent events to return'),
});

export function registerPeopleRoutes(app: FastifyInstance, ctx: ApiContext) {
  app.get('/api/people/:id', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const { id } = request.params as { id: string };
    const q = parseOrThrow(personQuerySchema, request.query);
    const value = normalizeIdentity(q.by, id);
    if (value === null) throw new AppError('invalid_request', `not a valid ${q.by}`, 'id');
    const person = await getPerson(ctx.store, ws.workspaceId, { type: q.by, value }, q.events);
    if (!person) throw new AppError('not_found', `no person with ${q.by} "${id}"`, 'id');
    return person;
  });

  app.get('/api/people/:id/identity-history', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const { id } = request.params as { id: string };
    const q = parseOrThrow(personQuerySchema, request.query);
    const value = normalizeIdentity(q.by, id);
    const person = value === null ? null : await getPerson(ctx.store, ws.workspaceId, { type: q.by, value }, 0);
    if (!person) throw new AppError('not_found', `no person with ${q.by} "${id}"`, 'id');
    return identityHistory(ctx.store, ws.workspaceId, person.userKey);
  });
}
