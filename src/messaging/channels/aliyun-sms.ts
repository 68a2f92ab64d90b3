import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { OutboundResponse } from '../../core/outbound-http.ts';
import type {
  CallbackResult,
  ChannelProvider,
  DeliveryReceipt,
  InboundCallback,
  InboundReply,
  OutgoingMessage,
  ProviderDeps,
  ProviderFactory,
  SendOutcome,
} from './channel.ts';
import { httpOutcome, isRetryableStatus } from './http-outcome.ts';

/**
 * SMS through Aliyun (Alibaba Cloud) Dysmsapi, the usual route to mainland Chinese phones. Its RPC
 * API is signed per request (HMAC-SHA1 over the sorted, percent-encoded parameters). Mainland SMS
 * may only use pre-registered templates, so our rendered text goes in as the single parameter of a
 * registered "${content}" template. Aliyun does not dedupe sends (its docs say so): OutId carries
 * our message key for correlation only, and a timeout is `unknown`, never retried.
 */

/** Aliyun's configuration: credentials, the registered signature and templates, and the callback token. */
export const aliyunConfigSchema = z
  .strictObject({
    endpoint: z.url().default('https://dysmsapi.aliyuncs.com').describe('API origin (the RPC path is "/")'),
    regionId: z.string().min(1).max(64).default('cn-hangzhou').describe('RegionId common parameter'),
    accessKeyId: z.string().min(1).max(128).describe('AccessKey ID (of a RAM user allowed dysms:SendSms / dysms:SendCardSms)'),
    accessKeySecret: z.string().min(1).max(256).describe('AccessKey secret: signs every request'),
    signName: z.string().min(1).max(100).describe('Approved SMS signature name (签名), shown as 【…】 before the text'),
    templateCode: z.string().min(1).max(100).describe('Approved text template (SMS_…) whose only variable receives the rendered text'),
    paramName: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits or "_", at most 64')
      .default('content')
      .describe('Name of that variable in the template, e.g. "content" for a template whose text is just that variable'),
    cardTemplateCode: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('Approved card template (CARD_SMS_…): messages with a card are sent by SendCardSms, falling back to the text template'),
    callbackToken: z
      .string()
      .min(16)
      .max(256)
      .optional()
      .describe('Shared secret the receipt/reply push URL carries as ?token=…; without it every callback is refused'),
    timeoutMs: z.number().int().min(100).max(120_000).optional().describe('Request timeout; the outbound client default when absent'),
  })
  .describe('Aliyun SMS provider');
export type AliyunConfig = z.infer<typeof aliyunConfigSchema>;

/**
 * Aliyun's percent-encoding for signing: only RFC 3986 unreserved characters stay as they are.
 * encodeURIComponent also leaves `!'()*` alone, which Aliyun encodes (a text with "!" would
 * otherwise fail with SignatureDoesNotMatch); it never produces "+" or "%7E".
 */
export function aliyunPercentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The canonicalized query: parameters sorted by name, each name and value percent-encoded. */
function canonicalize(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${aliyunPercentEncode(k)}=${aliyunPercentEncode(params[k] ?? '')}`)
    .join('&');
}

/**
 * Aliyun's RPC signature (SignatureVersion 1.0): base64 HMAC-SHA1, keyed with `secret + "&"`, of
 * `METHOD&%2F&` + percentEncode(canonicalized query). Exported for the mock and known-answer tests.
 */
export function aliyunRpcSignature(method: 'GET' | 'POST', params: Record<string, string>, accessKeySecret: string): string {
  const stringToSign = `${method}&${aliyunPercentEncode('/')}&${aliyunPercentEncode(canonicalize(params))}`;
  return createHmac('sha1', `${accessKeySecret}&`).update(stringToSign, 'utf8').digest('base64');
}

/** The number as Aliyun wants it: mainland numbers national (11 digits), others with the country code and no "+". */
function aliyunNumber(e164: string): string {
  const mainland = /^\+86(1\d{10})$/.exec(e164);
  if (mainland?.[1]) return mainland[1];
  return e164.replace(/^\+/, '');
}

/** A number from a push back to E.164 (mainland numbers arrive as 11 national digits). */
function e164Of(raw: string): string {
  const n = raw.trim();
  if (/^1\d{10}$/.test(n)) return `+86${n}`;
  if (/^861\d{10}$/.test(n)) return `+${n}`;
  if (/^00\d+$/.test(n)) return `+${n.slice(2)}`;
  return n;
}

/** Codes worth trying again later: throttling, the per-number frequency limit, Aliyun-side errors. */
function isRetryableCode(code: string): boolean {
  return (
    code === 'isv.BUSINESS_LIMIT_CONTROL' ||
    code.startsWith('Throttling') ||
    code === 'isp.SYSTEM_ERROR' ||
    code === 'SYSTEM_ERROR' ||
    code === 'ServiceUnavailable' ||
    code === 'InternalError'
  );
}

interface AliyunAnswer {
  Code: string;
  Message?: string;
  BizId?: string;
  Data?: { BizCardId?: string; BizSmsId?: string; NotMediaMobiles?: string | string[] };
}

function parseAnswer(body: string): AliyunAnswer | null {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { Code?: unknown }).Code !== 'string') return null;
    return parsed as AliyunAnswer;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** The id Aliyun's receipts will carry: BizId, or for a card the card's id unless this number fell back to text. */
function providerIdOf(answer: AliyunAnswer, mobile: string): string | null {
  if (answer.Data) {
    const fellBack = answer.Data.NotMediaMobiles;
    const list = Array.isArray(fellBack) ? fellBack : typeof fellBack === 'string' ? fellBack.split(',') : [];
    const id = list.map((m) => m.trim()).includes(mobile) ? answer.Data.BizSmsId : (answer.Data.BizCardId ?? answer.Data.BizSmsId);
    return str(id) ?? null;
  }
  return str(answer.BizId) ?? null;
}

/** What an answer carrying a Code means (Aliyun answers errors as 200 or 4xx with a Code). */
function outcomeOf(answer: AliyunAnswer, mobile: string): SendOutcome {
  if (answer.Code === 'OK') return { kind: 'sent', providerMessageId: providerIdOf(answer, mobile) };
  const reason = `${answer.Code}: ${answer.Message ?? ''}`.trim();
  if (!isRetryableCode(answer.Code)) return { kind: 'failed', reason };
  // The per-number frequency limit counts per minute (then hour, day): no point trying sooner.
  return answer.Code === 'isv.BUSINESS_LIMIT_CONTROL' ? { kind: 'retry', reason, retryAfterMs: 60_000 } : { kind: 'retry', reason };
}

/** The card fields of a rendered sms message, when it has a usable card. */
function cardOf(fields: Record<string, unknown>): Record<string, string> | null {
  const card = fields['card'];
  if (typeof card !== 'object' || card === null) return null;
  const out: Record<string, string> = {};
  for (const key of ['title', 'body', 'imageUrl', 'buttonText', 'url'] as const) {
    const v = (card as Record<string, unknown>)[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out['title'] && out['body'] ? out : null;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Compares in constant time (hashing first, so lengths do not leak either). */
function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** One item of an SmsReport (receipt) or SmsUp (reply) push. */
function readPushItem(item: unknown): DeliveryReceipt | InboundReply | null {
  if (typeof item !== 'object' || item === null) return null;
  const o = item as Record<string, unknown>;
  const bizId = str(o['biz_id']);
  if (bizId !== undefined && o['success'] !== undefined) {
    if (o['success'] === true || o['success'] === 'true') return { providerMessageId: bizId, status: 'delivered' };
    const reason = [str(o['err_code']), str(o['err_msg'])].filter(Boolean).join(': ') || 'not delivered';
    return { providerMessageId: bizId, status: 'failed', reason };
  }
  const phone = str(o['phone_number']);
  if (phone !== undefined && typeof o['content'] === 'string') return { from: e164Of(phone), text: o['content'] };
  return null;
}

class AliyunSmsProvider implements ChannelProvider {
  readonly name = 'aliyun';
  readonly honoursIdempotencyKey = false;
  private readonly url: string;

  constructor(
    private readonly config: AliyunConfig,
    private readonly deps: ProviderDeps,
  ) {
    this.url = `${config.endpoint.replace(/\/+$/, '')}/`;
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
    const text = message.fields['text'];
    if (typeof text !== 'string' || text.length === 0) return { kind: 'failed', reason: 'the sms fields have no text' };
    const mobile = aliyunNumber(message.to);
    const templateParam = JSON.stringify({ [this.config.paramName]: text });
    const card = this.config.cardTemplateCode !== undefined ? cardOf(message.fields) : null;
    const params: Record<string, string> =
      card !== null && this.config.cardTemplateCode !== undefined
        ? {
            Action: 'SendCardSms',
            CardTemplateCode: this.config.cardTemplateCode,
            CardObjects: JSON.stringify([
              { mobile, dyncParams: JSON.stringify(card), ...(card['url'] !== undefined ? { customUrl: card['url'] } : {}) },
            ]),
            SignName: this.config.signName,
            FallbackType: 'SMS',
            SmsTemplateCode: this.config.templateCode,
            SmsTemplateParam: templateParam,
            OutId: message.messageKey,
          }
        : {
            Action: 'SendSms',
            PhoneNumbers: mobile,
            SignName: this.config.signName,
            TemplateCode: this.config.templateCode,
            TemplateParam: templateParam,
            OutId: message.messageKey,
          };
    let body: string;
    try {
      body = this.signedForm(params);
    } catch (err) {
      // encodeURIComponent refuses lone surrogates (a cut emoji): nothing was sent.
      return { kind: 'failed', reason: `the message cannot be encoded: ${(err as Error).message}` };
    }
    const result = await this.deps.http.request({
      method: 'POST',
      url: this.url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      ...(this.config.timeoutMs !== undefined ? { timeoutMs: this.config.timeoutMs } : {}),
      signal,
    });
    if (result.ok && !isRetryableStatus(result.response.status)) {
      const answer = parseAnswer(result.response.body);
      if (answer) return outcomeOf(answer, mobile);
    }
    return httpOutcome(result, this.honoursIdempotencyKey, unreadable, this.deps.now());
  }

  /** The request body: the common parameters, the action's, and their signature. */
  private signedForm(action: Record<string, string>): string {
    const params: Record<string, string> = {
      AccessKeyId: this.config.accessKeyId,
      Format: 'JSON',
      RegionId: this.config.regionId,
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: randomUUID(),
      SignatureVersion: '1.0',
      Timestamp: new Date(this.deps.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      Version: '2017-05-25',
      ...action,
    };
    const signature = aliyunRpcSignature('POST', params, this.config.accessKeySecret);
    return `${canonicalize(params)}&Signature=${aliyunPercentEncode(signature)}`;
  }

  parseCallback(callback: InboundCallback): CallbackResult {
    const expected = this.config.callbackToken;
    if (expected === undefined) return { ok: false, reason: 'no callbackToken configured: Aliyun callbacks are refused' };
    let token: string | null;
    try {
      token = new URL(callback.url).searchParams.get('token');
    } catch {
      return { ok: false, reason: 'unreadable callback URL' };
    }
    if (token === null || !safeEqual(token, expected)) return { ok: false, reason: 'wrong or missing token' };
    let items: unknown;
    try {
      items = JSON.parse(callback.body);
    } catch {
      return { ok: false, reason: 'the body is not JSON' };
    }
    if (!Array.isArray(items)) return { ok: false, reason: 'the body is not a JSON array' };
    const receipts: DeliveryReceipt[] = [];
    const replies: InboundReply[] = [];
    for (const item of items) {
      const read = readPushItem(item);
      if (read === null) continue;
      if ('providerMessageId' in read) receipts.push(read);
      else replies.push(read);
    }
    return { ok: true, receipts, replies };
  }
}

/** A 2xx without a Code: Aliyun may or may not have sent it, and it does not dedupe, so never resend. */
function unreadable(res: OutboundResponse): SendOutcome {
  return { kind: 'unknown', reason: `unreadable answer (HTTP ${res.status}): ${res.body.slice(0, 300)}` };
}

/** The `aliyun` SMS provider: signed SendSms / SendCardSms calls, token-authenticated receipt and reply pushes. */
export const aliyunSmsProvider: ProviderFactory<AliyunConfig> = {
  name: 'aliyun',
  channel: 'sms',
  honoursIdempotencyKey: false,
  config: aliyunConfigSchema,
  create: (config, deps) => new AliyunSmsProvider(config, deps),
};
