import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { getProduct, listProducts, productsBodySchema, upsertProducts } from '../commerce/index.ts';
import { AppError } from '../core/errors.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';

export const productListQuerySchema = z.object({
  category: z.string().optional().describe('A category path; includes everything below it'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export function registerCatalogRoutes(app: FastifyInstance, ctx: ApiContext) {
  app.post('/api/products', { bodyLimit: 20 * 1024 * 1024 }, async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const body = parseOrThrow(productsBodySchema, request.body);
    const upserted = await upsertProducts(ctx.store, ws.workspaceId, body.products, ctx.clock.now());
    return { upserted };
  });

  app.get('/api/products', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const q = parseOrThrow(productListQuerySchema, request.query);
    return { products: await listProducts(ctx.store, ws.workspaceId, q) };
  });

  app.get('/api/products/:id', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const { id } = request.params as { id: string };
    const product = await getProduct(ctx.store, ws.workspaceId, id);
    if (!product) throw new AppError('not_found', `no product "${id}"`, 'id');
    return product;
  });
}
