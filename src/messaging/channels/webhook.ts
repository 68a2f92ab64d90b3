import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { OutboundResponse } from '../../core/outbound-http.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps, ProviderFactory, SendOutcome } from './channel.ts';
import { httpOutcome } from './http-outcome.ts';

/** Headers the provider sets itself; a static header may not replace them (it would break the signature or dedupe). */
const reservedHeaders = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'idempotency-key',
  'content-type',
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
]);

/** True when the string is a Standard Webhooks secret the signing library accepts (24 to 64 random bytes). */
function isValidSecret(secret: string): boolean {
  const b64 = secret.slice('whsec_'.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return false;
  const bytes = Buffer.from(b64, 'base64').length;
  if (bytes < 24 || bytes > 64) return false;
  try {
    new Webhook(secret);
    return true;
  } catch {
    return false;
  }
}

/**
 * A Standard Webhooks endpoint's configuration. Validated here (not at send time) so a bad secret is
 * refused when the provider is configured instead of failing every message.
 */
export const webhookConfigSchema = z.strictObject({
  secret: z
    .string()
    .startsWith('whsec_', 'must start with "whsec_"')
    .refine(isValidSecret, 'must be "whsec_" followed by 24 to 64 random bytes in base64')
    .describe('Signing secret shared with the receiver: "whsec_" + base64 of 24 to 64 random bytes (Standard Webhooks)'),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(60_000)
    .optional()
    .describe('How long one delivery may take before it is retried (default: the outbound client timeout)'),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'an HTTP header name'), z.string().max(2_000))
    .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
    .refine(
      (h) => Object.keys(h).every((k) => !reservedHeaders.has(k.toLowerCase())),
      'may not set the signature, idempotency or framing headers',
    )
    .optional()
    .describe('Extra static headers sent with every delivery, e.g. {"X-Tenant": "acme"}'),
});

/** The validated configuration of a `webhook` provider. */
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

/** The receiver's own id for the delivery when it answers JSON with a string or number `id`; else null. */
function responseId(res: OutboundResponse): string | null {
  try {
    const parsed: unknown = JSON.parse(res.body);
    if (parsed !== null && typeof parsed === 'object' && 'id' in parsed) {
      const id = (parsed as { id: unknown }).id;
      if (typeof id === 'string' && id.length > 0) return id.slice(0, 200);
      if (typeof id === 'number' && Number.isFinite(id)) return String(id);
    }
  } catch {
    // Not JSON: receivers owe us nothing but a 2xx.
  }
  return null;
}

/** Signs and POSTs one message body to its target URL. */
function createWebhookProvider(config: WebhookConfig, deps: ProviderDeps): ChannelProvider {
  const signer = new Webhook(config.secret);
  return {
    name: 'webhook',
    honoursIdempotencyKey: true,
    async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
      const payload = message.fields['body'] === undefined ? undefined : JSON.stringify(message.fields['body']);
      if (payload === undefined) return { kind: 'failed', reason: 'the webhook message has no body' };
      const sentAt = new Date(deps.now());
      const headers: Record<string, string> = {
        ...config.headers,
        'content-type': 'application/json',
        'idempotency-key': message.messageKey,
        'webhook-id': message.messageKey,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': signer.sign(message.messageKey, sentAt, payload),
      };
      const result = await deps.http.request({
        method: 'POST',
        url: message.to,
        headers,
        body: payload,
        signal,
        ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
      });
      return httpOutcome(result, true, (res) => ({ kind: 'sent', providerMessageId: responseId(res) }), deps.now());
    },
  };
}

/**
 * Webhooks to a customer's own endpoint (the message's `to` is the URL), signed per Standard
 * Webhooks so any receiver library can verify them. Receivers dedupe on `webhook-id` (our message
 * key), so a delivery whose outcome is unknown is safely retried.
 */
export const webhookProvider: ProviderFactory<WebhookConfig> = {
  name: 'webhook',
  channel: 'webhook',
  honoursIdempotencyKey: true,
  config: webhookConfigSchema,
  create: createWebhookProvider,
};
