import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { ApiContext } from '../src/api/context.ts';
import { registerMemberRoutes } from '../src/api/member-routes.ts';
import { memberPaths, memberSchemas } from '../src/api/openapi-members.ts';

interface Operation {
  summary: string;
  security?: unknown[];
  responses: Record<string, unknown>;
}
const paths = memberPaths as unknown as Record<string, Record<string, Operation>>;

describe('membership API in OpenAPI', () => {
  it('documents every membership route, each behind the admin key', async () => {
    const app = Fastify();
    const routes: string[] = [];
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat())
        if (method !== 'HEAD') routes.push(`${method.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    });
    // Registering reads nothing from the context; handlers that would are never called.
    registerMemberRoutes(app, {} as ApiContext);
    await app.ready();
    const documented = Object.entries(paths).flatMap(([url, ops]) => Object.keys(ops).map((m) => `${m} ${url}`));
    expect(routes.sort()).toEqual(documented.sort());
    for (const [url, ops] of Object.entries(paths)) {
      for (const op of Object.values(ops)) {
        expect(op.summary, url).toBeTruthy();
        expect(op.security, url).toEqual([{ adminKey: [] }]);
        expect(op.responses['401'], url).toBeDefined();
      }
    }
  });

  it('has components from the zod schemas, with their descriptions', () => {
    const settings = memberSchemas.MembershipSettings as { properties: Record<string, { description?: string }> };
    expect(Object.keys(settings.properties)).toEqual(
      expect.arrayContaining(['pointsPerUnit', 'expiryDays', 'tiers', 'memberDays', 'timezone']),
    );
    expect(settings.properties.expiryDays!.description).toContain('expire');
    const campaign = memberSchemas.PointsCampaignInput as { properties: Record<string, unknown>; required: string[] };
    expect(campaign.required).toEqual(expect.arrayContaining(['name', 'startsAt', 'endsAt', 'multiplier']));
    expect(Object.keys(memberSchemas)).toEqual(
      expect.arrayContaining([
        'Member',
        'LedgerEntry',
        'JoinMemberRequest',
        'SpendPointsRequest',
        'AdjustPointsRequest',
        'PointsMoveResult',
      ]),
    );
  });
});
