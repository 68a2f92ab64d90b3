import { partialSchema, renderedMessageSchema, templateSchema } from '../messaging/index.ts';
import { json, schema } from './openapi-kit.ts';
import { partialBodySchema, previewBodySchema, templatesQuerySchema } from './template-routes.ts';

/** OpenAPI pieces of the templates API; merged into the document by openapi.ts. */
const adminAuth = [{ adminKey: [] }];
const errors = {
  '400': { description: 'Invalid input; a Liquid syntax error names the field (`fields.html`) and its line and column', ...json('Error') },
  '401': { description: 'Missing or unknown key', ...json('Error') },
  '404': { description: 'Unknown template or partial', ...json('Error') },
};
const inUse = (what: string) => ({ '409': { description: what, ...json('Error') } });
const name = (what: string) => ({ name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: `${what} name` });
const op = (summary: string, extra: object = {}) => ({ summary, tags: ['Templates'], security: adminAuth, ...extra });
const channelQuery = (() => {
  const js = schema(templatesQuerySchema) as { properties: Record<string, { description?: string }> };
  return Object.entries(js.properties).map(([n, p]) => ({ name: n, in: 'query', schema: p, description: p.description }));
})();

export const templateSchemas = {
  Template: schema(templateSchema),
  TemplatePartial: schema(partialSchema),
  TemplatePartialBody: schema(partialBodySchema),
  TemplatePreviewRequest: schema(previewBodySchema),
  RenderedMessage: schema(renderedMessageSchema),
};

export const templatePaths = {
  '/api/templates': {
    post: op('Save a template (every field is parsed; syntax errors come back with their path)', {
      requestBody: json('Template'),
      responses: { '201': { description: 'The template', ...json('Template') }, ...errors, ...inUse('Name taken') },
    }),
    get: op('Templates of the workspace', {
      parameters: channelQuery,
      responses: { '200': { description: '{templates}' }, ...errors },
    }),
  },
  '/api/templates/{name}': {
    get: op('One template', {
      parameters: [name('Template')],
      responses: { '200': { description: 'The template', ...json('Template') }, ...errors },
    }),
    put: op('Replace a template (the name in the body, if any, must be the path’s)', {
      parameters: [name('Template')],
      requestBody: json('Template'),
      responses: { '200': { description: 'The template', ...json('Template') }, ...errors },
    }),
    delete: op('Delete a template (refused while a journey sends with it)', {
      parameters: [name('Template')],
      responses: { '204': { description: 'Deleted' }, ...errors, ...inUse('A journey uses it') },
    }),
  },
  '/api/templates/{name}/preview': {
    post: op('Render a template for a real person, with a made-up event, coupon and products', {
      parameters: [name('Template')],
      requestBody: json('TemplatePreviewRequest'),
      responses: {
        '200': { description: 'The rendered fields, and the context the template saw (`context`)', ...json('RenderedMessage') },
        ...errors,
      },
    }),
  },
  '/api/template-partials': {
    post: op("Save a partial, usable as {% render 'name' %}", {
      requestBody: json('TemplatePartial'),
      responses: { '201': { description: 'The partial' }, ...errors, ...inUse('Name taken') },
    }),
    get: op('Partials of the workspace, with their sources', { responses: { '200': { description: '{partials}' }, ...errors } }),
  },
  '/api/template-partials/{name}': {
    get: op('One partial', { parameters: [name('Partial')], responses: { '200': { description: 'The partial' }, ...errors } }),
    put: op('Replace a partial’s source', {
      parameters: [name('Partial')],
      requestBody: json('TemplatePartialBody'),
      responses: { '200': { description: 'The partial' }, ...errors },
    }),
    delete: op('Delete a partial (refused while a template or partial renders it)', {
      parameters: [name('Partial')],
      responses: { '204': { description: 'Deleted' }, ...errors, ...inUse('In use') },
    }),
  },
};
