import { createHmac, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { json, ProviderMock, type ReceivedRequest } from './mock-server.ts';

/** A message the Aliyun mock accepted (and so "sent"), as text or as a card. */
export interface AliyunDelivered {
  action: 'SendSms' | 'SendCardSms';
  bizId: string;
  phoneNumber: string;
  signName: string;
  /** The text template and its parameters (for a card: the fallback's). */
  templateCode: string;
  templateParam: Record<string, unknown>;
  outId: string | null;
  card: { templateCode: string; dyncParams: Record<string, unknown>; customUrl: string | null; fellBackToText: boolean } | null;
}

/** An error answer the mock gives instead of accepting (Aliyun answers errors as 200 or 4xx + Code). */
export interface AliyunForcedAnswer {
  code: string;
  message?: string;
  status?: number;
}

/**
 * An Aliyun Dysmsapi double: recomputes the RPC signature with its own encoder (so a client
 * encoding mistake shows up as SignatureDoesNotMatch, as at Aliyun), refuses reused nonces and
 * stale timestamps, and answers SendSms / SendCardSms as Aliyun does, or a forced error code.
 */
export class AliyunMock extends ProviderMock {
  readonly delivered: AliyunDelivered[] = [];
  /** Mainland numbers (11 digits) whose phones cannot show cards: SendCardSms falls back to text. */
  readonly noCardSupport = new Set<string>();
  private readonly nonces = new Set<string>();
  private readonly forced: AliyunForcedAnswer[] = [];
  private nextBiz = 1;

  constructor(
    private readonly keys: Record<string, string>,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** The next `times` correctly signed requests get this error answer (e.g. isv.BUSINESS_LIMIT_CONTROL). */
  answerNext(answer: AliyunForcedAnswer, times = 1): this {
    for (let i = 0; i < times; i++) this.forced.push(answer);
    return this;
  }

  protected handle(req: ReceivedRequest, res: ServerResponse) {
    const requestId = randomUUID().toUpperCase();
    const error = (status: number, code: string, message: string) =>
      json(res, status, { Code: code, Message: message, RequestId: requestId });
    if (req.method !== 'POST' || req.path !== '/') return error(404, 'InvalidAction.NotFound', 'Specified api is not found');
    const params = parseForm(req.body);
    const secret = this.keys[params['AccessKeyId'] ?? ''];
    if (secret === undefined) return error(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
    for (const [k, v] of Object.entries({ Format: 'JSON', SignatureMethod: 'HMAC-SHA1', SignatureVersion: '1.0', Version: '2017-05-25' })) {
      if (params[k] !== v) return error(400, 'InvalidParameter', `${k} must be ${v}`);
    }
    const { Signature: signature, ...signed } = params;
    if (signature !== sign(signed, secret)) {
      return error(400, 'SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.');
    }
    const at = Date.parse(params['Timestamp'] ?? '');
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(params['Timestamp'] ?? '') || Math.abs(this.now() - at) > 15 * 60_000) {
      return error(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    }
    const nonce = params['SignatureNonce'] ?? '';
    if (!nonce || this.nonces.has(nonce)) return error(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    this.nonces.add(nonce);
    const forced = this.forced.shift();
    if (forced) return error(forced.status ?? 200, forced.code, forced.message ?? forced.code);
    switch (params['Action']) {
      case 'SendSms':
        return this.sendSms(params, res, requestId);
      case 'SendCardSms':
        return this.sendCardSms(params, res, requestId);
      default:
        return error(400, 'InvalidAction.NotFound', 'Specified api is not found');
    }
  }

  private sendSms(p: Record<string, string>, res: ServerResponse, requestId: string) {
    const check = checkCommon(p['PhoneNumbers'], p['SignName'], p['TemplateCode'], p['TemplateParam']);
    if (typeof check === 'string') return json(res, 200, { Code: check, Message: check, RequestId: requestId });
    const bizId = this.bizId();
    this.delivered.push({
      action: 'SendSms',
      bizId,
      phoneNumber: check.phone,
      signName: check.signName,
      templateCode: check.templateCode,
      templateParam: check.templateParam,
      outId: p['OutId'] ?? null,
      card: null,
    });
    json(res, 200, { Code: 'OK', Message: 'OK', BizId: bizId, RequestId: requestId });
  }

  private sendCardSms(p: Record<string, string>, res: ServerResponse, requestId: string) {
    if (!p['CardTemplateCode']) return json(res, 200, { Code: 'MissingParameter', Message: 'CardTemplateCode', RequestId: requestId });
    if (p['FallbackType'] !== 'SMS') return json(res, 200, { Code: 'InvalidParameter', Message: 'FallbackType', RequestId: requestId });
    let objects: unknown;
    try {
      objects = JSON.parse(p['CardObjects'] ?? '');
    } catch {
      return json(res, 200, { Code: 'isv.INVALID_JSON_PARAM', Message: 'CardObjects', RequestId: requestId });
    }
    const first = Array.isArray(objects) && objects.length === 1 ? (objects[0] as Record<string, unknown>) : null;
    if (!first || typeof first['mobile'] !== 'string' || typeof first['dyncParams'] !== 'string') {
      return json(res, 200, { Code: 'InvalidParameter', Message: 'CardObjects', RequestId: requestId });
    }
    const check = checkCommon(first['mobile'], p['SignName'], p['SmsTemplateCode'], p['SmsTemplateParam']);
    if (typeof check === 'string') return json(res, 200, { Code: check, Message: check, RequestId: requestId });
    let dyncParams: Record<string, unknown>;
    try {
      dyncParams = JSON.parse(first['dyncParams']) as Record<string, unknown>;
    } catch {
      return json(res, 200, { Code: 'isv.INVALID_JSON_PARAM', Message: 'dyncParams', RequestId: requestId });
    }
    const fellBackToText = this.noCardSupport.has(check.phone);
    const bizCardId = this.bizId();
    const bizSmsId = this.bizId();
    this.delivered.push({
      action: 'SendCardSms',
      bizId: fellBackToText ? bizSmsId : bizCardId,
      phoneNumber: check.phone,
      signName: check.signName,
      templateCode: check.templateCode,
      templateParam: check.templateParam,
      outId: p['OutId'] ?? null,
      card: {
        templateCode: p['CardTemplateCode'],
        dyncParams,
        customUrl: typeof first['customUrl'] === 'string' ? first['customUrl'] : null,
        fellBackToText,
      },
    });
    json(res, 200, {
      Code: 'OK',
      Message: 'OK',
      RequestId: requestId,
      Success: true,
      Data: {
        BizCardId: bizCardId,
        BizSmsId: bizSmsId,
        CardTmpState: 2,
        MediaMobiles: fellBackToText ? '' : check.phone,
        NotMediaMobiles: fellBackToText ? check.phone : '',
      },
    });
  }

  private bizId(): string {
    return `${(this.nextBiz++).toString().padStart(12, '0')}^0`;
  }
}

/** The checks SendSms and SendCardSms share; an error Code, or the values read. */
function checkCommon(
  phone: string | undefined,
  signName: string | undefined,
  templateCode: string | undefined,
  templateParam: string | undefined,
): string | { phone: string; signName: string; templateCode: string; templateParam: Record<string, unknown> } {
  // Mainland: 11 digits (optionally 86-prefixed); elsewhere: country code + number, no "+".
  if (!phone || !/^(86)?1\d{10}$|^[1-9]\d{7,14}$/.test(phone)) return 'isv.MOBILE_NUMBER_ILLEGAL';
  if (!signName) return 'isv.SMS_SIGNATURE_ILLEGAL';
  if (!templateCode) return 'isv.SMS_TEMPLATE_ILLEGAL';
  let parsed: unknown;
  try {
    parsed = JSON.parse(templateParam ?? '');
  } catch {
    return 'isv.INVALID_JSON_PARAM';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'isv.INVALID_JSON_PARAM';
  return { phone, signName, templateCode, templateParam: parsed as Record<string, unknown> };
}

/** RFC 3986 encoding byte by byte (written independently of the provider's encodeURIComponent-based one). */
function encode(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function sign(params: Record<string, string>, secret: string): string {
  const canonical = Object.keys(params)
    .sort()
    .map((k) => `${encode(k)}=${encode(params[k] ?? '')}`)
    .join('&');
  return createHmac('sha1', `${secret}&`)
    .update(`POST&${encode('/')}&${encode(canonical)}`)
    .digest('base64');
}

/** A form body, decoded strictly (Aliyun's clients send %20, never "+", for a space). */
function parseForm(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of body.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    out[k] = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
  }
  return out;
}
