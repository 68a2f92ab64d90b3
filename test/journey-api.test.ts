import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR, VirtualClock } from '../src/core/clock.ts';
import { journeysWithProblems } from '../src/journeys/index.ts';
import { placeholderTemplate } from '../src/sim/index.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const START = Date.UTC(2026, 2, 2);

const welcome = {
  nodes: [
    { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' }, position: { x: 0, y: 0 } },
    { id: 'hi', type: 'send', channel: 'email', template: 'welcome', position: { x: 0, y: 120 } },
    { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
    { id: 'nudge', type: 'send', channel: 'push', template: 'nudge' },
  ],
  edges: [
    { from: 'in', to: 'hi' },
    { from: 'hi', to: 'wait' },
    { from: 'wait', to: 'nudge' },
  ],
  settings: { goal: { event: 'Order Completed' }, holdoutPercent: 10 },
};

/** A journey that sends one message on entry, as `POST /api/journeys` takes it. */
const entryThenSend = (name: string, trigger: Record<string, unknown>, channel: string, template: string) => ({
  name,
  definition: {
    nodes: [
      { id: 'in', type: 'entry', trigger },
      { id: 'hi', type: 'send', channel, template },
    ],
    edges: [{ from: 'in', to: 'hi' }],
  },
});

describe.each(engines)('journeys API (%s)', (engine) => {
  let h: Harness;
  const clock = new VirtualClock(START);
  const call: Harness['admin'] = (method, url, body) => h.admin(method, url, body);
  const track = async (userId: string, event: string, properties: Record<string, unknown> = {}) => {
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: h.writeAuth },
      payload: { userId, event, properties, timestamp: new Date(clock.now()).toISOString() },
    });
    expect(res.statusCode).toBe(200);
  };
  const tick = () => h.server.journeys.tickWorkspace(h.keys.workspaceId);
  beforeAll(async () => {
    h = await startHarness(engine, clock);
    // Publishing refuses a journey that sends with a template the workspace lacks.
    for (const [name, channel] of [
      ['welcome', 'email'],
      ['nudge', 'push'],
      ['nudge-2', 'push'],
      ['ticket-update', 'sms'],
    ]) {
      expect((await call('POST', '/api/templates', placeholderTemplate(name!, channel!))).status).toBe(201);
    }
  });
  afterAll(() => h.dispose());

  let id = 0;
  it('creates a draft, refuses bad definitions with every problem and its path', async () => {
    const bad = await call('POST', '/api/journeys', { name: 'x', definition: { nodes: [{ id: 'a', type: 'teleport' }], edges: [] } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'invalid_request', path: 'definition.nodes[0].type' });
    const created = await call('POST', '/api/journeys', { name: 'Welcome', definition: welcome });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'draft', version: 0, name: 'Welcome' });
    expect(created.body.definition.nodes[1].position).toEqual({ x: 0, y: 120 });
    id = created.body.journeyId;
  });

  it('validates a graph without saving it, reporting every problem at once', async () => {
    const broken = {
      ...welcome,
      edges: [
        { from: 'in', to: 'hi' },
        { from: 'hi', to: 'nowhere' },
      ],
    };
    const r = await call('POST', '/api/journeys/validate', { definition: broken });
    expect(r.status).toBe(200);
    expect(r.body.valid).toBe(false);
    expect(r.body.problems.map((p: { path: string }) => p.path)).toEqual([
      'definition.edges[1].to',
      'definition.nodes[2]',
      'definition.nodes[3]',
    ]);
    expect((await call('POST', '/api/journeys/validate', { definition: welcome })).body).toEqual({ valid: true, problems: [] });
  });

  it('names every missing template, template of another channel and campaign that cannot be made, at once', async () => {
    const sends = {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
        { id: 'gift', type: 'coupon', campaign: 'no-such-campaign' },
        { id: 'hi', type: 'send', channel: 'sms', template: 'welcome', fallback: [{ channel: 'push', template: 'no-such-push' }] },
        { id: 'picks', type: 'recommend', strategy: 'popular', channel: 'sandbox', template: 'welcome' },
        { id: 'theirs', type: 'recommend', strategy: 'segment', segmentId: 999, channel: 'push', template: 'nudge' },
      ],
      edges: [
        { from: 'in', to: 'gift' },
        { from: 'gift', to: 'hi' },
        { from: 'hi', to: 'picks' },
        { from: 'picks', to: 'theirs' },
      ],
    };
    const r = await call('POST', '/api/journeys/validate', { definition: sends });
    expect(r.body.problems).toEqual([
      {
        code: 'invalid_request',
        message: 'no coupon campaign "no-such-campaign", and the node has no value or tiers to make one from',
        path: 'definition.nodes[1].campaign',
      },
      { code: 'invalid_request', message: 'template "welcome" is for email, the node sends sms', path: 'definition.nodes[2].channel' },
      { code: 'invalid_request', message: 'no template "no-such-push"', path: 'definition.nodes[2].fallback[0].template' },
      { code: 'invalid_request', message: 'no segment 999', path: 'definition.nodes[4]' },
    ]);
    // An ad-hoc campaign from the node's own value, and the sandbox, which takes any template, are fine.
    const fixed = structuredClone(sends);
    Object.assign(fixed.nodes[1]!, { value: 5 });
    Object.assign(fixed.nodes[2]!, { channel: 'email', fallback: [{ channel: 'push', template: 'nudge' }] });
    Object.assign(fixed.nodes[4]!, { strategy: 'popular', segmentId: undefined });
    expect((await call('POST', '/api/journeys/validate', { definition: fixed })).body).toEqual({ valid: true, problems: [] });
    const draft = await call('POST', '/api/journeys', { name: 'Sends', definition: sends });
    const refused = await call('POST', `/api/journeys/${draft.body.journeyId}/publish`);
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toHaveLength(4);
    // A template a journey sends with only as a fallback is in use too: it cannot be deleted.
    expect((await call('POST', '/api/templates', placeholderTemplate('fallback-only', 'push'))).status).toBe(201);
    Object.assign(fixed.nodes[2]!, { fallback: [{ channel: 'push', template: 'fallback-only' }] });
    expect((await call('POST', '/api/journeys', { name: 'Fallback', definition: fixed })).status).toBe(201);
    const inUse = await call('DELETE', '/api/templates/fallback-only');
    expect(inUse.status).toBe(409);
    expect(inUse.body.message).toContain('"Fallback"');
    // Nor can its channel change under the journey; its text can.
    const toSms = await call('PUT', '/api/templates/fallback-only', placeholderTemplate('fallback-only', 'sms'));
    expect(toSms).toMatchObject({ status: 409, body: { code: 'conflict', path: 'channel' } });
    const reworded = { ...placeholderTemplate('fallback-only', 'push'), fields: { title: 'New', body: 'Words' } };
    expect((await call('PUT', '/api/templates/fallback-only', reworded)).status).toBe(200);
  });

  it('refuses to publish a broken draft (400 with all problems), publishes a sound one', async () => {
    const draft = await call('POST', '/api/journeys', {
      name: 'Broken',
      definition: { ...welcome, nodes: [...welcome.nodes, { id: 'orphan', type: 'exit' }], edges: welcome.edges.slice(1) },
    });
    const refused = await call('POST', `/api/journeys/${draft.body.journeyId}/publish`);
    expect(refused.status).toBe(400);
    expect(refused.body.errors.length).toBeGreaterThanOrEqual(2);
    const published = await call('POST', `/api/journeys/${id}/publish`);
    expect(published.status).toBe(200);
    expect(published.body).toMatchObject({ status: 'published', version: 1 });
  });

  it("runs: counts per node, a person's path, the outbox", async () => {
    for (const who of ['ann', 'bob', 'cat', 'dan', 'eve']) await track(who, 'Signed Up');
    await h.server.ingest.flush();
    await tick();
    const j = await call('GET', `/api/journeys/${id}`);
    expect(j.body.stats).toMatchObject({ entered: 5, active: 5 });
    expect(j.body.stats.nodes.wait.current).toBe(5);
    expect(j.body.stats.nodes.in.passed).toBe(5);
    const path = await call('GET', `/api/journeys/${id}/people/ann`);
    expect(path.status).toBe(200);
    expect(path.body.instances[0].steps.map((s: { nodeId: string }) => s.nodeId)).toEqual(['hi']); // people start after the entry
    expect(path.body.instances[0].nodeId).toBe('wait');
    const outbox = await call('GET', `/api/outbox?journeyId=${id}`);
    const treated = 5 - j.body.stats.holdout.entered;
    expect(outbox.body.messages).toHaveLength(treated);
    expect(outbox.body.messages[0]).toMatchObject({ action: 'message', channel: 'email', template: 'welcome', status: 'queued' });
    for (const m of outbox.body.messages) expect(['ann', 'bob', 'cat', 'dan', 'eve']).toContain(m.userId);
    // Pages, newest first: the cursor of a page's last row asks for the next.
    const page1 = await call('GET', `/api/outbox?journeyId=${id}&limit=2`);
    const page2 = await call('GET', `/api/outbox?journeyId=${id}&limit=10&before=${encodeURIComponent(page1.body.messages[1].cursor)}`);
    expect([...page1.body.messages, ...page2.body.messages].map((m: { messageKey: string }) => m.messageKey).sort()).toEqual(
      outbox.body.messages.map((m: { messageKey: string }) => m.messageKey).sort(),
    );
    expect((await call('GET', `/api/journeys/${id}/people/nobody`)).status).toBe(404);
  });

  it('pauses and resumes (409 when the state does not allow it); an edit publishes a new version', async () => {
    expect((await call('POST', `/api/journeys/${id}/resume`)).status).toBe(409);
    expect((await call('POST', `/api/journeys/${id}/pause`)).body.status).toBe('paused');
    expect((await call('POST', `/api/journeys/${id}/pause`)).status).toBe(409);
    const edited = await call('PUT', `/api/journeys/${id}`, {
      name: 'Welcome v2',
      definition: { ...welcome, nodes: welcome.nodes.map((n) => (n.id === 'nudge' ? { ...n, template: 'nudge-2' } : n)) },
    });
    expect(edited.body).toMatchObject({ status: 'paused', version: 2, name: 'Welcome v2' });
    const refused = await call('PUT', `/api/journeys/${id}`, { name: 'x', definition: { ...welcome, edges: [] } });
    expect(refused.status).toBe(400);
    expect((await call('POST', `/api/journeys/${id}/resume`)).body.status).toBe('published');
    clock.advance(25 * HOUR);
    await tick();
    // People inside stay on version 1.
    const outbox = await call('GET', `/api/outbox?journeyId=${id}`);
    expect(new Set(outbox.body.messages.map((m: { template: string }) => m.template))).toEqual(new Set(['welcome', 'nudge']));
  });

  it('refuses to resume a journey whose template is gone (published before publishing checked), until it is back', async () => {
    const created = await call(
      'POST',
      '/api/journeys',
      entryThenSend('Old welcome', { kind: 'event', event: 'Old Signed Up' }, 'sms', 'old-hello'),
    );
    expect((await call('POST', '/api/templates', placeholderTemplate('old-hello', 'sms'))).status).toBe(201);
    const oldId = created.body.journeyId;
    expect((await call('POST', `/api/journeys/${oldId}/publish`)).status).toBe(200);
    expect((await call('POST', `/api/journeys/${oldId}/pause`)).status).toBe(200);
    // The API refuses to delete a template a journey sends; a store from before that check may lack it.
    await h.store.query(`DELETE FROM templates WHERE workspace_id = $1 AND name = 'old-hello'`, [h.keys.workspaceId]);
    const refused = await call('POST', `/api/journeys/${oldId}/resume`);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'invalid_request', message: 'the journey cannot be resumed: no template "old-hello"' });
    expect(refused.body.errors).toEqual([
      { code: 'invalid_request', message: 'no template "old-hello"', path: 'definition.nodes[1].template' },
    ]);
    expect((await call('GET', `/api/journeys/${oldId}`)).body.status).toBe('paused');
    // What `serve` warns about at start.
    expect(await journeysWithProblems(h.store)).toEqual([
      { workspaceId: h.keys.workspaceId, journeyId: oldId, name: 'Old welcome', status: 'paused', problems: refused.body.errors },
    ]);
    expect((await call('POST', '/api/templates', placeholderTemplate('old-hello', 'sms'))).status).toBe(201);
    expect(await journeysWithProblems(h.store)).toEqual([]);
    expect((await call('POST', `/api/journeys/${oldId}/resume`)).body.status).toBe('published');
    expect((await call('DELETE', `/api/journeys/${oldId}`)).status).toBe(204);
  });

  it('enrols through the API (idempotent), and archives', async () => {
    const created = await call('POST', '/api/journeys', entryThenSend('By API', { kind: 'api', key: 'ticket' }, 'sms', 'ticket-update'));
    const apiId = created.body.journeyId;
    expect((await call('POST', `/api/journeys/${apiId}/enroll`, { userId: 'ann', key: 'T1' })).status).toBe(409);
    await call('POST', `/api/journeys/${apiId}/publish`);
    expect((await call('POST', `/api/journeys/${apiId}/enroll`, { userId: 'ann' })).body).toMatchObject({ path: 'key' });
    // The key may come as the keyed property of the properties.
    expect((await call('POST', `/api/journeys/${apiId}/enroll`, { userId: 'bob', properties: { ticket: 'T9' } })).body).toMatchObject({
      entered: true,
    });
    expect((await call('POST', `/api/journeys/${apiId}/enroll`, { userId: 'nobody', key: 'T1' })).status).toBe(404);
    expect((await call('POST', `/api/journeys/${apiId}/enroll`, { key: 'T1' })).body).toMatchObject({
      code: 'invalid_request',
      path: 'userId',
    });
    const first = await call('POST', `/api/journeys/${apiId}/enroll`, {
      userId: 'ann',
      key: 'T1',
      properties: { subject: 'Where is my parcel' },
      idempotencyKey: 'r1',
    });
    expect(first.status).toBe(201);
    const retry = await call('POST', `/api/journeys/${apiId}/enroll`, { userId: 'ann', key: 'T1', idempotencyKey: 'r1' });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ entered: false, instanceId: first.body.instanceId });
    await tick();
    const outbox = await call('GET', `/api/outbox?journeyId=${apiId}`);
    expect(outbox.body.messages).toHaveLength(2);
    expect(outbox.body.messages.find((m: { userId: string }) => m.userId === 'ann').payload.trigger).toEqual({
      subject: 'Where is my parcel',
    });
    expect((await call('DELETE', `/api/journeys/${apiId}`)).status).toBe(204);
    expect((await call('GET', `/api/journeys/${apiId}`)).body.status).toBe('archived');
    expect((await call('GET', '/api/journeys')).body.journeys.map((j: { journeyId: number }) => j.journeyId)).not.toContain(apiId);
    expect((await call('POST', `/api/journeys/${apiId}/publish`)).status).toBe(409);
  });

  it('refuses to archive a segment a journey reads, until the journey is archived', async () => {
    const segment = await call('POST', '/api/segments', {
      name: 'Buyers',
      definition: { type: 'performed', event: 'Order Completed' },
      refresh: { mode: 'realtime' },
    });
    expect(segment.status, JSON.stringify(segment.body)).toBe(201);
    const sid = segment.body.segmentId;
    const reader = await call(
      'POST',
      '/api/journeys',
      entryThenSend('Buyers thanks', { kind: 'segment', segmentId: sid }, 'email', 'welcome'),
    );
    expect((await call('POST', `/api/journeys/${reader.body.journeyId}/publish`)).status).toBe(200);
    const refused = await call('DELETE', `/api/segments/${sid}`);
    expect(refused).toMatchObject({
      status: 409,
      body: { code: 'conflict', message: `segment ${sid} is used by journey "Buyers thanks"` },
    });
    expect((await call('DELETE', `/api/journeys/${reader.body.journeyId}`)).status).toBe(204);
    expect((await call('DELETE', `/api/segments/${sid}`)).status).toBe(204);
  });

  it('keeps what an older version still sends to or reads while people are inside it', async () => {
    const segment = await call('POST', '/api/segments', {
      name: 'VIPs',
      definition: { type: 'trait', trait: 'vip', op: 'eq', value: true },
      refresh: { mode: 'realtime' },
    });
    expect(segment.status, JSON.stringify(segment.body)).toBe(201);
    const sid = segment.body.segmentId;
    expect((await call('POST', '/api/templates', placeholderTemplate('v1-later', 'sms'))).status).toBe(201);
    const v1 = {
      nodes: [
        { id: 'in', type: 'entry', trigger: { kind: 'event', event: 'Versioned Signup' } },
        { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
        {
          id: 'vip',
          type: 'condition',
          cases: [{ branch: 'yes', when: { kind: 'audience', definition: { type: 'in_segment', segmentId: sid } } }],
          otherwise: 'no',
        },
        { id: 'later', type: 'send', channel: 'sms', template: 'v1-later' },
        { id: 'done', type: 'exit' },
      ],
      edges: [
        { from: 'in', to: 'wait' },
        { from: 'wait', to: 'vip' },
        { from: 'vip', to: 'later', branch: 'no' },
        { from: 'vip', to: 'done', branch: 'yes' },
      ],
    };
    const created = await call('POST', '/api/journeys', { name: 'Versioned', definition: v1 });
    const vid = created.body.journeyId;
    const published = await call('POST', `/api/journeys/${vid}/publish`);
    expect(published.status, JSON.stringify(published.body)).toBe(200);
    await track('vic', 'Versioned Signup');
    await tick();
    // Version 2 sends another template and reads no segment; vic stays on version 1, waiting.
    const v2 = { ...v1, nodes: [v1.nodes[0], v1.nodes[1], { id: 'later', type: 'send', channel: 'push', template: 'nudge' }] };
    v2.edges = [v1.edges[0]!, { from: 'wait', to: 'later' }];
    expect((await call('PUT', `/api/journeys/${vid}`, { name: 'Versioned', definition: v2 })).body.version).toBe(2);
    expect(await call('DELETE', '/api/templates/v1-later')).toMatchObject({
      status: 409,
      body: { message: expect.stringContaining('"Versioned"') },
    });
    expect((await call('PUT', '/api/templates/v1-later', placeholderTemplate('v1-later', 'email'))).status).toBe(409);
    expect((await call('DELETE', `/api/segments/${sid}`)).status).toBe(409);
    // A store from before these checks may lack it: `serve` names the version that still needs it.
    await h.store.query(`DELETE FROM templates WHERE workspace_id = $1 AND name = 'v1-later'`, [h.keys.workspaceId]);
    expect((await journeysWithProblems(h.store)).find((j) => j.journeyId === vid)?.problems).toEqual([
      {
        code: 'invalid_request',
        message: 'version 1 (people still inside): no template "v1-later"',
        path: 'definition.nodes[3].template',
      },
    ]);
    expect((await call('POST', '/api/templates', placeholderTemplate('v1-later', 'sms'))).status).toBe(201);
    // Once nobody is left on version 1, both may go.
    clock.advance(25 * HOUR);
    await tick();
    const path = await call('GET', `/api/journeys/${vid}/people/vic`);
    expect(path.body.instances[0]).toMatchObject({ version: 1, status: 'completed' });
    expect((await call('DELETE', '/api/templates/v1-later')).status).toBe(204);
    expect((await call('DELETE', `/api/segments/${sid}`)).status).toBe(204);
    expect((await call('DELETE', `/api/journeys/${vid}`)).status).toBe(204);
  });

  it('takes a bodiless POST labelled JSON (as many HTTP clients send it), and names what a body needed', async () => {
    const inject = (url: string) =>
      h.server.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${h.keys.adminKey}`, 'content-type': 'application/json' },
      });
    const created = await call(
      'POST',
      '/api/journeys',
      entryThenSend('Bodiless', { kind: 'event', event: 'Bodiless' }, 'sms', 'ticket-update'),
    );
    const published = await inject(`/api/journeys/${created.body.journeyId}/publish`);
    expect(published.statusCode, published.body).toBe(200);
    const noBody = await inject('/api/journeys');
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json()).toMatchObject({ code: 'invalid_request' });
    expect((await call('DELETE', `/api/journeys/${created.body.journeyId}`)).status).toBe(204);
  });

  it('needs the admin key', async () => {
    const res = await h.server.app.inject({ method: 'GET', url: '/api/journeys' });
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'unauthorized' });
  });
});
