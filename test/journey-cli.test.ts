import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContext } from '../src/api/context.ts';
import { registerJourneyRoutes } from '../src/api/journey-routes.ts';
import { openApiDocument } from '../src/api/openapi.ts';
import { placeholderTemplate } from '../src/sim/index.ts';
import { shopflowAsync } from './cli-process.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/** `shopflow journeys …` against a running server, as an operator would use it. */
const welcome = {
  nodes: [
    { id: 'signup', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
    { id: 'hello', type: 'send', channel: 'email', template: 'welcome' },
    { id: 'browse', type: 'wait_for_event', event: 'Product Viewed', timeout: '2d' },
    { id: 'follow', type: 'send', channel: 'push', template: 'browse-followup' },
    { id: 'remind', type: 'send', channel: 'sms', template: 'come-back' },
    { id: 'done', type: 'exit' },
  ],
  edges: [
    { from: 'signup', to: 'hello' },
    { from: 'hello', to: 'browse' },
    { from: 'browse', branch: 'event', to: 'follow' },
    { from: 'browse', branch: 'timeout', to: 'remind' },
    { from: 'follow', to: 'done' },
    { from: 'remind', to: 'done' },
  ],
  settings: { goal: { event: 'Order Completed' } },
};

/** Schema problems (a send without a template, a bad duration) and, separately, a graph problem. */
const badSchema = {
  nodes: [
    { id: 'signup', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
    { id: 'hello', type: 'send', channel: 'email' },
    { id: 'pause', type: 'wait', wait: { kind: 'duration', duration: 'a while' } },
  ],
  edges: [],
};
const badGraph = { nodes: welcome.nodes, edges: [...welcome.edges.slice(0, 5), { from: 'remind', to: 'nowhere' }] };

/** Entered through POST /enroll, wrapped as the API takes it (name in the file). */
const concierge = {
  name: 'Concierge',
  description: 'Hand-picked offers for VIPs',
  definition: {
    nodes: [
      { id: 'api', type: 'entry', trigger: { kind: 'api' } },
      { id: 'offer', type: 'send', channel: 'wechat', template: 'vip-offer' },
    ],
    edges: [{ from: 'api', to: 'offer' }],
  },
};

describe.each(engines)('journeys CLI on %s', (engine) => {
  let h: Harness;
  let url: string;
  /** The event-triggered journey, and the API-triggered one. */
  let id = '';
  let vip = '';
  const dir = mkdtempSync(join(tmpdir(), 'shopflow-journeys-'));
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };
  const cli = (...args: string[]) => shopflowAsync(['journeys', ...args, '--server', url, '--admin-key', h.keys.adminKey]);
  const track = async (events: Record<string, unknown>[]) => {
    const batch = events.map((e) => ({ type: 'track', ...e }));
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch },
    });
    expect(res.statusCode).toBe(200);
  };
  const admin = (method: 'GET' | 'POST', url: string) => h.server.app.inject({ method, url, headers: { authorization: h.adminAuth } });
  const tick = () => h.server.journeys.tickWorkspace(h.keys.workspaceId);

  beforeAll(async () => {
    h = await startHarness(engine);
    url = await h.listen();
    // Publishing refuses a journey that sends with a template the workspace lacks.
    for (const [name, channel] of Object.entries({
      welcome: 'email',
      'welcome-v2': 'email',
      'browse-followup': 'push',
      'come-back': 'sms',
      'vip-offer': 'wechat',
    })) {
      expect((await h.admin('POST', '/api/templates', placeholderTemplate(name, channel))).status).toBe(201);
    }
  });
  afterAll(async () => h?.dispose());

  // Each CLI run starts a Node process (~2 s of CPU): runs are few, and parallel where independent.
  it('validates, creates, publishes and lists', async () => {
    const [bad, good] = await Promise.all([
      cli('validate', '--file', file('bad-schema.json', badSchema)),
      cli('validate', '--file', file('welcome.json', welcome)),
    ]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/definition\.nodes\[1\]\.template: .*\n/);
    expect(bad.stdout).toMatch(/definition\.nodes\[2\]\.wait\.duration: .*\n/);
    expect(good.status).toBe(0);
    expect(good.stdout).toContain('valid');

    const created = await cli('create', '--name', 'Welcome', '--file', join(dir, 'welcome.json'));
    expect(created.stdout).toMatch(/journey \d+ "Welcome": draft/);
    id = created.stdout.match(/journey (\d+)/)![1]!;
    // A draft never published has no version to show (the API says 0).
    expect((await cli('list')).stdout).toMatch(/Welcome\s+draft\s+–\s/);
    expect((await cli('publish', id)).stdout).toContain('published, version 1');
    expect(JSON.parse((await cli('list', '--json')).stdout)).toMatchObject([{ name: 'Welcome', status: 'published', version: 1 }]);
  });

  it("shows where people are, per node, and a person's path", async () => {
    await track([
      { userId: 'ann', event: 'Signed Up' },
      { userId: 'bob', event: 'Signed Up' },
    ]);
    await tick();
    await track([
      { userId: 'ann', event: 'Product Viewed', properties: { product_id: 'p1' } },
      { userId: 'bob', event: 'Order Completed', properties: { order_id: 'o1', total: 30 } },
    ]);
    await tick();

    const [show, showJson, path, pathJson, nobody] = await Promise.all([
      cli('show', id),
      cli('show', id, '--json'),
      cli('path', id, '--user', 'ann'),
      cli('path', id, '--user', 'bob', '--json'),
      cli('path', id, '--user', 'nobody'),
    ]);
    expect(show.stdout).toContain('published, version 1');
    expect(show.stdout).toContain('holdout: entered 0');
    expect(show.stdout).toMatch(/entered 2 +active 0 +completed 0 +exited 1 +converted 1 +revenue 30/);
    expect(show.stdout).toMatch(/^browse +wait_for_event +0 +1 +event 1$/m);
    expect(show.stdout).toMatch(/\nhello +█{40} 2\nbrowse +█{20} 1\n/);
    const stats = JSON.parse(showJson.stdout).stats;
    expect(stats.nodes.browse.branches).toEqual({ event: 1 });
    expect(stats.nodes.follow.passed).toBe(1);

    expect(path.stdout).toMatch(/instance \d+: version 1, exited \(exit_node\)/);
    expect(path.stdout).toContain('browse --event--> follow');
    expect(path.stdout).toMatch(/hello --next--> browse\n +queued message email\/welcome/);
    expect(path.stdout).toMatch(/follow --next--> done\n +queued message push\/browse-followup/);
    expect(JSON.parse(pathJson.stdout).instances).toMatchObject([{ status: 'converted', revenue: 30, holdout: false }]);
    expect(nobody.status).toBe(2);
    expect(nobody.stderr).toBe('shopflow: server said 404: no person with user_id "nobody" (at person)\n');
  });

  it('pauses, resumes, and publishes a new version on edit', async () => {
    expect((await cli('pause', id)).stdout).toContain(': paused, version 1');
    expect((await cli('resume', id)).stdout).toContain(': published, version 1');

    const v2 = { ...welcome, nodes: welcome.nodes.map((n) => (n.id === 'hello' ? { ...n, template: 'welcome-v2' } : n)) };
    const [edited, refused] = await Promise.all([
      cli('edit', id, '--file', file('welcome-v2.json', v2)),
      cli('edit', id, '--file', file('bad-graph.json', badGraph)),
    ]);
    expect(edited.stdout).toMatch(/"Welcome" \(published\): published as version 2; new entries use it/);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/cannot be published: edge to unknown node "nowhere" \(at definition\.edges\[5\]\.to\)/);
  });

  it('enrols through the API trigger', async () => {
    const created = await cli('create', '--file', file('concierge.json', concierge));
    expect(created.stdout).toMatch(/"Concierge": draft/);
    vip = created.stdout.match(/journey (\d+)/)![1]!;
    expect((await admin('POST', `/api/journeys/${vip}/publish`)).statusCode).toBe(200);

    const first = await cli('enroll', vip, '--user', 'ann', '--properties', '{"tier":"gold"}');
    expect(first.stdout).toMatch(/ann entered journey \d+: instance \d+/);
    // ann is still inside (nobody has ticked), and by default one may re-enter only after leaving.
    const [again, wrongTrigger] = await Promise.all([cli('enroll', vip, '--user', 'ann'), cli('enroll', id, '--user', 'ann')]);
    expect(again.stdout).toContain('did not enter');
    expect(wrongTrigger.status).toBe(2);
    expect(wrongTrigger.stderr).toContain('not through the API');
  });

  it('lists the outbox and archives', async () => {
    await tick();
    const [outbox, archived] = await Promise.all([cli('outbox', '--journey', vip), cli('archive', id)]);
    expect(outbox.stdout).toMatch(/ offer +\S+ +message +wechat +vip-offer +queued /);
    const { messages } = (await admin('GET', `/api/outbox?journeyId=${vip}`)).json();
    expect(messages).toMatchObject([{ payload: { trigger: { tier: 'gold' } } }]);
    expect(archived.stdout).toContain(`journey ${id} archived`);
    const list = await cli('list');
    expect(list.stdout).toContain('Concierge');
    expect(list.stdout).not.toContain('Welcome');
  });
});

describe('journeys API in OpenAPI', () => {
  it('documents every journey route', async () => {
    const app = Fastify();
    const routes: [string, string][] = [];
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push([method.toLowerCase(), r.url.replace(/:(\w+)/g, '{$1}')]);
    });
    // Registering reads nothing from the context; handlers that would are never called.
    registerJourneyRoutes(app, {} as ApiContext);
    await app.ready();
    const paths = openApiDocument().paths as Record<string, Record<string, unknown>>;
    expect(routes.length).toBeGreaterThan(10);
    expect(routes.filter(([method, url]) => !paths[url]?.[method])).toEqual([]);
    expect(JSON.stringify(openApiDocument().components.schemas.JourneyDefinition)).toContain('wait_for_event');
  });
});
