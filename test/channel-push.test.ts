import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboundClient } from '../src/core/outbound-http.ts';
import { apnsCollapseIdOf, apnsIdOf, apnsProvider } from '../src/messaging/channels/apns.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps } from '../src/messaging/channels/channel.ts';
import { collapseKeyOf, fcmProvider } from '../src/messaging/channels/fcm.ts';
import { ApnsMock } from './mock-providers/apns.ts';
import { FcmMock } from './mock-providers/fcm.ts';

const pemKeys = (type: 'rsa' | 'ec') =>
  type === 'rsa'
    ? generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      })
    : generateKeyPairSync('ec', {
        namedCurve: 'P-256',
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
const rsa = pemKeys('rsa');
const otherRsa = pemKeys('rsa');
const ec = pemKeys('ec');

/** One fake clock for providers and mocks, so token lifetimes can be crossed without waiting. */
let now = Date.now();
const MIN = 60_000;

const message = (over: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  workspaceId: 1,
  messageKey: 'j1.v1.i1.n1.s1',
  channel: 'push',
  userKey: 7,
  to: 'device-1',
  fields: { title: 'Your cart misses you', body: '2 items are waiting', deepLink: 'shop://cart' },
  transactional: false,
  unsubscribeUrl: null,
  attempt: 1,
  ...over,
});
const signal = (): AbortSignal => new AbortController().signal;

const open: ChannelProvider[] = [];
const clients: OutboundClient[] = [];
function deps(allowPrivateNetworks = true): ProviderDeps {
  const http = new OutboundClient({ allowPrivateNetworks, timeoutMs: 500 });
  clients.push(http);
  return { http, allowPrivateNetworks, now: () => now };
}
afterAll(async () => {
  await Promise.all(open.map((p) => p.close?.()));
  await Promise.all(clients.map((c) => c.close()));
});

describe('fcm provider', () => {
  const mock = new FcmMock({
    projectId: 'shop-app',
    clientEmail: 'push@shop-app.iam.gserviceaccount.com',
    publicKeyPem: rsa.publicKey,
    now: () => now,
  });

  beforeAll(() => mock.start());
  afterAll(() => mock.stop());

  const serviceAccount = (privateKey = rsa.privateKey) => ({
    type: 'service_account',
    project_id: 'shop-app',
    private_key_id: 'key-1',
    private_key: privateKey,
    client_email: 'push@shop-app.iam.gserviceaccount.com',
    client_id: '1234567890',
    token_uri: mock.tokenUri,
  });
  const make = (over: { privateKey?: string; allowPrivateNetworks?: boolean } = {}): ChannelProvider => {
    const config = fcmProvider.config.parse({ serviceAccount: serviceAccount(over.privateKey), baseUrl: mock.baseUrl });
    const p = fcmProvider.create(config, deps(over.allowPrivateNetworks));
    open.push(p);
    return p;
  };

  it('validates its configuration', () => {
    const parsed = fcmProvider.config.parse({ serviceAccount: { ...serviceAccount(), token_uri: undefined } });
    expect(parsed.baseUrl).toBe('https://fcm.googleapis.com');
    expect(parsed.serviceAccount.token_uri).toBe('https://oauth2.googleapis.com/token');
    expect(parsed.serviceAccount).not.toHaveProperty('client_id'); // the key file's other fields are dropped
    expect(fcmProvider.config.safeParse({ serviceAccount: serviceAccount(ec.privateKey) }).success).toBe(false);
    expect(fcmProvider.config.safeParse({ serviceAccount: serviceAccount(), extra: 1 }).success).toBe(false);
    expect(fcmProvider.name).toBe('fcm');
    expect(fcmProvider.channel).toBe('push');
  });

  it('sends the exact FCM v1 message and caches the access token', async () => {
    const p = make();
    expect(p.honoursIdempotencyKey).toBe(false);
    const issued = mock.tokensIssued;
    const first = await p.send(message(), signal());
    const second = await p.send(message({ messageKey: 'j1.v1.i2.n1.s1', to: 'device-2', fields: { title: 'T', body: 'B' } }), signal());
    expect(first).toEqual({ kind: 'sent', providerMessageId: mock.delivered.at(-2)?.name });
    expect(second.kind).toBe('sent');
    expect(mock.tokensIssued - issued).toBe(1);
    expect(mock.delivered.at(-2)?.message).toEqual({
      token: 'device-1',
      notification: { title: 'Your cart misses you', body: '2 items are waiting' },
      data: { message_key: 'j1.v1.i1.n1.s1', deep_link: 'shop://cart' },
      android: { collapse_key: collapseKeyOf('j1.v1.i1.n1.s1') },
      apns: { headers: { 'apns-collapse-id': collapseKeyOf('j1.v1.i1.n1.s1') } },
    });
    expect(mock.delivered.at(-1)?.message['data']).toEqual({ message_key: 'j1.v1.i2.n1.s1' });
    const req = mock.sendRequests.at(-1);
    expect(req?.path).toBe('/v1/projects/shop-app/messages:send');
    expect(req?.headers['content-type']).toMatch(/^application\/json/);
    // The assertion the token endpoint verified is the documented JWT-bearer grant.
    const tokenReq = mock.server.received.filter((r) => r.path === '/token').at(-1);
    const assertion = new URLSearchParams(tokenReq?.body).get('assertion') ?? '';
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'key-1' });
    const claims = decodeJwt(assertion);
    expect(claims).toMatchObject({
      iss: 'push@shop-app.iam.gserviceaccount.com',
      sub: 'push@shop-app.iam.gserviceaccount.com',
      aud: mock.tokenUri,
      scope: 'https://www.googleapis.com/auth/firebase.messaging',
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
  });

  it('shares one token request between concurrent sends', async () => {
    const p = make();
    const issued = mock.tokensIssued;
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => p.send(message({ messageKey: `j1.v1.i${i}.n1.s1` }), signal())));
    expect(outcomes.map((o) => o.kind)).toEqual(Array(8).fill('sent'));
    expect(mock.tokensIssued - issued).toBe(1);
  });

  it('fetches a new token a minute before the old one expires', async () => {
    const p = make();
    const issued = mock.tokensIssued;
    await p.send(message(), signal());
    now += 50 * MIN;
    await p.send(message(), signal());
    expect(mock.tokensIssued - issued).toBe(1);
    now += 9 * MIN; // 59 minutes in: the 3599 s token has less than a minute left
    expect((await p.send(message(), signal())).kind).toBe('sent');
    expect(mock.tokensIssued - issued).toBe(2);
  });

  it('on a 401 fetches a new token and sends again, once', async () => {
    const p = make();
    await p.send(message(), signal());
    const issued = mock.tokensIssued;
    const sends = mock.sendRequests.length;
    mock.revokeTokens();
    expect((await p.send(message(), signal())).kind).toBe('sent');
    expect(mock.tokensIssued - issued).toBe(1);
    expect(mock.sendRequests.length - sends).toBe(2);

    mock.acceptTokens = false;
    try {
      const outcome = await p.send(message(), signal());
      expect(outcome).toEqual({ kind: 'failed', reason: expect.stringContaining('fcm: HTTP 401 UNAUTHENTICATED') });
      expect(mock.sendRequests.length - sends).toBe(4);
    } finally {
      mock.acceptTokens = true;
    }
  });

  it('dead-letters an unregistered device token', async () => {
    const outcome = await make().send(message({ to: 'bad-device' }), signal());
    expect(outcome).toEqual({ kind: 'failed', reason: 'fcm: HTTP 404 UNREGISTERED: Requested entity was not found.' });
  });

  it('retries throttling (honouring Retry-After) and server errors', async () => {
    const p = make();
    await p.send(message(), signal()); // the token is cached: the misbehaviours hit messages:send
    const quota = JSON.stringify({
      error: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: 'Quota exceeded.',
        details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'QUOTA_EXCEEDED' }],
      },
    });
    mock.server.misbehave({ kind: 'status', status: 429, retryAfter: '7', body: quota });
    expect(await p.send(message(), signal())).toEqual({
      kind: 'retry',
      reason: 'fcm: HTTP 429 QUOTA_EXCEEDED: Quota exceeded.',
      retryAfterMs: 7000,
    });
    mock.server.misbehave({ kind: 'status', status: 503, body: JSON.stringify({ error: { code: 503, status: 'UNAVAILABLE' } }) });
    expect(await p.send(message(), signal())).toEqual({ kind: 'retry', reason: 'fcm: HTTP 503 UNAVAILABLE' });
    mock.server.misbehave({ kind: 'status', status: 500 });
    expect((await p.send(message(), signal())).kind).toBe('retry');
  });

  it('reports a send that timed out as unknown (FCM does not dedupe)', async () => {
    const p = make();
    await p.send(message(), signal());
    mock.server.misbehave({ kind: 'hang' });
    expect((await p.send(message(), signal())).kind).toBe('unknown');
  });

  it('fails when the token endpoint refuses the assertion (wrong key)', async () => {
    const refused = mock.tokensRefused;
    const outcome = await make({ privateKey: otherRsa.privateKey }).send(message(), signal());
    expect(outcome).toEqual({ kind: 'failed', reason: expect.stringMatching(/^fcm token request: HTTP 400: .*invalid_grant/) });
    expect(mock.tokensRefused - refused).toBe(1);
  });

  it('refuses a loopback target unless private networks are allowed', async () => {
    const before = mock.server.received.length;
    const outcome = await make({ allowPrivateNetworks: false }).send(message(), signal());
    expect(outcome.kind).toBe('failed');
    expect(mock.server.received.length).toBe(before);
  });
});

describe('apns provider', () => {
  const mock = new ApnsMock({ teamId: 'TEAM123456', keyId: 'KEY1234567', bundleId: 'com.example.shop', publicKeyPem: ec.publicKey });

  beforeAll(() => mock.start());
  afterAll(() => mock.stop());

  const make = (over: { baseUrl?: string; allowPrivateNetworks?: boolean; timeoutMs?: number } = {}): ChannelProvider => {
    const config = apnsProvider.config.parse({
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      privateKey: ec.privateKey,
      bundleId: 'com.example.shop',
      baseUrl: over.baseUrl ?? mock.url,
      timeoutMs: over.timeoutMs ?? 500,
    });
    const p = apnsProvider.create(config, deps(over.allowPrivateNetworks));
    open.push(p);
    return p;
  };
  const jwtsOf = (from: number) => new Set(mock.delivered.slice(from).map((d) => d.jwt));

  it('validates its configuration', () => {
    const base = { teamId: 'TEAM123456', keyId: 'KEY1234567', privateKey: ec.privateKey, bundleId: 'com.example.shop' };
    expect(apnsProvider.config.parse(base).baseUrl).toBe('https://api.push.apple.com');
    expect(apnsProvider.config.safeParse({ ...base, privateKey: rsa.privateKey }).success).toBe(false);
    expect(apnsProvider.config.safeParse({ ...base, teamId: 'team' }).success).toBe(false);
    expect(apnsProvider.config.safeParse({ ...base, topic: 'x' }).success).toBe(false);
    expect(apnsProvider.name).toBe('apns');
    expect(apnsProvider.channel).toBe('push');
  });

  it('sends the exact notification with ids derived from the message key', async () => {
    const p = make();
    expect(p.honoursIdempotencyKey).toBe(false);
    const from = mock.delivered.length;
    const outcome = await p.send(message(), signal());
    const apnsId = apnsIdOf('j1.v1.i1.n1.s1');
    expect(apnsId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: apnsId });
    const d = mock.delivered[from];
    expect(d?.deviceToken).toBe('device-1');
    expect(d?.payload).toEqual({
      aps: { alert: { title: 'Your cart misses you', body: '2 items are waiting' } },
      deep_link: 'shop://cart',
      message_key: 'j1.v1.i1.n1.s1',
    });
    expect(d?.headers).toMatchObject({
      ':method': 'POST',
      ':path': '/3/device/device-1',
      'apns-topic': 'com.example.shop',
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-id': apnsId,
      'apns-collapse-id': apnsCollapseIdOf('j1.v1.i1.n1.s1'),
    });
    expect(decodeProtectedHeader(d?.jwt ?? '')).toEqual({ alg: 'ES256', kid: 'KEY1234567' });
    expect(decodeJwt(d?.jwt ?? '')).toEqual({ iss: 'TEAM123456', iat: Math.floor(now / 1000) });
    // A resend of the same message carries the same ids; another message different ones.
    await p.send(message({ fields: { title: 'T', body: 'B' } }), signal());
    expect(mock.delivered[from + 1]?.headers['apns-id']).toBe(apnsId);
    expect(mock.delivered[from + 1]?.payload).toEqual({ aps: { alert: { title: 'T', body: 'B' } }, message_key: 'j1.v1.i1.n1.s1' });
    expect(apnsIdOf('j1.v1.i2.n1.s1')).not.toBe(apnsId);
  });

  it('reuses the provider token for 50 minutes, then signs a new one', async () => {
    const p = make();
    const from = mock.delivered.length;
    await Promise.all(Array.from({ length: 5 }, (_, i) => p.send(message({ messageKey: `k${i}` }), signal())));
    now += 49 * MIN;
    await p.send(message(), signal());
    expect(jwtsOf(from).size).toBe(1);
    now += 2 * MIN;
    expect((await p.send(message(), signal())).kind).toBe('sent');
    expect(jwtsOf(from).size).toBe(2);
  });

  it('on ExpiredProviderToken signs a new token and sends again, once', async () => {
    const p = make();
    const from = mock.delivered.length;
    await p.send(message(), signal());
    now += 1000; // a new token differs from the old one only by its iat
    mock.expireProviderTokens();
    const requests = mock.requests;
    expect((await p.send(message(), signal())).kind).toBe('sent');
    expect(mock.requests - requests).toBe(2);
    expect(jwtsOf(from).size).toBe(2);
  });

  it('dead-letters unregistered and bad device tokens', async () => {
    const p = make();
    expect(await p.send(message({ to: 'gone-device' }), signal())).toEqual({ kind: 'failed', reason: 'apns: HTTP 410 Unregistered' });
    expect(await p.send(message({ to: 'bad-device' }), signal())).toEqual({ kind: 'failed', reason: 'apns: HTTP 400 BadDeviceToken' });
  });

  it('retries throttling (honouring Retry-After) and server errors', async () => {
    const p = make();
    mock.misbehave({ kind: 'status', status: 429, reason: 'TooManyRequests', retryAfter: '3' });
    expect(await p.send(message(), signal())).toEqual({ kind: 'retry', reason: 'apns: HTTP 429 TooManyRequests', retryAfterMs: 3000 });
    mock.misbehave({ kind: 'status', status: 503, reason: 'ServiceUnavailable' });
    expect(await p.send(message(), signal())).toEqual({ kind: 'retry', reason: 'apns: HTTP 503 ServiceUnavailable' });
    mock.misbehave({ kind: 'status', status: 500, reason: 'InternalServerError' });
    expect((await p.send(message(), signal())).kind).toBe('retry');
  });

  it('reports an unanswered request as unknown and keeps working', async () => {
    const p = make({ timeoutMs: 300 });
    mock.misbehave({ kind: 'hang' });
    const outcome = await p.send(message(), signal());
    expect(outcome).toEqual({ kind: 'unknown', reason: expect.stringContaining('timeout') });
    expect((await p.send(message(), signal())).kind).toBe('sent');
  });

  it('reconnects after the connection is dropped', async () => {
    const p = make();
    expect((await p.send(message(), signal())).kind).toBe('sent');
    mock.dropConnections();
    await new Promise((r) => setTimeout(r, 50));
    expect((await p.send(message(), signal())).kind).toBe('sent');
  });

  it('retries when the connection is refused', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const outcome = await make({ baseUrl: `http://127.0.0.1:${port}` }).send(message(), signal());
    expect(outcome).toEqual({ kind: 'retry', reason: expect.stringMatching(/^connect_failed: ECONNREFUSED/) });
  });

  it('refuses loopback targets unless private networks are allowed', async () => {
    const requests = mock.requests;
    const literal = await make({ allowPrivateNetworks: false }).send(message(), signal());
    expect(literal).toEqual({ kind: 'failed', reason: expect.stringContaining('127.0.0.1 is a private or reserved address') });
    const port = new URL(mock.url).port;
    const named = await make({ allowPrivateNetworks: false, baseUrl: `http://localhost:${port}` }).send(message(), signal());
    expect(named).toEqual({ kind: 'failed', reason: expect.stringContaining('private or reserved') });
    expect(mock.requests).toBe(requests);
  });
});
