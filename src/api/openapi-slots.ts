import { z } from 'zod';
import { decideQuerySchema, reportQuerySchema, slotContentSchema, slotInputSchema, slotVariantSchema } from '../commerce/slots/index.ts';
import { json, schema } from './openapi-kit.ts';
import { previewQuerySchema } from './slot-routes.ts';

/** OpenAPI pieces of the content slots API; merged into the document by openapi.ts. */
const adminAuth = [{ adminKey: [] }];
const writeKeyAuth = [{ writeKey: [] }];
const name = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'Slot name' };
const errors = {
  '400': { description: 'Invalid input (the path names the bad field)', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
  '404': { description: 'Unknown slot', ...json('Error') },
};
/** Query parameters from a zod object schema. */
function queryParams(s: z.ZodType) {
  const js = schema(s) as { properties: Record<string, { description?: string }>; required?: string[] };
  return Object.entries(js.properties).map(([n, p]) => ({
    name: n,
    in: 'query',
    required: js.required?.includes(n) ?? false,
    schema: p,
    description: p.description,
  }));
}
const op = (summary: string, extra: object = {}) => ({ summary, tags: ['Slots'], security: adminAuth, ...extra });

const decisionSchema = z
  .object({
    slot: z.string(),
    variant: z.string().nullable().describe('The variant id, "default", "holdout", or null: show nothing'),
    content: slotContentSchema.nullable(),
    source: z.enum(['variant', 'holdout', 'default', 'paused', 'none']).describe('Why this content'),
    decisionId: z.string().describe('Unique per decision'),
    track: z
      .object({ slot: z.string(), variant: z.string().nullable(), decision_id: z.string() })
      .describe('Send these as the properties of `Content Viewed` and `Content Clicked`'),
    clickUrl: z
      .string()
      .optional()
      .describe(
        'When the content has an absolute `link`: a signed redirect to it that records `Content Clicked` (use it where no script runs)',
      ),
  })
  .describe('Decision');

export const slotSchemas = {
  SlotInput: schema(slotInputSchema),
  SlotVariant: schema(slotVariantSchema),
  Decision: schema(decisionSchema),
};

export const slotPaths = {
  '/v1/decide': {
    get: {
      summary: 'What this person sees in a slot (from memory: no query per call)',
      tags: ['Slots'],
      security: writeKeyAuth,
      parameters: queryParams(decideQuerySchema),
      responses: { '200': { description: 'The decision', ...json('Decision') }, ...errors },
    },
  },
  '/s/{token}': {
    get: {
      summary: 'Follow a decision’s clickUrl: records `Content Clicked` (once per decision) and redirects to the content link',
      tags: ['Slots'],
      parameters: [{ name: 'token', in: 'path', required: true, schema: { type: 'string' }, description: 'From `clickUrl`' }],
      responses: {
        '302': { description: 'To the link of the variant shown (as the slot says now)' },
        '404': { description: 'A forged or mangled token, or the variant has no absolute link any more', ...json('Error') },
      },
    },
  },
  '/api/slots': {
    post: op('Create a slot', {
      requestBody: json('SlotInput'),
      responses: { '201': { description: 'The slot' }, ...errors, '409': { description: 'Name taken', ...json('Error') } },
    }),
    get: op('Every slot', { responses: { '200': { description: '{slots}' }, ...errors } }),
  },
  '/api/slots/{name}': {
    get: op('One slot', { parameters: [name], responses: { '200': { description: 'The slot' }, ...errors } }),
    put: op('Replace a slot (decides through this process see it at once, others within a second)', {
      parameters: [name],
      requestBody: json('SlotInput'),
      responses: { '200': { description: 'The slot' }, ...errors },
    }),
    delete: op('Delete a slot (its events and report stay)', {
      parameters: [name],
      responses: { '204': { description: 'Deleted' }, ...errors },
    }),
  },
  '/api/slots/{name}/preview': {
    get: op('What a person would see (the operator’s check)', {
      parameters: [name, ...queryParams(previewQuerySchema)],
      responses: { '200': { description: 'The decision', ...json('Decision') }, ...errors },
    }),
  },
  '/api/slots/{name}/report': {
    get: op('Impressions, clicks, CTR and conversions per variant, with lift against the holdout', {
      parameters: [name, ...queryParams(reportQuerySchema)],
      responses: { '200': { description: '{slot, from, to, conversionEvent, windowDays, variants}' }, ...errors },
    }),
  },
};
