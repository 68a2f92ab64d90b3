import { createHash, createPrivateKey } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { z } from 'zod';
import type { OutboundResponse } from '../../core/outbound-http.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps, ProviderFactory, SendOutcome } from './channel.ts';
import { httpOutcome } from './http-outcome.ts';

/**
 * Firebase Cloud Messaging (HTTP v1) push. FCM authenticates with a short-lived OAuth2 access
 * token that the service account obtains by signing a JWT, so the token is cached (until a minute
 * before it expires), fetched by one request however many sends wait for it, and fetched again
 * once when FCM says it is no longer valid. FCM does not dedupe on our key: a send whose outcome
 * is unknown is not retried, and a collapse key derived from the message key makes a resend
 * replace rather than duplicate the notification on the device.
 */

const scope = 'https://www.googleapis.com/auth/firebase.messaging';
/** A cached token is used until this long before it expires. */
const tokenMarginMs = 60_000;

/** True when the PEM is a private key of the given type (checked at configuration time, not at the first send). */
export function isPrivateKeyPem(pem: string, type: 'rsa' | 'ec'): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === type;
  } catch {
    return false;
  }
}

/**
 * The service account as in the key file Google issues; its other fields (type, client_id, …) are
 * accepted and dropped, so the downloaded file can be pasted as is.
 */
const serviceAccountSchema = z
  .object({
    project_id: z.string().min(1).max(200).describe('Firebase project id (the messages:send URL names it)'),
    client_email: z.string().min(3).max(320).describe('Service account email: issuer and subject of the token request'),
    private_key: z
      .string()
      .refine((pem) => isPrivateKeyPem(pem, 'rsa'), 'must be the service account RSA private key (PKCS#8 PEM)')
      .describe('Service account private key, PKCS#8 PEM (-----BEGIN PRIVATE KEY-----); signs the token request (RS256)'),
    private_key_id: z.string().max(200).optional().describe('Key id, sent as the JWT `kid` when present'),
    token_uri: z
      .url({ protocol: /^https?$/ })
      .default('https://oauth2.googleapis.com/token')
      .describe('OAuth2 token endpoint'),
  })
  .describe('The Firebase service account key file (JSON)');

export const fcmConfigSchema = z
  .strictObject({
    serviceAccount: serviceAccountSchema,
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .default('https://fcm.googleapis.com')
      .describe('FCM API origin (tests point it at a local mock)'),
    timeoutMs: z.number().int().min(100).max(60_000).optional().describe('Per-request timeout; the outbound client default when absent'),
  })
  .describe('Firebase Cloud Messaging (HTTP v1) push provider');
export type FcmConfig = z.infer<typeof fcmConfigSchema>;

/** The rendered push fields; anything else is a dispatcher bug, dead-lettered rather than thrown. */
const pushFields = z.object({ title: z.string().min(1), body: z.string(), deepLink: z.string().min(1).optional() });

const tokenResponse = z.object({ access_token: z.string().min(1), expires_in: z.coerce.number().positive() });
const sendResponse = z.object({ name: z.string().min(1) });
const fcmErrorBody = z.object({
  error: z.object({
    status: z.string().optional(),
    message: z.string().optional(),
    details: z.array(z.object({ errorCode: z.string().optional() }).loose()).optional(),
  }),
});

interface AccessToken {
  value: string;
  expiresAt: number;
}
type TokenResult = { ok: true; token: AccessToken } | { ok: false; outcome: SendOutcome };

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** A short, stable hash of the message key: the same message resent collapses into one notification. */
export const collapseKeyOf = (messageKey: string): string => createHash('sha256').update(messageKey).digest('hex').slice(0, 32);

/** `fcm: HTTP 404 UNREGISTERED: Requested entity was not found.` from FCM's error body, or null when it has none. */
function fcmReason(res: OutboundResponse): string | null {
  const parsed = fcmErrorBody.safeParse(parseJson(res.body));
  if (!parsed.success) return null;
  const { status, message, details } = parsed.data.error;
  const code = details?.find((d) => d.errorCode)?.errorCode ?? status;
  return `fcm: HTTP ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
}

/** The same outcome with a clearer reason. */
function withReason(outcome: SendOutcome, reason: string | null): SendOutcome {
  if (reason === null) return outcome;
  switch (outcome.kind) {
    case 'sent':
      return outcome;
    case 'retry':
    case 'failed':
    case 'unknown':
      return { ...outcome, reason };
    default: {
      const never: never = outcome;
      return never;
    }
  }
}

class FcmProvider implements ChannelProvider {
  readonly name = 'fcm';
  readonly honoursIdempotencyKey = false;
  private token: AccessToken | null = null;
  private pending: Promise<TokenResult> | null = null;
  private readonly sendUrl: string;

  constructor(
    private readonly config: FcmConfig,
    private readonly deps: ProviderDeps,
  ) {
    const base = config.baseUrl.replace(/\/+$/, '');
    this.sendUrl = `${base}/v1/projects/${encodeURIComponent(config.serviceAccount.project_id)}/messages:send`;
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
    const fields = pushFields.safeParse(message.fields);
    if (!fields.success) return { kind: 'failed', reason: `fcm: push fields must be {title, body, deepLink?}: ${fields.error.message}` };
    const body = JSON.stringify(this.payload(message, fields.data));
    for (let attempt = 1; ; attempt++) {
      const token = await this.accessToken();
      if (!token.ok) return token.outcome;
      const result = await this.deps.http.request({
        method: 'POST',
        url: this.sendUrl,
        headers: { authorization: `Bearer ${token.token.value}`, 'content-type': 'application/json; charset=utf-8' },
        body,
        timeoutMs: this.config.timeoutMs,
        signal,
      });
      if (result.ok && result.response.status === 401 && attempt === 1) {
        // The token was revoked or expired early: fetch a new one and send again (once).
        if (this.token?.value === token.token.value) this.token = null;
        continue;
      }
      const outcome = httpOutcome(result, false, (res) => this.accepted(res), this.deps.now());
      return result.ok ? withReason(outcome, fcmReason(result.response)) : outcome;
    }
  }

  async close(): Promise<void> {
    this.token = null;
  }

  private payload(message: OutgoingMessage, fields: z.infer<typeof pushFields>): unknown {
    const collapseKey = collapseKeyOf(message.messageKey);
    return {
      message: {
        token: message.to,
        notification: { title: fields.title, body: fields.body },
        data: { message_key: message.messageKey, ...(fields.deepLink === undefined ? {} : { deep_link: fields.deepLink }) },
        android: { collapse_key: collapseKey },
        apns: { headers: { 'apns-collapse-id': collapseKey } },
      },
    };
  }

  private accepted(res: OutboundResponse): SendOutcome {
    const parsed = sendResponse.safeParse(parseJson(res.body));
    return { kind: 'sent', providerMessageId: parsed.success ? parsed.data.name : null };
  }

  /** The cached access token, or the one request every waiting send shares. */
  private accessToken(): Promise<TokenResult> {
    if (this.token && this.deps.now() < this.token.expiresAt - tokenMarginMs) {
      return Promise.resolve({ ok: true, token: this.token });
    }
    if (!this.pending) {
      this.pending = this.fetchToken().finally(() => {
        this.pending = null;
      });
    }
    return this.pending;
  }

  private async fetchToken(): Promise<TokenResult> {
    const sa = this.config.serviceAccount;
    let assertion: string;
    try {
      const key = await importPKCS8(sa.private_key, 'RS256');
      const iat = Math.floor(this.deps.now() / 1000);
      assertion = await new SignJWT({ scope })
        .setProtectedHeader(sa.private_key_id ? { alg: 'RS256', typ: 'JWT', kid: sa.private_key_id } : { alg: 'RS256', typ: 'JWT' })
        .setIssuer(sa.client_email)
        .setSubject(sa.client_email)
        .setAudience(sa.token_uri)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 3600)
        .sign(key);
    } catch (err) {
      return { ok: false, outcome: { kind: 'failed', reason: `fcm: cannot sign the token request: ${(err as Error).message}` } };
    }
    const result = await this.deps.http.request({
      method: 'POST',
      url: sa.token_uri,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      timeoutMs: this.config.timeoutMs,
    });
    if (result.ok && result.response.status >= 200 && result.response.status < 300) {
      const parsed = tokenResponse.safeParse(parseJson(result.response.body));
      if (!parsed.success)
        return { ok: false, outcome: { kind: 'failed', reason: 'fcm: the token endpoint answered without an access token' } };
      this.token = { value: parsed.data.access_token, expiresAt: this.deps.now() + parsed.data.expires_in * 1000 };
      return { ok: true, token: this.token };
    }
    // Asking for a token again is harmless, so a transport failure is worth a retry (nothing was sent).
    const outcome = httpOutcome(result, true, () => ({ kind: 'retry', reason: 'unreachable' }), this.deps.now());
    return { ok: false, outcome: withReason(outcome, `fcm token request: ${'reason' in outcome ? outcome.reason : ''}`) };
  }
}

/** The FCM provider kind: registered under `fcm` for the push channel. */
export const fcmProvider: ProviderFactory<FcmConfig> = {
  name: 'fcm',
  channel: 'push',
  honoursIdempotencyKey: false,
  config: fcmConfigSchema,
  create: (config, deps) => new FcmProvider(config, deps),
};
