import { z } from 'zod';
import { productSchema, productsBodySchema } from '../commerce/index.ts';
import {
  aliasSchema,
  batchSchema,
  commerceEvents,
  groupSchema,
  identifySchema,
  pageSchema,
  screenSchema,
  trackSchema,
} from '../core/events.ts';
import { errorBodySchema } from './errors.ts';
import { couponPaths, couponSchemas } from './openapi-coupons.ts';
import { journeyPaths, journeySchemas } from './openapi-journeys.ts';
import { memberPaths, memberSchemas } from './openapi-members.ts';
import { messagingPaths, messagingSchemas } from './openapi-messaging.ts';
import { recommendationPaths, recommendationSchemas } from './openapi-recommendations.ts';
import { segmentPaths, segmentSchemas } from './openapi-segments.ts';
import { slotPaths, slotSchemas } from './openapi-slots.ts';
import { templatePaths, templateSchemas } from './openapi-templates.ts';
import { traitsPaths, traitsSchemas } from './openapi-traits.ts';
import { newWorkspaceSchema } from './workspace-routes.ts';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });

const personSchema = z.object({
  userKey: z.number().describe('Internal key'),
  identities: z.array(z.object({ type: z.string(), value: z.string() })),
  traits: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
  computed: z.record(z.string(), z.unknown()).nullable().describe('Computed traits and predictions'),
  segments: z.array(z.object({ segmentId: z.number(), name: z.string(), enteredAt: z.string() })),
  events: z.array(
    z.object({
      messageId: z.string(),
      type: z.string(),
      event: z.string().nullable(),
      timestamp: z.string(),
      receivedAt: z.string(),
      properties: z.record(z.string(), z.unknown()).nullable(),
    }),
  ),
});

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({
  content: { 'application/json': { schema: ref(name) } },
});
const errors = {
  '400': { description: 'Invalid input', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
};
/** The `{id}` of a path. */
const pathId = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const writeKeyAuth = [{ writeKey: [] }];
const adminAuth = [{ adminKey: [] }];
const ingestResult = {
  '200': {
    description: 'Committed',
    content: {
      'application/json': {
        schema: {
          type: 'object',
          properties: {
            success: { type: 'boolean' },
            stored: { type: 'integer' },
            duplicates: { type: 'integer' },
          },
        },
      },
    },
  },
  ...errors,
  '413': {
    description: 'Event over 32 KB or batch over 500 KB',
    ...json('Error'),
  },
};

/** The OpenAPI 3.1 document served at /api/openapi.json. Components come from the zod schemas. */
export function openApiDocument() {
  const tracking = Object.fromEntries(
    (['track', 'identify', 'alias', 'page', 'screen', 'group'] as const).map((t) => [
      `/v1/${t}`,
      {
        post: {
          summary: `Segment ${t} call`,
          description: `Also served at \`/v1/${t[0]}\`, the path Segment's browser library posts to.`,
          tags: ['Tracking'],
          security: writeKeyAuth,
          requestBody: json(t[0]!.toUpperCase() + t.slice(1)),
          responses: ingestResult,
        },
      },
    ]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Shopflow API',
      version: '0.1.0',
      description: 'Tracking (Segment spec) and admin API',
    },
    components: {
      securitySchemes: {
        writeKey: {
          type: 'http',
          scheme: 'basic',
          description: 'Workspace write key as the user name, empty password',
        },
        adminKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'Workspace admin key',
        },
      },
      schemas: {
        Track: schema(trackSchema),
        Identify: schema(identifySchema),
        Alias: schema(aliasSchema),
        Page: schema(pageSchema),
        Screen: schema(screenSchema),
        Group: schema(groupSchema),
        Batch: schema(batchSchema),
        Product: schema(productSchema),
        Products: schema(productsBodySchema),
        Person: schema(personSchema),
        Error: schema(errorBodySchema),
        NewWorkspace: schema(newWorkspaceSchema),
        ...segmentSchemas,
        ...traitsSchemas,
        ...journeySchemas,
        ...templateSchemas,
        ...messagingSchemas,
        ...couponSchemas,
        ...recommendationSchemas,
        ...memberSchemas,
        ...slotSchemas,
        ...Object.fromEntries(Object.entries(commerceEvents).map(([name, s]) => [`Commerce_${name.replace(/ /g, '')}`, schema(s)])),
      },
    },
    paths: {
      ...tracking,
      '/v1/batch': {
        post: {
          summary: 'Many events in one request',
          description: "Also served at `/v1/b` (Segment's mobile libraries, analytics.js batching) and `/v1/import` (analytics-java).",
          tags: ['Tracking'],
          security: writeKeyAuth,
          requestBody: json('Batch'),
          responses: ingestResult,
        },
      },
      '/api/people/{id}': {
        get: {
          summary: 'A person: identities, traits and recent events',
          tags: ['People'],
          security: adminAuth,
          parameters: [
            pathId,
            {
              name: 'by',
              in: 'query',
              schema: { type: 'string', default: 'user_id' },
              description: 'Identity type of id',
            },
            {
              name: 'events',
              in: 'query',
              schema: { type: 'integer', default: 50 },
            },
          ],
          responses: {
            '200': { description: 'The person', ...json('Person') },
            ...errors,
            '404': { description: 'Unknown', ...json('Error') },
          },
        },
      },
      '/api/people/{id}/identity-history': {
        get: {
          summary: 'Merge audit trail and identity conflicts of a person',
          tags: ['People'],
          security: adminAuth,
          parameters: [pathId],
          responses: {
            '200': { description: 'Merges and conflicts' },
            ...errors,
          },
        },
      },
      '/api/products': {
        post: {
          summary: 'Insert or replace products',
          tags: ['Catalog'],
          security: adminAuth,
          requestBody: json('Products'),
          responses: { '200': { description: 'Count' }, ...errors },
        },
        get: {
          summary: 'List products',
          tags: ['Catalog'],
          security: adminAuth,
          parameters: [
            { name: 'category', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer' } },
            { name: 'offset', in: 'query', schema: { type: 'integer' } },
          ],
          responses: { '200': { description: 'Products' }, ...errors },
        },
      },
      '/api/products/{id}': {
        get: {
          summary: 'One product',
          tags: ['Catalog'],
          security: adminAuth,
          parameters: [pathId],
          responses: {
            '200': { description: 'The product', ...json('Product') },
            ...errors,
          },
        },
      },
      '/api/workspaces': {
        post: {
          summary: 'Create a workspace; returns its keys (admin key shown once)',
          tags: ['Workspace'],
          security: adminAuth,
          requestBody: json('NewWorkspace'),
          responses: {
            '200': { description: 'Keys' },
            ...errors,
            '409': { description: 'Name taken', ...json('Error') },
          },
        },
      },
      '/api/workspace': {
        get: {
          summary: 'The workspace of the admin key, with counts',
          tags: ['Workspace'],
          security: adminAuth,
          responses: { '200': { description: 'Workspace' }, ...errors },
        },
      },
      ...segmentPaths,
      ...traitsPaths,
      ...journeyPaths,
      ...templatePaths,
      ...messagingPaths,
      ...couponPaths,
      ...recommendationPaths,
      ...memberPaths,
      ...slotPaths,
      '/health': {
        get: {
          summary: 'Liveness and store check',
          tags: ['Ops'],
          responses: { '200': { description: 'OK' } },
        },
      },
    },
  };
}
