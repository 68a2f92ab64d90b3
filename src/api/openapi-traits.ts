import { z } from 'zod';
import { lifecycleRulesSchema } from '../profiles/computed-traits/index.ts';

/** OpenAPI pieces of the computed-traits API; merged into the document by openapi.ts. */
const ref = { $ref: '#/components/schemas/LifecycleRules' };
const body = { content: { 'application/json': { schema: ref } } };
const security = [{ adminKey: [] }];
const errors = {
  '400': { description: 'Invalid input', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '401': { description: 'Missing or unknown key' },
};

export const traitsSchemas = {
  LifecycleRules: z.toJSONSchema(lifecycleRulesSchema, { io: 'input', unrepresentable: 'any' }),
};

export const traitsPaths = {
  '/api/settings/lifecycle': {
    get: {
      summary: 'The lifecycle stage rules',
      tags: ['Computed traits'],
      security,
      responses: { '200': { description: 'Rules', ...body }, ...errors },
    },
    put: {
      summary: 'Replace the lifecycle rules (omitted fields take defaults); every person is re-staged at once',
      tags: ['Computed traits'],
      security,
      requestBody: body,
      responses: { '200': { description: 'Rules', ...body }, ...errors },
    },
  },
  '/api/traits/refresh': {
    post: {
      summary: 'Recompute every person’s computed traits now',
      tags: ['Computed traits'],
      security,
      responses: { '200': { description: '{mode, people, buyers, durationMs}' }, ...errors },
    },
  },
};
