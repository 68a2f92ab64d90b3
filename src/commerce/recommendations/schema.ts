import { z } from 'zod';

/**
 * What to recommend: one schema for the journey node, the API and templates. Only zod here, so
 * the journey definition (and later the console) can import it without the SQL behind it.
 */
export const strategies = ['related', 'same_category', 'popular', 'trending', 'recently_viewed', 'persona', 'segment'] as const;
export type Strategy = (typeof strategies)[number];

export const strategySchema = z
  .enum(strategies)
  .describe(
    'related: bought together with or soon after the trigger product or the latest purchases (item-to-item, from order history); ' +
      'same_category: best sellers of the category of the last purchase or view; popular: best sellers (units, last 90 days); ' +
      'trending: selling above their usual weekly rate this week; recently_viewed: viewed in the last 30 days; ' +
      'persona: favourites of people whose favourite category is the same; segment: favourites of the members of a segment',
  );

/** The rules every strategy goes through, and the parameters some of them need. */
export const recommendationRulesShape = {
  count: z.number().int().min(1).max(50).default(10).describe('How many products'),
  category: z
    .string()
    .min(1)
    .max(500)
    .optional()
    .describe('popular / trending: only this category path and below, e.g. "Electronics > Phones"'),
  segmentId: z.number().int().positive().optional().describe('segment: whose favourites'),
  level: z
    .enum(['top', 'mid', 'leaf'])
    .default('mid')
    .describe('same_category: which level of the category tree is "the same" (mid: Electronics > Phones)'),
  perCategory: z.number().int().min(1).max(50).optional().describe('At most this many products of one leaf category'),
  excludePurchased: z.boolean().default(true).describe('Leave out what the person has bought before'),
  fallback: z.boolean().default(true).describe('Fill up with popular products when the strategy finds fewer (thin history)'),
};

const needsSegment = (s: { strategy: string; segmentId?: number | undefined }) => s.strategy !== 'segment' || s.segmentId !== undefined;
export const segmentRequired = { message: 'the segment strategy needs a segmentId', path: ['segmentId'] };

export const recommendationSpecSchema = z
  .strictObject({ strategy: strategySchema.default('popular'), ...recommendationRulesShape })
  .refine(needsSegment, segmentRequired)
  .describe('What to recommend and by which rules');
export type RecommendationSpec = z.infer<typeof recommendationSpecSchema>;

/** Query strings carry text: numbers and booleans are read from it before the one schema checks them. */
export function specFromQuery(query: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) {
    if (typeof v !== 'string') out[k] = v;
    else if (['count', 'segmentId', 'perCategory'].includes(k)) out[k] = /^\d+$/.test(v) ? Number(v) : v;
    else if (['excludePurchased', 'fallback'].includes(k)) out[k] = v === 'true' ? true : v === 'false' ? false : v;
    else out[k] = v;
  }
  return out;
}

export const recommendedProductSchema = z
  .object({
    productId: z.string(),
    rank: z.number().int().describe('1 = first'),
    score: z.number().describe("The strategy's score (units, similarity, view time…): comparable within one list only"),
    source: z.enum([...strategies, 'fallback']).describe('Which strategy found it; fallback = the popular fill-up'),
    name: z.string().nullable(),
    category: z.string().nullable(),
    price: z.number().nullable(),
    imageUrl: z.string().nullable(),
  })
  .describe('One recommended product');
export type RecommendedProduct = z.infer<typeof recommendedProductSchema>;

export const modelStateSchema = z
  .object({
    builtAt: z.number().nullable().describe('When the item-to-item model was last built (epoch ms); null: never'),
    fresh: z.boolean().describe('Used by `related` (else similarities are computed live for the products at hand)'),
    products: z.number().int(),
    pairs: z.number().int(),
    buyers: z.number().int(),
    tookMs: z.number().nullable(),
  })
  .describe('The precomputed item-to-item similarity model');
export type ModelState = z.infer<typeof modelStateSchema>;
