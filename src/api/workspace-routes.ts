import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createWorkspace } from '../workspaces/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';

export const newWorkspaceSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .describe('Workspace name'),
});

export function registerWorkspaceRoutes(app: FastifyInstance, ctx: ApiContext) {
  app.get('/api/workspace', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const [counts] = await ctx.store.query<{
      people: number;
      events: number;
      products: number;
    }>(
      `SELECT (SELECT count(*) FROM users WHERE workspace_id = $1 AND merged_into IS NULL) AS people,
              (SELECT count(*) FROM events WHERE workspace_id = $1) AS events,
              (SELECT count(*) FROM products WHERE workspace_id = $1) AS products`,
      [ws.workspaceId],
    );
    return {
      workspace: ws.name,
      writeKey: ws.writeKey,
      store: ctx.store.dialect,
      counts: {
        people: Number(counts!.people),
        events: Number(counts!.events),
        products: Number(counts!.products),
      },
    };
  });

  // A self-hosted install is one operator: any admin key may create further workspaces.
  // This is how `shopflow keys create --server` works while the server holds the DuckDB file.
  app.post('/api/workspaces', async (request) => {
    await workspaceFromAdminKey(ctx.keys, request);
    const body = parseOrThrow(newWorkspaceSchema, request.body);
    const created = await createWorkspace(ctx.store, body.name, ctx.clock.now());
    return {
      workspace: created.workspace,
      writeKey: created.writeKey,
      adminKey: created.adminKey,
    };
  });
}
