import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  buildModel,
  modelState,
  NO_ONE,
  type RecommendationSpec,
  recommendationSpecSchema,
  recommendedProductSchema,
  recommendForPerson,
  similarityFor,
  specFromQuery,
  strategySchema,
} from '../commerce/recommendations/index.ts';
import { AppError } from '../core/errors.ts';
import { identityTypes } from '../core/identities.ts';
import { getSegment } from '../segments/index.ts';
import { workspaceFromAdminKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { parseOrThrow } from './errors.ts';
import { personKey } from './person-lookup.ts';

/** Query parameters besides the spec (strategy, count, rules: recommendationSpecSchema). */
export const recommendationQueryExtras = z.object({
  by: z.enum(identityTypes).default('user_id').describe('Which identity the path names (default user_id)'),
  product: z
    .string()
    .max(2000)
    .optional()
    .describe('Comma-separated product ids that trigger the list (a product page, a cart): anchors of related, never recommended'),
});

export const recommendationListSchema = z
  .object({
    userKey: z.number().nullable().describe('Whose list (null: no one in particular)'),
    strategy: strategySchema,
    similarity: z.enum(['model', 'live']).describe('related: the precomputed model, or similarities computed for this request'),
    products: z.array(recommendedProductSchema),
  })
  .describe('A list of recommended products, best first');

/** Without a person, these start from the products given; those need a person. */
const fromProducts = new Set(['related', 'same_category']);
const ofPerson = new Set(['recently_viewed', 'persona']);

function parseQuery(raw: unknown): { spec: RecommendationSpec; extras: z.infer<typeof recommendationQueryExtras> } {
  const { by, product, ...rest } = (raw ?? {}) as Record<string, unknown>;
  const extras = parseOrThrow(recommendationQueryExtras, { by, product });
  return { spec: parseOrThrow(recommendationSpecSchema, specFromQuery(rest)), extras };
}

const productsOf = (product: string | undefined): string[] =>
  (product ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function registerRecommendationRoutes(app: FastifyInstance, ctx: ApiContext) {
  /** A list with the catalog's details. `related` builds the model first when it is missing or stale. */
  async function list(workspaceId: number, userKey: number, spec: RecommendationSpec, triggerProducts: string[]) {
    const now = ctx.clock.now();
    if (spec.segmentId !== undefined && spec.strategy === 'segment' && !(await getSegment(ctx.store, workspaceId, spec.segmentId))) {
      throw new AppError('not_found', `no segment ${spec.segmentId}`, 'segmentId');
    }
    if (spec.strategy === 'related') await buildModel(ctx.store, workspaceId, now, { force: false });
    const similarity = await similarityFor(ctx.store, workspaceId, now, spec);
    const products = await recommendForPerson(ctx.store, workspaceId, now, spec, { userKey, triggerProducts }, { similarity });
    return { userKey: userKey === NO_ONE ? null : userKey, strategy: spec.strategy, similarity, products };
  }

  app.get('/api/people/:id/recommendations', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const { id } = request.params as { id: string };
    const { spec, extras } = parseQuery(request.query);
    const userKey = await personKey(ctx.store, ws.workspaceId, extras.by, id, 'id');
    return list(ws.workspaceId, userKey, spec, productsOf(extras.product));
  });

  app.get('/api/recommendations', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    const { spec, extras } = parseQuery(request.query);
    const products = productsOf(extras.product);
    if (ofPerson.has(spec.strategy)) {
      throw new AppError('invalid_request', `${spec.strategy} is about a person: use /api/people/{id}/recommendations`, 'strategy');
    }
    if (fromProducts.has(spec.strategy) && products.length === 0) {
      throw new AppError('invalid_request', `${spec.strategy} starts from products: give product=<id>[,<id>…]`, 'product');
    }
    return list(ws.workspaceId, NO_ONE, spec, products);
  });

  app.get('/api/recommendations/model', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    return modelState(ctx.store, ws.workspaceId, ctx.clock.now());
  });

  app.post('/api/recommendations/model', async (request) => {
    const ws = await workspaceFromAdminKey(ctx.keys, request);
    return buildModel(ctx.store, ws.workspaceId, ctx.clock.now(), { force: true });
  });
}
