import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboundClient } from '../src/core/outbound-http.ts';
import {
  type AliyunConfig,
  aliyunConfigSchema,
  aliyunPercentEncode,
  aliyunRpcSignature,
  aliyunSmsProvider,
} from '../src/messaging/channels/aliyun-sms.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps } from '../src/messaging/channels/channel.ts';
import { type TwilioConfig, twilioConfigSchema, twilioSignature, twilioSmsProvider } from '../src/messaging/channels/twilio-sms.ts';
import { AliyunMock } from './mock-providers/aliyun.ts';
import { TwilioMock } from './mock-providers/twilio.ts';

const http = new OutboundClient({ allowPrivateNetworks: true, timeoutMs: 2_000 });
const deps: ProviderDeps = { http, allowPrivateNetworks: true, now: () => Date.now() };
const never = new AbortController().signal;

let seq = 0;
function message(to: string, fields: Record<string, unknown>, key?: string): OutgoingMessage {
  seq++;
  return {
    workspaceId: 1,
    messageKey: key ?? `j1.v1.i${seq}.sms.s1`,
    channel: 'sms',
    userKey: seq,
    to,
    fields,
    transactional: false,
    unsubscribeUrl: null,
    attempt: 1,
  };
}

afterAll(async () => {
  await http.close();
});

describe('twilio sms', () => {
  const accountSid = 'AC0123456789abcdef0123456789abcdef';
  const authToken = 'twilio-auth-token-for-tests';
  const mock = new TwilioMock(accountSid, authToken);
  let config: TwilioConfig;
  let twilio: ChannelProvider;
  const make = (overrides: Partial<TwilioConfig> = {}): ChannelProvider =>
    twilioSmsProvider.create(twilioConfigSchema.parse({ ...config, ...overrides }), deps);

  beforeAll(async () => {
    const baseUrl = await mock.start();
    config = twilioConfigSchema.parse({
      baseUrl,
      accountSid,
      authToken,
      from: '+15005550006',
      statusCallbackUrl: 'https://shopflow.example.com/callbacks/twilio',
      timeoutMs: 300,
    });
    twilio = twilioSmsProvider.create(config, deps);
  });
  afterAll(async () => {
    await mock.stop();
  });

  it('describes itself and validates its config', () => {
    expect(twilioSmsProvider.name).toBe('twilio');
    expect(twilioSmsProvider.channel).toBe('sms');
    expect(twilio.honoursIdempotencyKey).toBe(false);
    const parsed = twilioConfigSchema.parse({ accountSid, authToken, messagingServiceSid: 'MG1' });
    expect(parsed.baseUrl).toBe('https://api.twilio.com');
    expect(twilioConfigSchema.safeParse({ accountSid, authToken }).success).toBe(false);
    expect(twilioConfigSchema.safeParse({ accountSid, authToken, from: '+1500', messagingServiceSid: 'MG1' }).success).toBe(false);
    expect(twilioConfigSchema.safeParse({ accountSid, authToken, from: '+1500', extra: 1 }).success).toBe(false);
  });

  it('posts the documented form with Basic auth and our key as the idempotency token', async () => {
    const m = message('+14155550100', { text: 'Your cart misses you: 10% off & free shipping' });
    const outcome = await twilio.send(m, never);
    const last = mock.delivered.at(-1);
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: last?.sid });
    expect(last?.sid).toMatch(/^SM[0-9a-f]{32}$/);
    const req = mock.received.at(-1);
    expect(req?.path).toBe(`/2010-04-01/Accounts/${accountSid}/Messages.json`);
    expect(req?.headers.authorization).toBe(`Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`);
    expect(req?.headers['i-twilio-idempotency-token']).toBe(m.messageKey);
    expect(Object.fromEntries(new URLSearchParams(req?.body))).toEqual({
      To: '+14155550100',
      From: '+15005550006',
      Body: 'Your cart misses you: 10% off & free shipping',
      StatusCallback: 'https://shopflow.example.com/callbacks/twilio',
    });
  });

  it('sends through a Messaging Service instead of a number', async () => {
    const viaService = make({ from: undefined, messagingServiceSid: 'MG0123', statusCallbackUrl: undefined });
    expect((await viaService.send(message('+14155550101', { text: 'hi' }), never)).kind).toBe('sent');
    expect(Object.fromEntries(new URLSearchParams(mock.received.at(-1)?.body))).toEqual({
      To: '+14155550101',
      MessagingServiceSid: 'MG0123',
      Body: 'hi',
    });
  });

  it('sends the text of a card message (Twilio has no card SMS)', async () => {
    const m = message('+14155550102', { text: 'plain fallback', card: { title: 'Sale', body: 'Everything -20%' } });
    expect((await twilio.send(m, never)).kind).toBe('sent');
    expect(mock.delivered.at(-1)?.body).toBe('plain fallback');
  });

  it('fails permanently with Twilio error codes', async () => {
    expect(await twilio.send(message('+1415', { text: 'x' }), never)).toEqual({
      kind: 'failed',
      reason: "Twilio 21211: The 'To' number +1415 is not a valid phone number.",
    });
    mock.optedOut.add('+14155550199');
    const stop = await twilio.send(message('+14155550199', { text: 'x' }), never);
    expect(stop).toEqual({ kind: 'failed', reason: 'Twilio 21610: Attempt to send to unsubscribed recipient' });
    const wrongToken = make({ authToken: 'not-the-token' });
    const refused = await wrongToken.send(message('+14155550103', { text: 'x' }), never);
    expect(refused).toMatchObject({ kind: 'failed', reason: expect.stringContaining('20003') });
    expect(await twilio.send(message('+14155550104', {}), never)).toMatchObject({ kind: 'failed' });
  });

  it('retries on 429 (honouring Retry-After) and 5xx', async () => {
    mock.misbehave({ kind: 'status', status: 429, body: '{"code":20429,"message":"Too Many Requests"}', retryAfter: '7' });
    expect(await twilio.send(message('+14155550105', { text: 'x' }), never)).toMatchObject({ kind: 'retry', retryAfterMs: 7_000 });
    mock.misbehave({ kind: 'status', status: 503 });
    const unavailable = await twilio.send(message('+14155550105', { text: 'x' }), never);
    expect(unavailable.kind).toBe('retry');
    expect(unavailable).not.toHaveProperty('retryAfterMs');
  });

  it('marks a hung request unknown: Twilio does not promise to dedupe, so it is never sent twice', async () => {
    mock.misbehave({ kind: 'hang' });
    expect(await twilio.send(message('+14155550106', { text: 'x' }), never)).toMatchObject({ kind: 'unknown' });
  });

  it('a compatible provider that dedupes on our key delivers once when a send is repeated with it', async () => {
    const before = mock.delivered.length;
    const m = message('+14155550107', { text: 'once only' });
    mock.hangAfterAccepting();
    expect((await twilio.send(m, never)).kind).toBe('unknown');
    const again = await twilio.send({ ...m, attempt: 2 }, never);
    expect(mock.delivered.length).toBe(before + 1);
    expect(again).toEqual({ kind: 'sent', providerMessageId: mock.delivered.at(-1)?.sid });
  });

  describe('callbacks', () => {
    const url = 'https://shopflow.example.com/callbacks/twilio?ws=1';
    /** Twilio's documented algorithm, written out independently of the provider. */
    const sign = (token: string, signedUrl: string, form: Record<string, string>): string => {
      let data = signedUrl;
      for (const k of Object.keys(form).sort()) data += k + form[k];
      return createHmac('sha1', token).update(data).digest('base64');
    };
    const callback = (form: Record<string, string>, signature = sign(authToken, url, form), at = url) => ({
      url: at,
      headers: { 'x-twilio-signature': signature, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    const status = (s: string, extra: Record<string, string> = {}) => ({
      AccountSid: accountSid,
      ApiVersion: '2010-04-01',
      From: '+15005550006',
      MessageSid: 'SM00000000000000000000000000000042',
      MessageStatus: s,
      SmsSid: 'SM00000000000000000000000000000042',
      SmsStatus: s,
      To: '+14155550100',
      ...extra,
    });

    it('signs as Twilio documents (known answer)', () => {
      const params: [string, string][] = [
        ['CallSid', 'CA1234567890ABCDE'],
        ['Caller', '+12349013030'],
        ['Digits', '1234'],
        ['From', '+12349013030'],
        ['To', '+18005551212'],
      ];
      expect(twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    });

    it('reads delivered and failed status callbacks; other statuses give no receipt', () => {
      expect(twilio.parseCallback?.(callback(status('delivered')))).toEqual({
        ok: true,
        receipts: [{ providerMessageId: 'SM00000000000000000000000000000042', status: 'delivered' }],
        replies: [],
      });
      expect(twilio.parseCallback?.(callback(status('undelivered', { ErrorCode: '30003' })))).toEqual({
        ok: true,
        receipts: [{ providerMessageId: 'SM00000000000000000000000000000042', status: 'failed', reason: '30003' }],
        replies: [],
      });
      expect(twilio.parseCallback?.(callback(status('failed', { ErrorCode: '30007' })))).toMatchObject({
        receipts: [{ status: 'failed', reason: '30007' }],
      });
      expect(twilio.parseCallback?.(callback(status('sent')))).toEqual({ ok: true, receipts: [], replies: [] });
      expect(twilio.parseCallback?.(callback(status('queued')))).toEqual({ ok: true, receipts: [], replies: [] });
    });

    it('reads an inbound STOP as a reply', () => {
      const inbound = {
        AccountSid: accountSid,
        Body: 'STOP',
        From: '+14155550100',
        MessageSid: 'SM00000000000000000000000000000043',
        NumMedia: '0',
        SmsStatus: 'received',
        To: '+15005550006',
      };
      expect(twilio.parseCallback?.(callback(inbound))).toEqual({
        ok: true,
        receipts: [],
        replies: [{ from: '+14155550100', text: 'STOP' }],
      });
    });

    it('refuses tampered, unsigned or wrongly keyed callbacks', () => {
      const signedDelivered = sign(authToken, url, status('delivered'));
      expect(twilio.parseCallback?.(callback(status('failed'), signedDelivered))).toMatchObject({ ok: false });
      expect(twilio.parseCallback?.(callback(status('delivered'), signedDelivered, `${url}&x=1`))).toMatchObject({ ok: false });
      expect(twilio.parseCallback?.(callback(status('delivered'), sign('other-token', url, status('delivered'))))).toMatchObject({
        ok: false,
      });
      expect(twilio.parseCallback?.({ url, headers: {}, body: new URLSearchParams(status('delivered')).toString() })).toMatchObject({
        ok: false,
      });
    });

    it('accepts a signature over the URL with the default port spelled out', () => {
      const form = status('delivered');
      const withPort = sign(authToken, 'https://shopflow.example.com:443/callbacks/twilio?ws=1', form);
      expect(twilio.parseCallback?.(callback(form, withPort))).toMatchObject({ ok: true });
    });
  });
});

describe('aliyun sms', () => {
  const accessKeyId = 'LTAI5tTestKeyId';
  const accessKeySecret = 'aliyun-secret-for-tests';
  const mock = new AliyunMock({ [accessKeyId]: accessKeySecret });
  let config: AliyunConfig;
  let aliyun: ChannelProvider;
  const make = (overrides: Partial<AliyunConfig> = {}): ChannelProvider =>
    aliyunSmsProvider.create(aliyunConfigSchema.parse({ ...config, ...overrides }), deps);

  beforeAll(async () => {
    const endpoint = await mock.start();
    config = aliyunConfigSchema.parse({
      endpoint,
      accessKeyId,
      accessKeySecret,
      signName: '店铺通知',
      templateCode: 'SMS_100000001',
      callbackToken: 'aliyun-callback-token-0123456789',
      timeoutMs: 300,
    });
    aliyun = aliyunSmsProvider.create(config, deps);
  });
  afterAll(async () => {
    await mock.stop();
  });

  it('describes itself and fills config defaults', () => {
    expect(aliyunSmsProvider.name).toBe('aliyun');
    expect(aliyunSmsProvider.channel).toBe('sms');
    expect(aliyun.honoursIdempotencyKey).toBe(false);
    const parsed = aliyunConfigSchema.parse({ accessKeyId: 'a', accessKeySecret: 'b', signName: 'c', templateCode: 'd' });
    expect(parsed).toMatchObject({ endpoint: 'https://dysmsapi.aliyuncs.com', regionId: 'cn-hangzhou', paramName: 'content' });
    expect(aliyunConfigSchema.safeParse({ ...parsed, paramName: 'a b' }).success).toBe(false);
  });

  it('signs as Aliyun documents (known answer) and percent-encodes by its rules', () => {
    const params = {
      AccessKeyId: 'testId',
      Action: 'SendSms',
      Format: 'XML',
      OutId: '123',
      PhoneNumbers: '15300000001',
      RegionId: 'cn-hangzhou',
      SignName: '阿里云短信测试专用',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '45e25e9b-0a6f-4070-8c85-2956eda1b466',
      SignatureVersion: '1.0',
      TemplateCode: 'SMS_71390007',
      TemplateParam: '{"customer":"test"}',
      Timestamp: '2017-07-12T02:42:19Z',
      Version: '2017-05-25',
    };
    expect(aliyunRpcSignature('GET', params, 'testSecret')).toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
    expect(aliyunPercentEncode("a b*c~d!e'f(g)h+/")).toBe('a%20b%2Ac~d%21e%27f%28g%29h%2B%2F');
  });

  it('sends a signed SendSms with the text as the template parameter and our key as OutId', async () => {
    const text = '您的订单已发货! (Tracking: SF123*) ~ 50% off';
    const m = message('+8613800138000', { text });
    const outcome = await aliyun.send(m, never);
    const last = mock.delivered.at(-1);
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: last?.bizId });
    expect(last).toEqual({
      action: 'SendSms',
      bizId: expect.stringMatching(/\^0$/),
      phoneNumber: '13800138000',
      signName: '店铺通知',
      templateCode: 'SMS_100000001',
      templateParam: { content: text },
      outId: m.messageKey,
      card: null,
    });
    const req = mock.received.at(-1);
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/');
    expect(req?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(req?.body);
    expect([...form.keys()].sort()).toEqual(
      [
        'AccessKeyId',
        'Action',
        'Format',
        'OutId',
        'PhoneNumbers',
        'RegionId',
        'SignName',
        'Signature',
        'SignatureMethod',
        'SignatureNonce',
        'SignatureVersion',
        'TemplateCode',
        'TemplateParam',
        'Timestamp',
        'Version',
      ].sort(),
    );
    expect(form.get('Format')).toBe('JSON');
    expect(form.get('RegionId')).toBe('cn-hangzhou');
    expect(form.get('Timestamp')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(req?.body).not.toContain('+');
  });

  it('sends international numbers with their country code and no "+", and a custom template variable', async () => {
    const custom = make({ paramName: 'msg' });
    expect((await custom.send(message('+85291234567', { text: 'hello' }), never)).kind).toBe('sent');
    expect(mock.delivered.at(-1)).toMatchObject({ phoneNumber: '85291234567', templateParam: { msg: 'hello' } });
  });

  it('is refused by the mock when the signature is wrong', async () => {
    const wrong = make({ accessKeySecret: 'not-the-secret' });
    const outcome = await wrong.send(message('+8613800138001', { text: 'x' }), never);
    expect(outcome).toEqual({
      kind: 'failed',
      reason: 'SignatureDoesNotMatch: Specified signature is not matched with our calculation.',
    });
  });

  it('retries throttling and the frequency limit, fails on permanent codes', async () => {
    mock.answerNext({ code: 'isv.BUSINESS_LIMIT_CONTROL', message: '触发天级流控Permits:10' });
    expect(await aliyun.send(message('+8613800138002', { text: 'x' }), never)).toMatchObject({
      kind: 'retry',
      reason: expect.stringContaining('isv.BUSINESS_LIMIT_CONTROL'),
    });
    mock.answerNext({ code: 'Throttling.User', message: 'Request was denied due to user flow control.', status: 400 });
    expect(await aliyun.send(message('+8613800138002', { text: 'x' }), never)).toMatchObject({ kind: 'retry' });
    mock.answerNext({ code: 'isv.BLACK_KEY_CONTROL_LIMIT', message: '黑名单管控' });
    expect(await aliyun.send(message('+8613800138002', { text: 'x' }), never)).toEqual({
      kind: 'failed',
      reason: 'isv.BLACK_KEY_CONTROL_LIMIT: 黑名单管控',
    });
    expect(await aliyun.send(message('+86123', { text: 'x' }), never)).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('isv.MOBILE_NUMBER_ILLEGAL'),
    });
  });

  it('retries on 429 (honouring Retry-After) and 5xx', async () => {
    mock.misbehave({ kind: 'status', status: 429, retryAfter: '3' });
    expect(await aliyun.send(message('+8613800138003', { text: 'x' }), never)).toMatchObject({ kind: 'retry', retryAfterMs: 3_000 });
    mock.misbehave({ kind: 'status', status: 502 });
    expect((await aliyun.send(message('+8613800138003', { text: 'x' }), never)).kind).toBe('retry');
  });

  it('gives up as unknown when a request hangs or the connection drops (Aliyun does not dedupe)', async () => {
    mock.misbehave({ kind: 'hang' });
    expect((await aliyun.send(message('+8613800138004', { text: 'x' }), never)).kind).toBe('unknown');
    mock.misbehave({ kind: 'reset' });
    expect((await aliyun.send(message('+8613800138004', { text: 'x' }), never)).kind).toBe('unknown');
  });

  it('sends a card by SendCardSms, falling back to the text template', async () => {
    const withCards = make({ cardTemplateCode: 'CARD_SMS_4242' });
    const card = { title: '春季上新', body: '全场八折', imageUrl: 'https://img.example.com/a.png', url: 'https://shop.example.com/s' };
    const m = message('+8613800138005', { text: '春季上新 全场八折 https://shop.example.com/s', card });
    const outcome = await withCards.send(m, never);
    const last = mock.delivered.at(-1);
    expect(last).toMatchObject({
      action: 'SendCardSms',
      phoneNumber: '13800138005',
      signName: '店铺通知',
      templateCode: 'SMS_100000001',
      templateParam: { content: '春季上新 全场八折 https://shop.example.com/s' },
      outId: m.messageKey,
      card: { templateCode: 'CARD_SMS_4242', dyncParams: card, customUrl: card.url, fellBackToText: false },
    });
    expect(outcome).toEqual({ kind: 'sent', providerMessageId: last?.bizId });
    const form = new URLSearchParams(mock.received.at(-1)?.body);
    expect(form.get('FallbackType')).toBe('SMS');
    expect(JSON.parse(form.get('CardObjects') ?? '')).toEqual([
      { mobile: '13800138005', dyncParams: JSON.stringify(card), customUrl: card.url },
    ]);

    mock.noCardSupport.add('13800138006');
    const fallback = await withCards.send(message('+8613800138006', { text: 'plain', card }), never);
    expect(mock.delivered.at(-1)?.card?.fellBackToText).toBe(true);
    expect(fallback).toEqual({ kind: 'sent', providerMessageId: mock.delivered.at(-1)?.bizId });

    // Without a card template, a card message goes out as its text.
    expect((await aliyun.send(message('+8613800138007', { text: 'plain', card }), never)).kind).toBe('sent');
    expect(mock.delivered.at(-1)).toMatchObject({ action: 'SendSms', templateParam: { content: 'plain' } });
  });

  describe('callbacks', () => {
    const url = (token?: string) => `https://shopflow.example.com/callbacks/aliyun${token === undefined ? '' : `?token=${token}`}`;
    const good = url('aliyun-callback-token-0123456789');
    const report = [
      {
        phone_number: '13800138000',
        send_time: '2026-03-02 08:00:00',
        report_time: '2026-03-02 08:00:05',
        success: true,
        err_code: 'DELIVERED',
        err_msg: '用户接收成功',
        sms_size: '1',
        biz_id: '000000000001^0',
        out_id: 'j1.v1.i1.sms.s1',
      },
      {
        phone_number: '13800138001',
        send_time: '2026-03-02 08:00:00',
        report_time: '2026-03-02 08:00:07',
        success: false,
        err_code: 'MK:0001',
        err_msg: '停机',
        sms_size: '1',
        biz_id: '000000000002^0',
        out_id: 'j1.v1.i2.sms.s1',
      },
    ];

    it('reads SmsReport receipts keyed by BizId', () => {
      expect(aliyun.parseCallback?.({ url: good, headers: {}, body: JSON.stringify(report) })).toEqual({
        ok: true,
        receipts: [
          { providerMessageId: '000000000001^0', status: 'delivered' },
          { providerMessageId: '000000000002^0', status: 'failed', reason: 'MK:0001: 停机' },
        ],
        replies: [],
      });
    });

    it('reads SmsUp replies with E.164 senders', () => {
      const up = [
        {
          phone_number: '13800138000',
          send_time: '2026-03-02 09:00:00',
          content: 'TD',
          sign_name: '店铺通知',
          dest_code: '1234',
          sequence_id: 1,
        },
      ];
      expect(aliyun.parseCallback?.({ url: good, headers: {}, body: JSON.stringify(up) })).toEqual({
        ok: true,
        receipts: [],
        replies: [{ from: '+8613800138000', text: 'TD' }],
      });
    });

    it('refuses a wrong or missing token, and everything when no token is configured', () => {
      const body = JSON.stringify(report);
      expect(aliyun.parseCallback?.({ url: url('wrong-token'), headers: {}, body })).toMatchObject({ ok: false });
      expect(aliyun.parseCallback?.({ url: url(), headers: {}, body })).toMatchObject({ ok: false });
      const noToken = make({ callbackToken: undefined });
      expect(noToken.parseCallback?.({ url: good, headers: {}, body })).toMatchObject({ ok: false });
      expect(aliyun.parseCallback?.({ url: good, headers: {}, body: '{"not":"an array"}' })).toMatchObject({ ok: false });
    });
  });
});
