import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twilioSignature } from '../src/messaging/channels/twilio-sms.ts';
import { createTemplate } from '../src/messaging/index.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

const twilio = { baseUrl: 'http://127.0.0.1:9', accountSid: `AC${'2'.repeat(32)}`, authToken: 'tw-secret-token', from: '+15005550006' };

describe.each(engines)('messaging API (%s)', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(engine);
  });
  afterAll(() => h.dispose());

  /** Queues and dispatches one sandbox email to a new person; returns the outbox row. */
  let people = 0;
  async function sendOne(userId: string) {
    const email = `${userId}@example.com`;
    const phone = `+1212555${String(100 + ++people).padStart(4, '0')}`;
    const ingest = await h.server.app.inject({
      method: 'POST',
      url: '/v1/identify',
      headers: { authorization: h.writeAuth },
      payload: { userId, traits: { email, phone } },
    });
    expect(ingest.statusCode).toBe(200);
    await h.server.ingest.flush();
    const now = Date.now();
    await createTemplate(
      h.store,
      h.keys.workspaceId,
      { name: `mail-${userId}`, channel: 'email', fields: { subject: 'Hi', html: '<a href="https://shop.example/x">x</a>' } },
      now,
    ).catch(() => {});
    const [{ user_key }] = (await h.store.query<{ user_key: number }>(
      "SELECT user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id' AND value = $2",
      [h.keys.workspaceId, userId],
    )) as [{ user_key: number }];
    const key = `j1.v1.i${user_key}.mail.s1`;
    await h.store.query(
      `INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel, template, payload, status, transactional, attempts, created_at)
       VALUES ($1, $2, 1, 1, $3, 'mail', $3, 'message', 'email', $4, '{"topic":"marketing"}', 'queued', FALSE, 0, $5)`,
      [h.keys.workspaceId, key, user_key, `mail-${userId}`, now],
    );
    await h.server.dispatcher.tick();
    const { body } = await h.admin('GET', '/api/outbox?status=sent');
    return body.messages.find((m: { messageKey: string }) => m.messageKey === key);
  }

  it('configures a channel: the provider config is validated with paths, and secrets never come back', async () => {
    const bad = await h.admin('PUT', '/api/channels/sms', { provider: 'twilio', config: { accountSid: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.path).toMatch(/^config\./);
    const unknown = await h.admin('PUT', '/api/channels/sms', { provider: 'fcm', config: {} });
    expect(unknown.body).toMatchObject({ code: 'invalid_request', path: 'provider' });
    expect(unknown.body.message).toMatch(/sandbox, twilio, aliyun/);
    const ok = await h.admin('PUT', '/api/channels/sms', { provider: 'twilio', config: twilio, ratePerSecond: 50 });
    expect(ok.status).toBe(200);
    const list = await h.admin('GET', '/api/channels');
    const sms = list.body.channels.find((c: { channel: string }) => c.channel === 'sms');
    expect(sms).toMatchObject({ provider: 'twilio', ratePerSecond: 50, config: { authToken: '••••', accountSid: twilio.accountSid } });
    expect(JSON.stringify(list.body)).not.toContain(twilio.authToken);
    expect(list.body.channels.find((c: { channel: string }) => c.channel === 'email')).toMatchObject({ provider: 'sandbox' });
  });

  it('validates contact rules', async () => {
    const bad = await h.admin('PUT', '/api/messaging/settings', { quietHours: { start: '25:00', end: '08:00', action: 'defer' } });
    expect(bad.status).toBe(400);
    expect(bad.body.path).toBe('quietHours.start');
    const ok = await h.admin('PUT', '/api/messaging/settings', { frequencyCaps: [{ channel: 'sms', period: 'day', max: 1 }] });
    expect(ok.body).toMatchObject({ frequencyCaps: [{ channel: 'sms', period: 'day', max: 1 }], quietHours: null });
    expect((await h.admin('GET', '/api/messaging/settings')).body.frequencyCaps).toHaveLength(1);
  });

  it('one-click unsubscribe: GET shows a button and changes nothing, POST unsubscribes; a forged token is a 404', async () => {
    const m = await sendOne('uma');
    const url = new URL(m.content.unsubscribe_url);
    const page = await h.server.app.inject({ method: 'GET', url: url.pathname });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<form method="post"');
    expect((await h.admin('GET', '/api/subscriptions?userId=uma')).body.subscriptions).toEqual([]);
    const post = await h.server.app.inject({
      method: 'POST',
      url: url.pathname,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(post.statusCode).toBe(200);
    expect(post.body).toContain('You are unsubscribed');
    expect((await h.admin('GET', '/api/subscriptions?userId=uma')).body.subscriptions).toEqual([
      expect.objectContaining({ channel: 'email', topic: 'marketing', subscribed: false, source: 'one-click' }),
    ]);
    const forged = await h.server.app.inject({ method: 'POST', url: `${url.pathname.slice(0, -3)}abc` });
    expect(forged.statusCode).toBe(404);
    expect(JSON.parse(forged.body)).toMatchObject({ code: 'not_found', path: 'token' });
  });

  it('tracked links redirect to the original URL and record a click', async () => {
    const m = await sendOne('ted');
    const href = /href="([^"]+)"/.exec(m.content.fields.html)?.[1] ?? '';
    const res = await h.server.app.inject({ method: 'GET', url: new URL(href).pathname });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('https://shop.example/x');
    const [clicked] = await h.store.query<{ n: number }>(
      "SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND event = 'Message Clicked'",
      [h.keys.workspaceId],
    );
    expect(Number(clicked?.n)).toBe(1);
  });

  it('takes signed provider callbacks (a STOP reply) and refuses unsigned ones with 401', async () => {
    await h.admin('PUT', '/api/channels/sms', { provider: 'twilio', config: twilio });
    const sam = await sendOne('sam');
    const phone = `+1212555${String(100 + people).padStart(4, '0')}`;
    expect(sam).toBeDefined();
    const path = `/v1/callbacks/${h.keys.workspaceId}/sms`;
    const form = { From: phone, Body: 'STOP', MessageSid: 'SMin1', AccountSid: twilio.accountSid };
    const body = new URLSearchParams(form).toString();
    const signature = twilioSignature(twilio.authToken, `http://localhost:3000${path}`, Object.entries(form));
    const bad = await h.server.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'nope' },
      payload: body,
    });
    expect(bad.statusCode).toBe(401);
    const ok = await h.server.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      payload: body,
    });
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ optOuts: 1 });
    expect((await h.admin('GET', '/api/subscriptions?userId=sam')).body.subscriptions).toEqual([
      expect.objectContaining({ channel: 'sms', topic: '*', subscribed: false, source: 'reply' }),
    ]);
  });
});
