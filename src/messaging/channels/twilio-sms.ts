import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { OutboundResponse } from '../../core/outbound-http.ts';
import type {
  CallbackResult,
  ChannelProvider,
  DeliveryReceipt,
  InboundCallback,
  OutgoingMessage,
  ProviderDeps,
  ProviderFactory,
  SendOutcome,
} from './channel.ts';
import { httpOutcome, isRetryableStatus } from './http-outcome.ts';

/**
 * SMS through a Twilio-compatible Programmable Messaging API (`POST /2010-04-01/Accounts/{sid}/Messages.json`).
 * Card SMS: Twilio has no rich-card SMS, so a message with `fields.card` is sent as its `text`
 * (which the template guarantees as the fallback for phones without card support).
 */

/** Twilio's configuration: credentials, the sender (a number or a Messaging Service) and where receipts go. */
export const twilioConfigSchema = z
  .strictObject({
    baseUrl: z.url().default('https://api.twilio.com').describe('API origin; change it for a Twilio-compatible service or a test double'),
    accountSid: z.string().min(1).max(64).describe('Account SID (AC…): the Basic auth user and part of the URL'),
    authToken: z.string().min(1).max(256).describe('Auth token: the Basic auth password and the key that signs callbacks'),
    from: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('Sender phone number (E.164) or alphanumeric sender id; or give messagingServiceSid'),
    messagingServiceSid: z.string().min(1).max(64).optional().describe('Messaging Service SID (MG…) that picks the sender; or give from'),
    statusCallbackUrl: z.url().optional().describe('Our public URL Twilio posts delivery status callbacks to (StatusCallback)'),
    timeoutMs: z.number().int().min(100).max(120_000).optional().describe('Request timeout; the outbound client default when absent'),
  })
  .refine((c) => (c.from === undefined) !== (c.messagingServiceSid === undefined), {
    message: 'give exactly one of from and messagingServiceSid',
    path: ['from'],
  })
  .describe('Twilio SMS provider');
export type TwilioConfig = z.infer<typeof twilioConfigSchema>;

/**
 * Twilio's documented request signature (X-Twilio-Signature): base64 HMAC-SHA1, keyed with the
 * auth token, over the full URL followed by every POST parameter sorted by name, name then value.
 * Exported so tests (and tools replaying callbacks) sign exactly as Twilio does.
 */
export function twilioSignature(authToken: string, url: string, params: ReadonlyArray<readonly [string, string]>): string {
  const sorted = [...params].sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  let data = url;
  for (const [name, value] of sorted) data += name + value;
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * The URL as given plus its variant with/without the default port: Twilio may have signed either
 * (a proxy can add or drop `:443`), and its own libraries accept both.
 */
function urlVariants(raw: string): string[] {
  const m = /^(https?):\/\/(\[[^\]]+\]|[^/?#:]+)(?::(\d+))?(.*)$/is.exec(raw);
  if (!m) return [raw];
  const [, scheme = '', host = '', port, rest = ''] = m;
  const defaultPort = scheme.toLowerCase() === 'https' ? '443' : '80';
  if (port === undefined) return [raw, `${scheme}://${host}:${defaultPort}${rest}`];
  return port === defaultPort ? [raw, `${scheme}://${host}${rest}`] : [raw];
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Compares in constant time (hashing first, so lengths do not leak either). */
function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function header(headers: InboundCallback['headers'], name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

/** Twilio's error body (`{code, message, more_info, status}`), when the answer is one. */
function twilioError(res: OutboundResponse): { code: number | string; message: string } | null {
  try {
    const body: unknown = JSON.parse(res.body);
    if (typeof body !== 'object' || body === null) return null;
    const { code, message } = body as { code?: unknown; message?: unknown };
    if (typeof code !== 'number' && typeof code !== 'string') return null;
    return { code, message: typeof message === 'string' ? message : '' };
  } catch {
    return null;
  }
}

/** Reads a 2xx answer: `{sid, status}`. */
function accepted(res: OutboundResponse): SendOutcome {
  try {
    const body: unknown = JSON.parse(res.body);
    const sid = typeof body === 'object' && body !== null ? (body as { sid?: unknown }).sid : undefined;
    return { kind: 'sent', providerMessageId: typeof sid === 'string' ? sid : null };
  } catch {
    // A 2xx means Twilio created the message; an unreadable body only costs us the receipt match.
    return { kind: 'sent', providerMessageId: null };
  }
}

/** Message statuses that end a message's delivery (others — queued, sending, sent, … — are progress: no receipt). */
function receiptOf(params: URLSearchParams): DeliveryReceipt | null {
  const sid = params.get('MessageSid') ?? params.get('SmsSid');
  const status = params.get('MessageStatus');
  if (!sid || !status) return null;
  if (status === 'delivered') return { providerMessageId: sid, status: 'delivered' };
  if (status === 'undelivered' || status === 'failed') {
    return { providerMessageId: sid, status: 'failed', reason: params.get('ErrorCode') || status };
  }
  return null;
}

class TwilioSmsProvider implements ChannelProvider {
  readonly name = 'twilio';
  // Twilio's public Messages API does not promise to dedupe on I-Twilio-Idempotency-Token (it
  // sends that header on its own webhooks); we pass our key for compatible providers that do, but
  // a call that may have arrived is never retried: `unknown` rather than a possible second SMS.
  readonly honoursIdempotencyKey = false;
  private readonly endpoint: string;
  private readonly authorization: string;

  constructor(
    private readonly config: TwilioConfig,
    private readonly deps: ProviderDeps,
  ) {
    this.endpoint = `${config.baseUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}/Messages.json`;
    this.authorization = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`;
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
    const text = message.fields['text'];
    if (typeof text !== 'string' || text.length === 0) return { kind: 'failed', reason: 'the sms fields have no text' };
    const form = new URLSearchParams({ To: message.to });
    if (this.config.messagingServiceSid !== undefined) form.set('MessagingServiceSid', this.config.messagingServiceSid);
    else if (this.config.from !== undefined) form.set('From', this.config.from);
    // Card SMS is not a Twilio feature: the text is what every phone gets.
    form.set('Body', text);
    if (this.config.statusCallbackUrl !== undefined) form.set('StatusCallback', this.config.statusCallbackUrl);
    const result = await this.deps.http.request({
      method: 'POST',
      url: this.endpoint,
      headers: {
        authorization: this.authorization,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        'i-twilio-idempotency-token': message.messageKey,
      },
      body: form.toString(),
      ...(this.config.timeoutMs !== undefined ? { timeoutMs: this.config.timeoutMs } : {}),
      signal,
    });
    if (result.ok) {
      const { status } = result.response;
      if (status >= 400 && status < 500 && !isRetryableStatus(status)) {
        // 21610 (recipient unsubscribed with STOP), 21211 (invalid To), 21408 (region not enabled), …
        const error = twilioError(result.response);
        if (error) return { kind: 'failed', reason: `Twilio ${error.code}: ${error.message}`.trim() };
      }
    }
    return httpOutcome(result, this.honoursIdempotencyKey, accepted, this.deps.now());
  }

  parseCallback(callback: InboundCallback): CallbackResult {
    const signature = header(callback.headers, 'x-twilio-signature');
    if (!signature) return { ok: false, reason: 'no X-Twilio-Signature' };
    const params = new URLSearchParams(callback.body);
    const pairs = [...params.entries()];
    const valid = urlVariants(callback.url).some((url) => safeEqual(twilioSignature(this.config.authToken, url, pairs), signature));
    if (!valid) return { ok: false, reason: 'X-Twilio-Signature does not match' };
    if (params.has('MessageStatus')) {
      const receipt = receiptOf(params);
      return { ok: true, receipts: receipt ? [receipt] : [], replies: [] };
    }
    const from = params.get('From');
    const body = params.get('Body');
    if (from && body !== null) return { ok: true, receipts: [], replies: [{ from, text: body }] };
    return { ok: true, receipts: [], replies: [] };
  }
}

/** The `twilio` SMS provider: sends with our message key as I-Twilio-Idempotency-Token, signed status and reply callbacks. */
export const twilioSmsProvider: ProviderFactory<TwilioConfig> = {
  name: 'twilio',
  channel: 'sms',
  honoursIdempotencyKey: false,
  config: twilioConfigSchema,
  create: (config, deps) => new TwilioSmsProvider(config, deps),
};
