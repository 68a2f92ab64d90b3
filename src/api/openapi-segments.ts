import type { z } from 'zod';
import { segmentDefinitionSchema, segmentInputSchema } from '../segments/index.ts';
import { json, schema } from './openapi-kit.ts';
import { changesQuerySchema, estimateBodySchema, exportQuerySchema, lookalikeBodySchema, membersQuerySchema } from './segment-routes.ts';

/** OpenAPI pieces of the segments API; merged into the document by openapi.ts. */
const adminAuth = [{ adminKey: [] }];
const id = { name: 'id', in: 'path', required: true, schema: { type: 'integer' }, description: 'Segment id' };
const errors = {
  '400': { description: 'Invalid input (the path names the bad node)', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
  '404': { description: 'Unknown segment', ...json('Error') },
};
/** Query parameters from a zod object schema. */
function queryParams(s: z.ZodObject) {
  const js = schema(s) as { properties: Record<string, { description?: string }> };
  return Object.entries(js.properties).map(([name, p]) => ({ name, in: 'query', schema: p, description: p.description }));
}
const op = (summary: string, extra: object = {}) => ({ summary, tags: ['Segments'], security: adminAuth, ...extra });

export const segmentSchemas = {
  SegmentDefinition: schema(segmentDefinitionSchema),
  SegmentInput: schema(segmentInputSchema),
  EstimateRequest: schema(estimateBodySchema),
  LookalikeRequest: schema(lookalikeBodySchema),
};

export const segmentPaths = {
  '/api/segments/estimate': {
    post: op('Size and a sample of a draft definition, without saving it', {
      requestBody: json('EstimateRequest'),
      responses: { '200': { description: '{size, sample, sql, tookMs}' }, ...errors },
    }),
  },
  '/api/segments': {
    post: op('Save a segment and evaluate it', {
      requestBody: json('SegmentInput'),
      responses: {
        '201': { description: 'The segment with its first refresh' },
        ...errors,
        '409': { description: 'Name taken', ...json('Error') },
      },
    }),
    get: op('Active segments with sizes', { responses: { '200': { description: '{segments}' }, ...errors } }),
  },
  '/api/segments/{id}': {
    get: op('One segment', { parameters: [id], responses: { '200': { description: 'The segment' }, ...errors } }),
    put: op('Change a segment (re-evaluated at once)', {
      parameters: [id],
      requestBody: json('SegmentInput'),
      responses: { '200': { description: 'The segment' }, ...errors },
    }),
    delete: op('Archive a segment (refused while another segment, or a journey that is not archived, reads it)', {
      parameters: [id],
      responses: { '204': { description: 'Archived' }, ...errors, '409': { description: 'In use', ...json('Error') } },
    }),
  },
  '/api/segments/{id}/refresh': {
    post: op('Re-evaluate now', { parameters: [id], responses: { '200': { description: '{size, entered, exited, tookMs}' }, ...errors } }),
  },
  '/api/segments/{id}/members': {
    get: op('Current members, by user key', {
      parameters: [id, ...queryParams(membersQuerySchema)],
      responses: { '200': { description: '{members, next}' }, ...errors },
    }),
  },
  '/api/segments/{id}/changes': {
    get: op('Entries and exits after a cursor (what journeys consume)', {
      parameters: [id, ...queryParams(changesQuerySchema)],
      responses: { '200': { description: '{changes}' }, ...errors },
    }),
  },
  '/api/segments/{id}/export': {
    get: op('Members as CSV, or as a DMP audience (hashed identifiers only)', {
      parameters: [id, ...queryParams(exportQuerySchema)],
      responses: { '200': { description: 'text/csv', content: { 'text/csv': { schema: { type: 'string' } } } }, ...errors },
    }),
  },
  '/api/segments/lookalike': {
    post: op('Save the people most similar to a seed segment as a new static segment', {
      requestBody: json('LookalikeRequest'),
      responses: { '201': { description: 'The new segment with a summary of scores' }, ...errors },
    }),
  },
};
