import type { z } from 'zod';
import type { OutboundClient } from '../../core/outbound-http.ts';
import type { TemplateChannel } from '../templates/schema.ts';

/**
 * The one interface every delivery provider implements (one file per provider in this folder).
 * The dispatcher renders, addresses and governs a message; a provider only delivers it and says
 * what happened. Expected failures are values (`SendOutcome`), never exceptions.
 */

/** A message ready for a provider: rendered, addressed, with its idempotency key. */
export interface OutgoingMessage {
  workspaceId: number;
  /**
   * The deterministic idempotency key (`j{journey}.v{version}.i{instance}.{node}.s{step}`), recorded
   * before the call. Providers that honour one receive it (Idempotency-Key, webhook-id, …).
   */
  messageKey: string;
  /** `sandbox` when a journey sends to the sandbox channel (any template). */
  channel: TemplateChannel | 'sandbox';
  userKey: number;
  /** The address on this channel: E.164 phone (sms, voice), email, push token, WeChat openid, or webhook URL. */
  to: string;
  /**
   * The rendered template fields of the channel (see templates/schema.ts): sms `{text, card?}`,
   * push `{title, body, deepLink?}`, email `{subject, html, text?}`, wechat `{templateId, data, url?}`,
   * webhook `{body}` (parsed JSON), voice `{script}`.
   */
  fields: Record<string, unknown>;
  transactional: boolean;
  /** The person's signed one-click unsubscribe link (already substituted into the fields); null for transactional messages. */
  unsubscribeUrl: string | null;
  /** 1 on the first try. */
  attempt: number;
}

export type SendOutcome =
  /** The provider accepted the message. */
  | { kind: 'sent'; providerMessageId: string | null }
  /** Worth trying again later (408, 429, 5xx, connection refused, a timeout at a provider that dedupes on our key). */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /** Will never succeed as is (other 4xx, invalid address, refused target): dead-lettered with the reason. */
  | { kind: 'failed'; reason: string }
  /**
   * The request may have reached a provider that does not dedupe on our key and we cannot know
   * whether it was delivered (e.g. a timeout after the request was sent). Never retried: sending
   * again could deliver twice.
   */
  | { kind: 'unknown'; reason: string };

export interface ChannelProvider {
  /** The provider's name as configured: `sandbox`, `webhook`, `smtp`, `twilio`, `aliyun`, `fcm`, `apns`, `wechat`, `voice_webhook`. */
  readonly name: string;
  /**
   * True when the provider dedupes on the key we send, so a message whose outcome is unknown (a
   * timeout, a crash mid-call) may be sent again with the same key without delivering twice.
   */
  readonly honoursIdempotencyKey: boolean;
  send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome>;
  /** Verifies (signature) and reads a callback; absent for providers that send none. */
  parseCallback?(callback: InboundCallback): CallbackResult;
  /** Releases connections and timers. */
  close?(): Promise<void>;
}

/** A provider's HTTP callback to us (delivery receipt, inbound SMS reply), as received. */
export interface InboundCallback {
  /** The full public URL the provider called (signatures such as Twilio's cover it). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body (form-encoded or JSON, as the provider sends it). */
  body: string;
}

/** What the provider reports about a message it accepted earlier (matched by its provider message id). */
export interface DeliveryReceipt {
  providerMessageId: string;
  status: 'delivered' | 'failed';
  reason?: string;
}

/** A reply a person sent to us (an SMS "STOP", "TD", "退订" …), from their address on the channel. */
export interface InboundReply {
  from: string;
  text: string;
}

export type CallbackResult = { ok: true; receipts: DeliveryReceipt[]; replies: InboundReply[] } | { ok: false; reason: string }; // e.g. a bad signature: answered 401, nothing recorded

/** Everything a provider is built from besides its own configuration. */
export interface ProviderDeps {
  /** The guarded outbound client (every HTTP call goes through it). */
  http: OutboundClient;
  /** The same setting as `http`'s, for providers on raw sockets (HTTP/2, SMTP). */
  allowPrivateNetworks: boolean;
  now: () => number;
}

/**
 * One kind of provider: its name, channel, configuration schema (zod, with descriptions: it is
 * also the API's validator and OpenAPI component) and how to build one from a validated config.
 * Providers that receive callbacks also verify and read them.
 */
export interface ProviderFactory<Config = unknown> {
  readonly name: string;
  readonly channel: TemplateChannel;
  /** As ChannelProvider's: known without building one (crash recovery decides by provider name). */
  readonly honoursIdempotencyKey: boolean;
  readonly config: z.ZodType<Config>;
  create(config: Config, deps: ProviderDeps): ChannelProvider;
}
