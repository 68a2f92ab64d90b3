import { journeyDefinitionSchema, journeyInputSchema } from '../journeys/index.ts';
import { byQuerySchema, enrollBodySchema, outboxQuerySchema, personParamsSchema } from './journey-routes.ts';
import { json, params, ref, schema } from './openapi-kit.ts';

/** OpenAPI pieces of the journeys API; merged into the document by openapi.ts. */
const adminAuth = [{ adminKey: [] }];
const errors = {
  '400': { description: 'Invalid input (the path names the bad node or edge)', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
  '404': { description: 'Unknown journey', ...json('Error') },
};
const conflict = { '409': { description: 'Not allowed in the journey’s current status', ...json('Error') } };
const id = { name: 'id', in: 'path', required: true, schema: { type: 'integer' }, description: 'Journey id' };
const op = (summary: string, extra: object = {}) => ({ summary, tags: ['Journeys'], security: adminAuth, ...extra });
const journey = (description: string) => ({ '200': { description }, ...errors });

export const journeySchemas = {
  JourneyDefinition: schema(journeyDefinitionSchema),
  JourneyInput: schema(journeyInputSchema),
  // The route takes any JSON as `definition` so that it can report every problem, not just parse errors.
  ValidateJourneyRequest: { type: 'object', required: ['definition'], properties: { definition: ref('JourneyDefinition') } },
  EnrollRequest: schema(enrollBodySchema),
};

export const journeyPaths = {
  '/api/journeys/validate': {
    post: op('Check a draft definition (schema, graph, referenced segments) without saving it', {
      requestBody: json('ValidateJourneyRequest'),
      responses: { '200': { description: '{valid, problems: [{code, message, path}]}' }, ...errors },
    }),
  },
  '/api/journeys': {
    post: op('Save a journey as a draft', {
      requestBody: json('JourneyInput'),
      responses: { '201': { description: 'The journey' }, ...errors },
    }),
    get: op('Journeys that are not archived', { responses: { '200': { description: '{journeys}' }, ...errors } }),
  },
  '/api/journeys/{id}': {
    get: op('One journey with its live stats', { parameters: [id], responses: journey('The journey and `stats`') }),
    put: op('Replace name, description and definition; on a published or paused journey this publishes a new version', {
      parameters: [id],
      requestBody: json('JourneyInput'),
      responses: { ...journey('The journey'), ...conflict },
    }),
    delete: op('Archive: the journey stops and everyone still inside leaves', {
      parameters: [id],
      responses: { '204': { description: 'Archived' }, ...errors },
    }),
  },
  '/api/journeys/{id}/publish': {
    post: op('Start a draft (version 1), or publish the draft as a new version', {
      parameters: [id],
      responses: { ...journey('The journey'), ...conflict },
    }),
  },
  '/api/journeys/{id}/pause': {
    post: op('Pause: nobody enters or moves until resumed', { parameters: [id], responses: { ...journey('The journey'), ...conflict } }),
  },
  '/api/journeys/{id}/resume': {
    post: op('Resume a paused journey; 400 with every problem if a template, campaign or segment it names is missing', {
      parameters: [id],
      responses: { ...journey('The journey'), ...conflict },
    }),
  },
  '/api/journeys/{id}/stats': {
    get: op('Totals, holdout figures, lift against the holdout, people per node and branch, outbox counts', {
      parameters: [id],
      responses: journey('{entered, active, completed, exited, converted, revenue, holdout, lift, nodes, outbox}'),
    }),
  },
  '/api/journeys/{id}/people/{person}': {
    get: op("A person's way through the journey: each instance with its steps and outbox rows", {
      parameters: [id, ...params(personParamsSchema.omit({ id: true }), 'path'), ...params(byQuerySchema, 'query')],
      responses: { ...journey('{userKey, instances}'), '404': { description: 'Unknown journey or person', ...json('Error') } },
    }),
  },
  '/api/journeys/{id}/enroll': {
    post: op('Enrol a person into a journey with an API trigger (re-entry rules and holdout apply)', {
      parameters: [id],
      requestBody: json('EnrollRequest'),
      responses: {
        '201': { description: '{entered: true, instanceId}' },
        '200': { description: '{entered: false, instanceId}: refused by the re-entry rules, or a retry of an idempotency key' },
        ...errors,
        ...conflict,
      },
    }),
  },
  '/api/outbox': {
    get: op('Messages and actions journeys queued, in message-key order', {
      parameters: params(outboxQuerySchema, 'query'),
      responses: { '200': { description: '{messages}' }, ...errors },
    }),
  },
};
