import type { z } from 'zod';
import { modelStateSchema, recommendationSpecSchema, recommendedProductSchema } from '../commerce/recommendations/index.ts';
import { json, schema } from './openapi-kit.ts';
import { recommendationListSchema, recommendationQueryExtras } from './recommendation-routes.ts';

/** OpenAPI pieces of the recommendations API; merged into the document by openapi.ts. */
const adminAuth = [{ adminKey: [] }];
const errors = {
  '400': { description: 'Invalid input (the path names the parameter)', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
};
const op = <T extends object>(summary: string, extra: T) => ({ summary, tags: ['Recommendations'], security: adminAuth, ...extra });

/** Query parameters from the schemas (the spec's fields and the extras), with their descriptions. */
function queryParameters(...schemas: z.ZodType[]) {
  return schemas.flatMap((s) => {
    const js = schema(s) as { properties: Record<string, { description?: string }> };
    return Object.entries(js.properties).map(([name, p]) => ({ name, in: 'query', schema: p, description: p.description }));
  });
}

export const recommendationSchemas = {
  Recommendation: schema(recommendationSpecSchema),
  RecommendedProduct: schema(recommendedProductSchema),
  RecommendationList: schema(recommendationListSchema),
  RecommendationModel: schema(modelStateSchema),
};

const listResponse = { '200': { description: 'The list, best first', ...json('RecommendationList') }, ...errors };

export const recommendationPaths = {
  '/api/people/{id}/recommendations': {
    get: op("A person's recommendations by one strategy and its rules", {
      description:
        'Strategies: related (bought together / after, item-to-item), same_category, popular, trending, recently_viewed, persona, ' +
        'segment (with segmentId). Rules: what the person bought, out-of-stock products and the `product` ones are left out; ' +
        'perCategory caps a leaf category; fallback fills a thin list with best sellers (source "fallback").',
      parameters: [
        { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
        ...queryParameters(recommendationSpecSchema, recommendationQueryExtras),
      ],
      responses: { ...listResponse, '404': { description: 'No such person or segment', ...json('Error') } },
    }),
  },
  '/api/recommendations': {
    get: op('A list for no one in particular: best sellers, trending, a segment’s favourites, or products related to `product`', {
      parameters: queryParameters(recommendationSpecSchema, recommendationQueryExtras.omit({ by: true })),
      responses: { ...listResponse, '404': { description: 'No such segment', ...json('Error') } },
    }),
  },
  '/api/recommendations/model': {
    get: op('The item-to-item model: when it was built and its size', {
      responses: { '200': { description: 'Model state', ...json('RecommendationModel') }, ...errors },
    }),
    post: op('Rebuild the item-to-item model from order history now (also done when `related` finds it missing or a day old)', {
      responses: { '200': { description: 'Model state', ...json('RecommendationModel') }, ...errors },
    }),
  },
};
