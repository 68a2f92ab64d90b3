import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { OutboundClient } from '../src/core/outbound-http.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps } from '../src/messaging/channels/channel.ts';
import { voiceWebhookConfigSchema, voiceWebhookProvider } from '../src/messaging/channels/voice-webhook.ts';
import { webhookConfigSchema, webhookProvider } from '../src/messaging/channels/webhook.ts';
import { json, MockServer, type ReceivedRequest } from './mock-providers/mock-server.ts';
import { VoiceProviderMock } from './mock-providers/voice-provider.ts';

const http = new OutboundClient({ allowPrivateNetworks: true, timeoutMs: 2_000 });
const deps: ProviderDeps = { http, allowPrivateNetworks: true, now: () => Date.now() };
const never = new AbortController().signal;

let seq = 0;
function message(channel: 'webhook' | 'voice', to: string, fields: Record<string, unknown>, messageKey?: string): OutgoingMessage {
  seq++;
  return {
    workspaceId: 1,
    messageKey: messageKey ?? `j1.v1.i${seq}.n1.s1`,
    channel,
    userKey: seq,
    to,
    fields,
    transactional: false,
    unsubscribeUrl: null,
    attempt: 1,
  };
}

/** Every field of a provider config schema says what it is for. */
function undescribed(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !(field as z.ZodType).description)
    .map(([name]) => name);
}

const stringHeaders = (req: ReceivedRequest): Record<string, string> =>
  Object.fromEntries(Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === 'string'));

afterAll(() => http.close());

describe('webhook provider', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const receiver = new MockServer((req, res) => {
    if (req.path === '/plain') {
      res.writeHead(204).end();
      return;
    }
    json(res, 200, { id: 'evt_42' });
  });
  let provider: ChannelProvider;

  beforeAll(async () => {
    await receiver.start();
    provider = webhookProvider.create(webhookConfigSchema.parse({ secret, timeoutMs: 300, headers: { 'X-Tenant': 'acme' } }), deps);
  });
  afterAll(() => receiver.stop());

  it('is named and keyed as the lead expects', () => {
    expect(webhookProvider.name).toBe('webhook');
    expect(webhookProvider.channel).toBe('webhook');
    expect(provider.name).toBe('webhook');
    expect(provider.honoursIdempotencyKey).toBe(true);
    expect(undescribed(webhookConfigSchema)).toEqual([]);
  });

  it('POSTs the JSON body signed per Standard Webhooks, which a receiver verifies', async () => {
    const body = { event: 'order_paid', order: { id: 'o-1', total: 99.5 }, tags: ['vip'] };
    const m = message('webhook', `${receiver.url}/hooks`, { body });
    const outcome = await provider.send(m, never);
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: 'evt_42' });
    const req = receiver.received.at(-1) as ReceivedRequest;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/hooks');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['webhook-id']).toBe(m.messageKey);
    expect(req.headers['idempotency-key']).toBe(m.messageKey);
    expect(req.headers['x-tenant']).toBe('acme');
    expect(Number(req.headers['webhook-timestamp'])).toBeCloseTo(Date.now() / 1000, -2);
    expect(new Webhook(secret).verify(req.body, stringHeaders(req))).toEqual(body);
  });

  it('produces a signature that fails under another secret or a changed body', async () => {
    await provider.send(message('webhook', `${receiver.url}/hooks`, { body: { n: 1 } }), never);
    const req = receiver.received.at(-1) as ReceivedRequest;
    const headers = stringHeaders(req);
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(req.body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(req.body.replace('1', '2'), headers)).toThrow();
  });

  it('answers a 2xx without an id as sent with no provider id', async () => {
    expect(await provider.send(message('webhook', `${receiver.url}/plain`, { body: [] }), never)).toEqual({
      kind: 'sent',
      providerMessageId: null,
    });
  });

  it('retries a 429 after its Retry-After', async () => {
    receiver.misbehave({ kind: 'status', status: 429, retryAfter: '7' });
    const outcome = await provider.send(message('webhook', `${receiver.url}/hooks`, { body: {} }), never);
    expect(outcome).toMatchObject({ kind: 'retry', retryAfterMs: 7_000 });
  });

  it('retries a 500 and fails a 400', async () => {
    receiver.misbehave({ kind: 'status', status: 500 });
    expect((await provider.send(message('webhook', `${receiver.url}/hooks`, { body: {} }), never)).kind).toBe('retry');
    receiver.misbehave({ kind: 'status', status: 400, body: 'unknown event' });
    expect(await provider.send(message('webhook', `${receiver.url}/hooks`, { body: {} }), never)).toEqual({
      kind: 'failed',
      reason: 'HTTP 400: unknown event',
    });
  });

  it('retries a hanging receiver: it dedupes on webhook-id', async () => {
    receiver.misbehave({ kind: 'hang' });
    const outcome = await provider.send(message('webhook', `${receiver.url}/hooks`, { body: {} }), never);
    expect(outcome.kind).toBe('retry');
    expect(outcome.kind === 'retry' && outcome.reason).toMatch(/timeout/);
  });

  it('fails a message without a body, an invalid target or a private one', async () => {
    expect((await provider.send(message('webhook', `${receiver.url}/hooks`, {}), never)).kind).toBe('failed');
    expect((await provider.send(message('webhook', 'ftp://example.com/x', { body: {} }), never)).kind).toBe('failed');
    const guarded = new OutboundClient({ timeoutMs: 1_000 });
    try {
      const strict = webhookProvider.create(webhookConfigSchema.parse({ secret }), { ...deps, http: guarded, allowPrivateNetworks: false });
      const before = receiver.received.length;
      const outcome = await strict.send(message('webhook', `${receiver.url}/hooks`, { body: {} }), never);
      expect(outcome.kind).toBe('failed');
      expect(receiver.received.length).toBe(before);
    } finally {
      await guarded.close();
    }
  });

  it('validates its configuration', () => {
    expect(webhookConfigSchema.safeParse({ secret }).success).toBe(true);
    expect(webhookConfigSchema.safeParse({ secret: secret.slice('whsec_'.length) }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ secret: 'whsec_c2hvcnQ=' }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ secret: 'whsec_not base64!' }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ secret, headers: { 'Webhook-Signature': 'forged' } }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ secret, headers: { 'bad header': 'x' } }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ secret, other: 1 }).success).toBe(false);
  });
});

describe('voice_webhook provider', () => {
  const apiKey = 'vk_test_0123456789abcdef';
  const mock = new VoiceProviderMock(apiKey);
  let provider: ChannelProvider;
  const voice = (messageKey?: string) => message('voice', '+8613800138000', { script: 'Your order has shipped.' }, messageKey);

  beforeAll(async () => {
    const url = await mock.start();
    provider = voiceWebhookProvider.create(voiceWebhookConfigSchema.parse({ url, apiKey, callerId: '+14155550100', timeoutMs: 300 }), deps);
  });
  afterAll(() => mock.stop());

  it('is named and keyed as the lead expects', () => {
    expect(voiceWebhookProvider.name).toBe('voice_webhook');
    expect(voiceWebhookProvider.channel).toBe('voice');
    expect(provider.honoursIdempotencyKey).toBe(true);
    expect(undescribed(voiceWebhookConfigSchema)).toEqual([]);
  });

  it('places a call with the bearer key, caller id, script and idempotency key', async () => {
    const m = voice();
    const outcome = await provider.send(m, never);
    expect(outcome.kind).toBe('sent');
    const req = mock.server.received.at(-1) as ReceivedRequest;
    expect(req.headers.authorization).toBe(`Bearer ${apiKey}`);
    expect(req.headers['idempotency-key']).toBe(m.messageKey);
    expect(JSON.parse(req.body)).toEqual({
      to: '+8613800138000',
      callerId: '+14155550100',
      script: 'Your order has shipped.',
      idempotencyKey: m.messageKey,
    });
    const call = mock.calls.find((c) => c.idempotencyKey === m.messageKey);
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: call?.callId });
  });

  it('places one call for a repeated message key', async () => {
    const before = mock.placed;
    const first = await provider.send(voice('j9.v1.i1.call.s1'), never);
    const again = await provider.send(voice('j9.v1.i1.call.s1'), never);
    expect(first.kind).toBe('sent');
    expect(again).toEqual(first);
    expect(mock.placed).toBe(before + 1);
  });

  it('retries a call whose answer was lost, without calling twice', async () => {
    const before = mock.placed;
    mock.placeButDontAnswer();
    const lost = await provider.send(voice('j9.v1.i2.call.s1'), never);
    expect(lost.kind).toBe('retry');
    const retried = await provider.send(voice('j9.v1.i2.call.s1'), never);
    expect(retried.kind).toBe('sent');
    expect(mock.placed).toBe(before + 1);
  });

  it('retries throttling and server errors, fails a wrong key', async () => {
    mock.server.misbehave({ kind: 'status', status: 429, retryAfter: '3' });
    expect(await provider.send(voice(), never)).toMatchObject({ kind: 'retry', retryAfterMs: 3_000 });
    mock.server.misbehave({ kind: 'status', status: 503 });
    expect((await provider.send(voice(), never)).kind).toBe('retry');
    const wrong = voiceWebhookProvider.create({ url: mock.url, apiKey: 'vk_wrong_key_000000', callerId: '+14155550100' }, deps);
    const outcome = await wrong.send(voice(), never);
    expect(outcome.kind).toBe('failed');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(/^HTTP 401/);
  });

  it('fails a message without a script', async () => {
    expect((await provider.send(message('voice', '+8613800138000', {}), never)).kind).toBe('failed');
  });

  it('reads signed status callbacks: completed is delivered, the rest failed with the status', () => {
    expect(provider.parseCallback?.(mock.callback('call_7', 'completed'))).toEqual({
      ok: true,
      receipts: [{ providerMessageId: 'call_7', status: 'delivered' }],
      replies: [],
    });
    for (const status of ['no_answer', 'busy', 'failed']) {
      expect(provider.parseCallback?.(mock.callback('call_8', status))).toEqual({
        ok: true,
        receipts: [{ providerMessageId: 'call_8', status: 'failed', reason: status }],
        replies: [],
      });
    }
  });

  it('refuses callbacks with a wrong, missing or malformed signature, or a changed body', () => {
    const parse = provider.parseCallback;
    expect(parse).toBeDefined();
    if (!parse) return;
    expect(parse(mock.callback('call_7', 'completed', 'another-key')).ok).toBe(false);
    const good = mock.callback('call_7', 'completed');
    expect(parse({ ...good, headers: {} }).ok).toBe(false);
    expect(parse({ ...good, headers: { 'x-signature': 'zz' } }).ok).toBe(false);
    expect(parse({ ...good, headers: { 'x-signature': 'a'.repeat(63) } }).ok).toBe(false);
    expect(parse({ ...good, body: good.body.replace('call_7', 'call_9') }).ok).toBe(false);
  });

  it('refuses a signed callback it cannot read', () => {
    const result = provider.parseCallback?.(mock.callback('call_7', 'ringing'));
    expect(result?.ok).toBe(false);
  });

  it('validates its configuration', () => {
    const good = { url: 'https://voice.example/v1/calls', apiKey, callerId: '+14155550100' };
    expect(voiceWebhookConfigSchema.safeParse(good).success).toBe(true);
    expect(voiceWebhookConfigSchema.safeParse({ ...good, url: 'ftp://voice.example/' }).success).toBe(false);
    expect(voiceWebhookConfigSchema.safeParse({ ...good, callerId: '4155550100' }).success).toBe(false);
    expect(voiceWebhookConfigSchema.safeParse({ ...good, apiKey: '' }).success).toBe(false);
    expect(voiceWebhookConfigSchema.safeParse({ ...good, timeoutMs: 5 }).success).toBe(false);
  });
});
