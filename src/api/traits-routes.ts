import type { FastifyInstance } from 'fastify';
import {
  getLifecycleRules,
  lifecycleRulesSchema,
  reapplyLifecycle,
  refreshComputedTraits,
  saveLifecycleRules,
} from '../profiles/computed-traits/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';

/**
 * Lifecycle rules and computed-trait refresh. GET and PUT exchange the rules document itself; PUT
 * takes the whole document (omitted fields take their defaults) and re-evaluates every person's stage at once,
 * so segments on `lifecycle` see the new rules without waiting for the next refresh.
 */
export function registerTraitsRoutes(app: FastifyInstance, ctx: Pick<ApiContext, 'store' | 'clock' | 'keys'>) {
  app.get('/api/settings/lifecycle', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    return getLifecycleRules(ctx.store, ws.workspaceId);
  });

  app.put('/api/settings/lifecycle', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const rules = parseOrThrow(lifecycleRulesSchema, request.body ?? {});
    const now = ctx.clock.now();
    await saveLifecycleRules(ctx.store, ws.workspaceId, rules, now);
    await reapplyLifecycle(ctx.store, ws.workspaceId, now);
    return rules;
  });

  app.post('/api/traits/refresh', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    return refreshComputedTraits(ctx.store, ws.workspaceId, ctx.clock.now());
  });
}
