import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboundClient } from '../src/core/outbound-http.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps } from '../src/messaging/channels/channel.ts';
import { smtpConfigSchema, smtpEmailProvider, smtpMessageId } from '../src/messaging/channels/smtp-email.ts';
import { wechatConfigSchema, wechatProvider } from '../src/messaging/channels/wechat.ts';
import { SmtpMock } from './mock-providers/smtp.ts';
import { WechatMock } from './mock-providers/wechat.ts';

const http = new OutboundClient({ allowPrivateNetworks: true, timeoutMs: 1_500 });
const deps: ProviderDeps = { http, allowPrivateNetworks: true, now: () => Date.now() };
const providers: ChannelProvider[] = [];
const live = <P extends ChannelProvider>(p: P): P => {
  providers.push(p);
  return p;
};

let seq = 0;
function message(over: Partial<OutgoingMessage>): OutgoingMessage {
  seq++;
  return {
    workspaceId: 1,
    messageKey: `j1.v1.i${seq}.send.s1`,
    channel: 'wechat',
    userKey: seq,
    to: `oUser${seq}`,
    fields: {},
    transactional: false,
    unsubscribeUrl: null,
    attempt: 1,
    ...over,
  };
}
const noSignal = () => new AbortController().signal;

const wechat = new WechatMock('wxAPP123', 'secret-abc');
const smtp = new SmtpMock();
/** Accepts TCP connections and never says a word (no SMTP greeting). */
let silent: Server;
const silentSockets = new Set<Socket>();
/** A local port nothing listens on. */
let closedPort = 0;

beforeAll(async () => {
  await wechat.start();
  await smtp.start();
  silent = createServer((socket) => {
    silentSockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  for (const p of providers) await p.close?.();
  for (const socket of silentSockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
  await wechat.stop();
  await smtp.stop();
  await http.close();
});

describe('wechat', () => {
  const provider = (over: Record<string, unknown> = {}, d: ProviderDeps = deps) =>
    live(wechatProvider.create(wechatConfigSchema.parse({ appId: 'wxAPP123', appSecret: 'secret-abc', baseUrl: wechat.url, ...over }), d));
  const template = (over: Record<string, unknown> = {}) => ({
    kind: 'template',
    templateId: 'TPL_ORDER',
    data: { first: 'Your order shipped', keyword1: 'SO-1001' },
    ...over,
  });

  it('validates its configuration, with defaults', () => {
    const parsed = wechatConfigSchema.parse({ appId: 'wx1', appSecret: 's' });
    expect(parsed).toEqual({ appId: 'wx1', appSecret: 's', baseUrl: 'https://api.weixin.qq.com', miniprogramState: 'formal' });
    expect(wechatConfigSchema.safeParse({ appId: 'wx1', appSecret: 's', extra: 1 }).success).toBe(false);
    expect(wechatConfigSchema.safeParse({ appId: 'wx1' }).success).toBe(false);
    expect(wechatProvider.create(parsed, deps).honoursIdempotencyKey).toBe(false);
  });

  it('sends a template message with exactly the official-account payload', async () => {
    const p = provider();
    const outcome = await p.send(
      message({ to: 'oTemplateUser', fields: template({ url: 'https://shop.example/o/1001', page: 'ignored/for/templates' }) }),
      noSignal(),
    );
    expect(outcome.kind).toBe('sent');
    const sent = wechat.delivered.at(-1);
    // msgid beyond 2^53 comes back exactly as WeChat wrote it.
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: sent?.msgid });
    expect(sent?.msgid.length).toBe(19);
    expect(sent?.kind).toBe('template');
    expect(sent?.body).toEqual({
      touser: 'oTemplateUser',
      template_id: 'TPL_ORDER',
      url: 'https://shop.example/o/1001',
      data: { first: { value: 'Your order shipped' }, keyword1: { value: 'SO-1001' } },
    });
    const req = wechat.sendRequests().at(-1);
    expect(req?.path).toBe(`/cgi-bin/message/template/send?access_token=${sent?.token}`);
    expect(req?.headers['content-type']).toBe('application/json');
    const tokenReq = wechat.received.find((r) => r.path.startsWith('/cgi-bin/token'));
    expect(tokenReq?.method).toBe('GET');
    expect(tokenReq?.path).toBe('/cgi-bin/token?grant_type=client_credential&appid=wxAPP123&secret=secret-abc');
  });

  it('leaves url out of a template message without one', async () => {
    const p = provider();
    expect((await p.send(message({ to: 'oNoUrl', fields: template() }), noSignal())).kind).toBe('sent');
    expect(wechat.delivered.at(-1)?.body).toEqual({
      touser: 'oNoUrl',
      template_id: 'TPL_ORDER',
      data: { first: { value: 'Your order shipped' }, keyword1: { value: 'SO-1001' } },
    });
  });

  it('sends a subscription message with page and miniprogram_state', async () => {
    const p = provider({ miniprogramState: 'trial' });
    const fields = { kind: 'subscribe', templateId: 'SUB_TPL', data: { thing1: 'Coupon', time2: '2025-06-01' }, page: 'pages/coupon?id=7' };
    const outcome = await p.send(message({ to: 'oSubUser', fields }), noSignal());
    expect(outcome.kind).toBe('sent');
    const sent = wechat.delivered.at(-1);
    expect(sent?.kind).toBe('subscribe');
    expect(sent?.body).toEqual({
      touser: 'oSubUser',
      template_id: 'SUB_TPL',
      page: 'pages/coupon?id=7',
      miniprogram_state: 'trial',
      data: { thing1: { value: 'Coupon' }, time2: { value: '2025-06-01' } },
    });
    expect(wechat.sendRequests().at(-1)?.path.startsWith('/cgi-bin/message/subscribe/send?access_token=')).toBe(true);
  });

  it('fetches the token once for sequential sends and once for concurrent ones', async () => {
    const sequential = provider();
    const before = wechat.tokensIssued;
    expect((await sequential.send(message({ fields: template() }), noSignal())).kind).toBe('sent');
    expect((await sequential.send(message({ fields: template() }), noSignal())).kind).toBe('sent');
    expect(wechat.tokensIssued - before).toBe(1);

    const concurrent = provider();
    const mid = wechat.tokensIssued;
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => concurrent.send(message({ fields: template() }), noSignal())));
    expect(outcomes.every((o) => o.kind === 'sent')).toBe(true);
    expect(wechat.tokensIssued - mid).toBe(1);
  });

  it('refreshes the token five minutes before it expires', async () => {
    let clock = 1_000_000;
    const p = provider({}, { ...deps, now: () => clock });
    const before = wechat.tokensIssued;
    await p.send(message({ fields: template() }), noSignal());
    clock += (7200 - 300) * 1000 - 1;
    await p.send(message({ fields: template() }), noSignal());
    expect(wechat.tokensIssued - before).toBe(1);
    clock += 2;
    expect((await p.send(message({ fields: template() }), noSignal())).kind).toBe('sent');
    expect(wechat.tokensIssued - before).toBe(2);
  });

  it('on an expired token fetches a new one and sends again, once', async () => {
    const p = provider();
    await p.send(message({ fields: template() }), noSignal());
    const tokens = wechat.tokensIssued;
    const sends = wechat.sendRequests().length;
    wechat.expireToken();
    const outcome = await p.send(message({ to: 'oAfterExpiry', fields: template() }), noSignal());
    expect(outcome.kind).toBe('sent');
    expect(wechat.tokensIssued - tokens).toBe(1);
    expect(wechat.sendRequests().length - sends).toBe(2);
    expect(wechat.delivered.at(-1)?.body.touser).toBe('oAfterExpiry');

    // Rejected again after the refetch: retried later, not looped on.
    wechat.answerNext(42001, 'access_token expired', 2);
    const again = await p.send(message({ fields: template() }), noSignal());
    expect(again).toEqual({ kind: 'retry', reason: 'errcode 42001: access_token expired' });
    expect(wechat.sendRequests().length - sends).toBe(4);
  });

  it('fails for a person who does not follow the account or refused the subscription', async () => {
    const p = provider();
    expect(await p.send(message({ to: 'unfollowed-42', fields: template() }), noSignal())).toEqual({
      kind: 'failed',
      reason: 'errcode 43004: require subscribe',
    });
    const refused = await p.send(message({ to: 'refused-7', fields: { kind: 'subscribe', templateId: 'S', data: {} } }), noSignal());
    expect(refused).toEqual({ kind: 'failed', reason: 'errcode 43101: user refuse to accept the msg' });
    wechat.answerNext(40037, 'invalid template_id');
    expect(await p.send(message({ fields: template() }), noSignal())).toEqual({
      kind: 'failed',
      reason: 'errcode 40037: invalid template_id',
    });
  });

  it('retries on quota (45009), system busy (-1), 429 and 500', async () => {
    const p = provider();
    await p.send(message({ fields: template() }), noSignal());
    wechat.answerNext(45009, 'reach max api daily quota limit');
    expect(await p.send(message({ fields: template() }), noSignal())).toEqual({
      kind: 'retry',
      reason: 'errcode 45009: reach max api daily quota limit',
    });
    wechat.answerNext(-1, 'system error');
    expect((await p.send(message({ fields: template() }), noSignal())).kind).toBe('retry');
    wechat.misbehave({ kind: 'status', status: 429, retryAfter: '7' });
    expect(await p.send(message({ fields: template() }), noSignal())).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
    wechat.misbehave({ kind: 'status', status: 500 });
    expect((await p.send(message({ fields: template() }), noSignal())).kind).toBe('retry');
  });

  it('calls a send that timed out after it went out unknown (WeChat does not dedupe)', async () => {
    const p = provider({ timeoutMs: 300 });
    await p.send(message({ fields: template() }), noSignal());
    wechat.misbehave({ kind: 'hang' });
    expect((await p.send(message({ fields: template() }), noSignal())).kind).toBe('unknown');
  });

  it('retries when the token cannot be had, and fails messages that cannot be sent', async () => {
    const wrong = provider({ appSecret: 'wrong' });
    const outcome = await wrong.send(message({ fields: template() }), noSignal());
    expect(outcome).toEqual({ kind: 'retry', reason: 'wechat access token: errcode 40125: invalid appsecret' });
    const p = provider();
    expect((await p.send(message({ fields: { templateId: 'T' } }), noSignal())).kind).toBe('failed');
    expect((await p.send(message({ to: 'not an openid', fields: template() }), noSignal())).kind).toBe('failed');
  });
});

describe('smtp email', () => {
  const provider = (over: Record<string, unknown> = {}, d: ProviderDeps = deps) =>
    live(
      smtpEmailProvider.create(
        smtpConfigSchema.parse({ host: '127.0.0.1', port: smtp.port, from: 'Shop <news@shop.example>', timeoutMs: 2_000, ...over }),
        d,
      ),
    );
  const email = (over: Partial<OutgoingMessage> = {}) =>
    message({
      channel: 'email',
      to: `person${seq + 1}@example.com`,
      fields: { subject: 'Spring sale', html: '<p>Hello <b>Ann</b></p>', text: 'Hello Ann' },
      ...over,
    });

  it('validates its configuration, with defaults', () => {
    const parsed = smtpConfigSchema.parse({ host: 'smtp.example.com', from: 'news@shop.example' });
    expect(parsed).toEqual({ host: 'smtp.example.com', port: 587, secure: false, from: 'news@shop.example' });
    expect(smtpConfigSchema.safeParse({ host: 'h', from: 'a@b', extra: 1 }).success).toBe(false);
    expect(smtpConfigSchema.safeParse({ host: 'h', from: 'a@b\r\nBcc: x@y' }).success).toBe(false);
    expect(smtpMessageId('j1.v2.i3.send 1.s1')).toBe('<j1.v2.i3.send=201.s1@shopflow>');
  });

  it('delivers a marketing email with its Message-ID, one-click unsubscribe headers, HTML and text', async () => {
    const p = provider({ replyTo: 'care@shop.example' });
    const m = email({ to: 'ann@example.com', unsubscribeUrl: 'https://shop.example/u/abc.def?x=1' });
    const outcome = await p.send(m, noSignal());
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: expect.stringMatching(/^Q\d+$/) });
    const got = smtp.messageTo('ann@example.com');
    expect(got.mailFrom).toBe('news@shop.example');
    expect(got.rcptTo).toEqual(['ann@example.com']);
    expect(got.hung).toBe(false);
    expect(got.headers['message-id']).toEqual([`<${m.messageKey}@shopflow>`]);
    expect(got.headers['list-unsubscribe']).toEqual(['<https://shop.example/u/abc.def?x=1>']);
    expect(got.headers['list-unsubscribe-post']).toEqual(['List-Unsubscribe=One-Click']);
    expect(got.headers.from).toEqual(['Shop <news@shop.example>']);
    expect(got.headers.to).toEqual(['ann@example.com']);
    expect(got.headers['reply-to']).toEqual(['care@shop.example']);
    expect(got.headers.subject).toEqual(['Spring sale']);
    expect(got.headers['x-mailer']).toBeUndefined();
    expect(got.parts.map((x) => x.contentType)).toEqual(['text/plain', 'text/html']);
    expect(got.parts[0]?.body.trim()).toBe('Hello Ann');
    expect(got.parts[1]?.body.trim()).toBe('<p>Hello <b>Ann</b></p>');
  });

  it('sends no unsubscribe headers when there is no unsubscribe link (transactional)', async () => {
    const p = provider();
    const outcome = await p.send(
      email({ to: 'receipt@example.com', transactional: true, unsubscribeUrl: null, fields: { subject: 'Receipt', html: '<p>Paid</p>' } }),
      noSignal(),
    );
    expect(outcome.kind).toBe('sent');
    const got = smtp.messageTo('receipt@example.com');
    expect(got.headers['list-unsubscribe']).toBeUndefined();
    expect(got.headers['list-unsubscribe-post']).toBeUndefined();
    expect(got.parts.map((x) => x.contentType)).toEqual(['text/html']);
  });

  it('reuses pooled connections', async () => {
    const p = provider();
    const before = smtp.connections;
    expect((await p.send(email(), noSignal())).kind).toBe('sent');
    expect((await p.send(email(), noSignal())).kind).toBe('sent');
    expect(smtp.connections - before).toBe(1);
  });

  it('fails on a 550 recipient and retries on a 451, keeping the connection usable', async () => {
    smtp.rejectRecipient('nobody@example.com', 550).rejectRecipient('greylisted@example.com', 451);
    const p = provider();
    const failed = await p.send(email({ to: 'nobody@example.com' }), noSignal());
    expect(failed.kind).toBe('failed');
    expect(failed.kind !== 'sent' && failed.reason).toContain('550');
    const retry = await p.send(email({ to: 'greylisted@example.com' }), noSignal());
    expect(retry.kind).toBe('retry');
    expect(retry.kind !== 'sent' && retry.reason).toContain('451');
    expect((await p.send(email(), noSignal())).kind).toBe('sent');
  });

  it('calls a message whose data went out without an answer unknown, and recovers', async () => {
    const p = provider({ timeoutMs: 400 });
    smtp.hangAfterData();
    const outcome = await p.send(email({ to: 'hang@example.com' }), noSignal());
    expect(outcome.kind).toBe('unknown');
    expect(smtp.messageTo('hang@example.com').hung).toBe(true);
    expect((await p.send(email(), noSignal())).kind).toBe('sent');
  });

  it('retries a message whose envelope went unanswered: no data went out, so nothing was delivered', async () => {
    const p = provider({ timeoutMs: 400 });
    smtp.hangOnRecipient();
    const before = smtp.received.length;
    const outcome = await p.send(email({ to: 'stalled@example.com' }), noSignal());
    expect(outcome.kind).toBe('retry');
    expect(smtp.received.length).toBe(before);
    expect((await p.send(email(), noSignal())).kind).toBe('sent');
  });

  it('retries when the connection is refused or no greeting comes', async () => {
    const refused = provider({ port: closedPort });
    const outcome = await refused.send(email(), noSignal());
    expect(outcome.kind).toBe('retry');
    expect(outcome.kind !== 'sent' && outcome.reason).toContain('ECONNREFUSED');
    const mute = provider({ port: (silent.address() as AddressInfo).port, timeoutMs: 300 });
    expect((await mute.send(email(), noSignal())).kind).toBe('retry');
  });

  it('refuses a private relay unless private networks are allowed, before connecting', async () => {
    const guarded: ProviderDeps = { ...deps, allowPrivateNetworks: false };
    const before = smtp.connections;
    const literal = await provider({}, guarded).send(email(), noSignal());
    expect(literal).toEqual({ kind: 'failed', reason: expect.stringContaining('127.0.0.1 is a private or reserved address') });
    const named = await provider({ host: 'localhost' }, guarded).send(email(), noSignal());
    expect(named).toEqual({ kind: 'failed', reason: expect.stringContaining('resolves to a private or reserved address') });
    expect(smtp.connections).toBe(before);
  });

  it('fails messages it cannot build', async () => {
    const p = provider();
    expect((await p.send(email({ fields: { subject: 'No body' } }), noSignal())).kind).toBe('failed');
    expect((await p.send(email({ to: 'not-an-address' }), noSignal())).kind).toBe('failed');
  });
});
