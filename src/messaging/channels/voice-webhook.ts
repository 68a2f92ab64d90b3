import { createHmac, timingSafeEqual } from 'node:crypto';
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
import { httpOutcome } from './http-outcome.ts';

/**
 * A voice provider's call-task API. Kept generic (a URL, a bearer key, a caller id) so any
 * provider with a "place a call that reads this script" endpoint fits without code.
 */
export const voiceWebhookConfigSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: 'an http(s) URL' })
    .max(2_000)
    .describe("The provider's call-task endpoint; one POST places one call"),
  apiKey: z
    .string()
    .min(8)
    .max(500)
    .describe('Sent as "Authorization: Bearer …"; also the key of the HMAC-SHA256 that signs status callbacks'),
  callerId: z
    .string()
    .regex(/^\+[1-9]\d{1,14}$/, 'an E.164 number, e.g. +14155550100')
    .describe('The number calls come from (E.164), as registered with the provider'),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(60_000)
    .optional()
    .describe('How long placing one call may take before it is retried (default: the outbound client timeout)'),
});

/** The validated configuration of a `voice_webhook` provider. */
export type VoiceWebhookConfig = z.infer<typeof voiceWebhookConfigSchema>;

/** How a call ended, as the provider reports it. */
const callStatuses = ['completed', 'no_answer', 'busy', 'failed'] as const;
type CallStatus = (typeof callStatuses)[number];

/** The status callback; other fields (duration, timestamps…) are allowed and ignored. */
const callbackSchema = z.looseObject({
  callId: z.string().min(1).max(200),
  status: z.enum(callStatuses),
});

/** The `callId` of a 2xx answer, or null when the provider did not give one. */
function callIdOf(res: OutboundResponse): string | null {
  try {
    const parsed: unknown = JSON.parse(res.body);
    if (parsed !== null && typeof parsed === 'object' && 'callId' in parsed) {
      const id = (parsed as { callId: unknown }).callId;
      if (typeof id === 'string' && id.length > 0) return id;
    }
  } catch {
    // Fall through: accepted, but without an id to match receipts on.
  }
  return null;
}

/** Hex HMAC-SHA256 of the raw body, compared in constant time. */
function signatureMatches(apiKey: string, body: string, header: string | string[] | undefined): boolean {
  const given = Array.isArray(header) ? header[0] : header;
  if (!given || !/^[0-9a-fA-F]{64}$/.test(given)) return false;
  const expected = createHmac('sha256', apiKey).update(body, 'utf8').digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

/** A receipt for how a call ended: only an answered call counts as delivered. */
function receiptOf(callId: string, status: CallStatus): DeliveryReceipt {
  switch (status) {
    case 'completed':
      return { providerMessageId: callId, status: 'delivered' };
    case 'no_answer':
    case 'busy':
    case 'failed':
      return { providerMessageId: callId, status: 'failed', reason: status };
    default: {
      const unreachable: never = status;
      throw new Error(`unknown call status ${String(unreachable)}`);
    }
  }
}

/** Reads a status callback after checking its signature; anything unsigned or unreadable records nothing. */
function parseVoiceCallback(apiKey: string, callback: InboundCallback): CallbackResult {
  if (!signatureMatches(apiKey, callback.body, callback.headers['x-signature'])) {
    return { ok: false, reason: 'missing or invalid x-signature' };
  }
  let json: unknown;
  try {
    json = JSON.parse(callback.body);
  } catch {
    return { ok: false, reason: 'the callback body is not JSON' };
  }
  const parsed = callbackSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: `unreadable callback: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  return { ok: true, receipts: [receiptOf(parsed.data.callId, parsed.data.status)], replies: [] };
}

/** Places one call per message through the provider's API, keyed so a repeated request places none. */
function createVoiceWebhookProvider(config: VoiceWebhookConfig, deps: ProviderDeps): ChannelProvider {
  return {
    name: 'voice_webhook',
    honoursIdempotencyKey: true,
    async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
      const script = message.fields['script'];
      if (typeof script !== 'string' || script.length === 0) return { kind: 'failed', reason: 'the voice message has no script' };
      const result = await deps.http.request({
        method: 'POST',
        url: config.url,
        headers: {
          authorization: `Bearer ${config.apiKey}`,
          'content-type': 'application/json',
          'idempotency-key': message.messageKey,
        },
        body: JSON.stringify({ to: message.to, callerId: config.callerId, script, idempotencyKey: message.messageKey }),
        signal,
        ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
      });
      return httpOutcome(result, true, (res) => ({ kind: 'sent', providerMessageId: callIdOf(res) }), deps.now());
    },
    parseCallback: (callback) => parseVoiceCallback(config.apiKey, callback),
  };
}

/**
 * Outbound voice calls (a script read to the person) through a provider's HTTP call-task API. The
 * provider dedupes on our idempotency key, so an unknown outcome is retried without calling twice;
 * it reports how each call ended in HMAC-signed callbacks.
 */
export const voiceWebhookProvider: ProviderFactory<VoiceWebhookConfig> = {
  name: 'voice_webhook',
  channel: 'voice',
  honoursIdempotencyKey: true,
  config: voiceWebhookConfigSchema,
  create: createVoiceWebhookProvider,
};
