import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { ApiContext } from '../src/api/context.ts';
import { slotPaths, slotSchemas } from '../src/api/openapi-slots.ts';
import { registerSlotRoutes } from '../src/api/slot-routes.ts';

interface Operation {
  summary: string;
  security?: unknown[];
  parameters?: { name: string; required?: boolean }[];
  responses: Record<string, unknown>;
}
const paths = slotPaths as unknown as Record<string, Record<string, Operation>>;

describe('content slots API in OpenAPI', () => {
  it('documents every slot route: decide behind the write key, the rest behind the admin key', () => {
    const app = Fastify();
    const routes: string[] = [];
    app.addHook('onRoute', (r) => {
      // The click redirect's token is a wildcard (longer than a path parameter may be).
      for (const method of [r.method].flat())
        if (method !== 'HEAD')
          routes.push(`${method.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}').replace(/^\/s\/\*$/, '/s/{token}')}`);
    });
    // Registering reads nothing from the context (the decider starts only when the server is ready).
    registerSlotRoutes(app, {} as ApiContext);
    const documented = Object.entries(paths).flatMap(([url, ops]) => Object.keys(ops).map((m) => `${m} ${url}`));
    expect(routes.sort()).toEqual(documented.sort());
    for (const [url, ops] of Object.entries(paths)) {
      for (const op of Object.values(ops)) {
        expect(op.summary, url).toBeTruthy();
        if (url === '/s/{token}') {
          // A link people follow: the signed token is the credential.
          expect(op.security, url).toBeUndefined();
          continue;
        }
        expect(op.security, url).toEqual([url === '/v1/decide' ? { writeKey: [] } : { adminKey: [] }]);
        expect(op.responses['401'], url).toBeDefined();
      }
    }
    expect(paths['/v1/decide']!.get!.parameters!.map((p) => [p.name, p.required])).toEqual([
      ['slot', true],
      ['userId', false],
      ['anonymousId', false],
    ]);
  });

  it('has components from the zod schemas, with their descriptions', () => {
    const input = slotSchemas.SlotInput as { properties: Record<string, { description?: string }> };
    expect(Object.keys(input.properties)).toEqual([
      'name',
      'placement',
      'description',
      'status',
      'holdoutPercent',
      'defaultContent',
      'variants',
    ]);
    expect(input.properties.holdoutPercent!.description).toMatch(/control group/);
    const variant = slotSchemas.SlotVariant as { properties: Record<string, { description?: string }> };
    expect(variant.properties.weight!.description).toMatch(/A\/B split/);
    expect(Object.keys((slotSchemas.Decision as { properties: object }).properties)).toEqual([
      'slot',
      'variant',
      'content',
      'source',
      'decisionId',
      'track',
      'clickUrl',
    ]);
  });
});
