import { createHash, createPrivateKey } from 'node:crypto';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import { z } from 'zod';
import { checkLiteralHost, guardedLookup, type OutboundError, type OutboundResult } from '../../core/outbound-http.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps, ProviderFactory, SendOutcome } from './channel.ts';
import { httpOutcome } from './http-outcome.ts';

/**
 * Apple Push Notification service push, over HTTP/2 (APNs speaks nothing else, so this provider
 * holds its own node:http2 session instead of using the outbound client, with the same address
 * guard). It authenticates with a provider token (an ES256 JWT) that Apple wants reused for up to
 * an hour and refreshed no more than every 20 minutes: it is re-signed after 50 minutes, or once
 * when Apple says it expired. APNs does not dedupe, so a request that may have arrived is
 * `unknown`; the apns-id and collapse id derived from the message key make a resend show once.
 */

/** A provider token is re-signed after this long (Apple refuses them after an hour). */
const tokenLifetimeMs = 50 * 60_000;
/** How long close() lets streams finish before the session is destroyed. */
const closeGraceMs = 1_000;

const appleId = (what: string) =>
  z
    .string()
    .regex(/^[A-Z0-9]{10}$/, '10 upper-case letters or digits')
    .describe(what);

/** True when the PEM is an EC (P-256) private key: checked at configuration time, not at the first send. */
function isEcPrivateKeyPem(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === 'ec';
  } catch {
    return false;
  }
}

export const apnsConfigSchema = z
  .strictObject({
    teamId: appleId('Apple Developer team id (the provider token issuer)'),
    keyId: appleId('Id of the APNs auth key (the provider token `kid`)'),
    privateKey: z
      .string()
      .refine(isEcPrivateKeyPem, 'must be the APNs auth key (.p8, PKCS#8 PEM, EC P-256)')
      .describe('The APNs auth key file (.p8) content, PKCS#8 PEM; signs the provider token (ES256)'),
    bundleId: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,200}$/, 'an app bundle id such as com.example.shop')
      .describe('The app bundle id, sent as apns-topic'),
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .default('https://api.push.apple.com')
      .describe('APNs origin: https://api.push.apple.com, or https://api.sandbox.push.apple.com for development builds'),
    timeoutMs: z.number().int().min(100).max(60_000).optional().describe('Per-request timeout; the outbound client default when absent'),
  })
  .describe('Apple Push Notification service (token-based, HTTP/2) push provider');
export type ApnsConfig = z.infer<typeof apnsConfigSchema>;

/** The rendered push fields; anything else is a dispatcher bug, dead-lettered rather than thrown. */
const pushFields = z.object({ title: z.string().min(1), body: z.string(), deepLink: z.string().min(1).optional() });
const apnsErrorBody = z.object({ reason: z.string() });

/** A UUID (version 8: hash-based) from the message key, so every send of one message carries the same apns-id. */
export function apnsIdOf(messageKey: string): string {
  const b = createHash('sha256').update(messageKey).digest().subarray(0, 16);
  b.writeUInt8((b.readUInt8(6) & 0x0f) | 0x80, 6);
  b.writeUInt8((b.readUInt8(8) & 0x3f) | 0x80, 8);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A short hash of the message key (apns-collapse-id, at most 64 bytes): a resent message replaces the first. */
export const apnsCollapseIdOf = (messageKey: string): string => createHash('sha256').update(messageKey).digest('hex').slice(0, 32);

interface Connection {
  session: ClientHttp2Session;
  /** The HTTP/2 handshake completed: from then on a request may have reached Apple. */
  connected: boolean;
}

interface ProviderToken {
  value: string;
  issuedAt: number;
}
type TokenResult = { ok: true; token: ProviderToken } | { ok: false; outcome: SendOutcome };

const failure = (error: OutboundError, message: string, mayHaveArrived: boolean): OutboundResult => ({
  ok: false,
  error,
  message,
  mayHaveArrived,
});

/** What a session or stream error means: refused targets and failed connects never reached Apple. */
function classify(err: unknown, conn: Connection): OutboundResult {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  // A stream that never started is cancelled with the session's error as its cause.
  const code = e.cause?.code ?? e.code ?? '';
  const message = e.cause?.message ?? (e.message || String(err));
  if (code === 'EBLOCKED') return failure('blocked_address', message, false);
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) {
    return failure('connect_failed', `${code}: ${message}`, false);
  }
  // A stream refused by the server, or not started because the session was going away, was not processed.
  if (code === 'ERR_HTTP2_GOAWAY_SESSION' || message.includes('NGHTTP2_REFUSED_STREAM')) {
    return failure('connection_lost', `${code}: ${message}`, false);
  }
  return failure('connection_lost', `${code || e.name}: ${message}`, conn.connected);
}

class ApnsProvider implements ChannelProvider {
  readonly name = 'apns';
  readonly honoursIdempotencyKey = false;
  private conn: Connection | null = null;
  private token: ProviderToken | null = null;
  private signing: Promise<TokenResult> | null = null;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: ApnsConfig,
    private readonly deps: ProviderDeps,
  ) {
    this.timeoutMs = config.timeoutMs ?? deps.http.options.timeoutMs;
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
    const fields = pushFields.safeParse(message.fields);
    if (!fields.success) return { kind: 'failed', reason: `apns: push fields must be {title, body, deepLink?}: ${fields.error.message}` };
    const { title, body, deepLink } = fields.data;
    const payload = JSON.stringify({
      aps: { alert: { title, body } },
      ...(deepLink === undefined ? {} : { deep_link: deepLink }),
      message_key: message.messageKey,
    });
    const apnsId = apnsIdOf(message.messageKey);
    for (let attempt = 1; ; attempt++) {
      const token = await this.providerToken();
      if (!token.ok) return token.outcome;
      const result = await this.post(
        `/3/device/${encodeURIComponent(message.to)}`,
        {
          authorization: `bearer ${token.token.value}`,
          'apns-topic': this.config.bundleId,
          'apns-push-type': 'alert',
          'apns-priority': '10',
          'apns-id': apnsId,
          'apns-collapse-id': apnsCollapseIdOf(message.messageKey),
          'content-type': 'application/json',
        },
        payload,
        signal,
      );
      const reason = result.ok ? apnsErrorBody.safeParse(parseJson(result.response.body)) : null;
      const appleReason = reason?.success ? reason.data.reason : null;
      if (result.ok && result.response.status === 403 && appleReason === 'ExpiredProviderToken' && attempt === 1) {
        if (this.token?.value === token.token.value) this.token = null;
        continue;
      }
      const outcome = httpOutcome(
        result,
        false,
        (res) => ({ kind: 'sent', providerMessageId: res.headers['apns-id'] ?? apnsId }),
        this.deps.now(),
      );
      if (!result.ok || outcome.kind === 'sent') return outcome;
      return { ...outcome, reason: `apns: HTTP ${result.response.status}${appleReason ? ` ${appleReason}` : ''}` };
    }
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    if (!conn || conn.session.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => conn.session.destroy(), closeGraceMs);
      conn.session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The current provider token, re-signed after 50 minutes (one signing shared by concurrent sends). */
  private providerToken(): Promise<TokenResult> {
    if (this.token && this.deps.now() - this.token.issuedAt < tokenLifetimeMs) return Promise.resolve({ ok: true, token: this.token });
    if (!this.signing) {
      this.signing = this.sign().finally(() => {
        this.signing = null;
      });
    }
    return this.signing;
  }

  private async sign(): Promise<TokenResult> {
    try {
      const key = await importPKCS8(this.config.privateKey, 'ES256');
      const issuedAt = this.deps.now();
      const value = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: this.config.keyId })
        .setIssuer(this.config.teamId)
        .setIssuedAt(Math.floor(issuedAt / 1000))
        .sign(key);
      this.token = { value, issuedAt };
      return { ok: true, token: this.token };
    } catch (err) {
      return { ok: false, outcome: { kind: 'failed', reason: `apns: cannot sign the provider token: ${(err as Error).message}` } };
    }
  }

  /** The open session, or a new one (after the last one closed, failed or was told to go away). */
  private connection(): Connection | OutboundResult {
    if (this.conn && !this.conn.session.closed && !this.conn.session.destroyed) return this.conn;
    const origin = new URL(this.config.baseUrl);
    const blocked = checkLiteralHost(origin.hostname, this.deps.allowPrivateNetworks);
    if (blocked !== null) return failure('blocked_address', blocked, false);
    const session = http2.connect(origin.origin, { lookup: guardedLookup(this.deps.allowPrivateNetworks) });
    const conn: Connection = { session, connected: false };
    const forget = () => {
      if (this.conn === conn) this.conn = null;
    };
    session.once('connect', () => {
      conn.connected = true;
    });
    // Errors reach the streams too; listening here keeps a failed session from crashing the process.
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    this.conn = conn;
    return conn;
  }

  /** One POST on the session, as an outbound result: answered in time, or why not and whether Apple may have seen it. */
  private post(path: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<OutboundResult> {
    const conn = this.connection();
    if (!('session' in conn)) return Promise.resolve(conn);
    return new Promise<OutboundResult>((resolve) => {
      let stream: ClientHttp2Stream | null = null;
      let settled = false;
      const finish = (result: OutboundResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (!result.ok) stream?.close(http2.constants.NGHTTP2_CANCEL);
        resolve(result);
      };
      const cutOff = (message: string) => finish(failure('timeout', message, conn.connected && stream !== null));
      const onAbort = () => cutOff('the request was cut off by its deadline');
      const timer = setTimeout(() => {
        if (conn.connected) return cutOff('APNs did not answer in time');
        // Every send waits on this handshake: drop the session so the next send connects afresh.
        conn.session.destroy();
        cutOff('connecting to APNs timed out');
      }, this.timeoutMs);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        stream = conn.session.request({ ':method': 'POST', ':path': path, ...headers });
      } catch (err) {
        return finish(classify(err, conn));
      }
      let status = 0;
      let responseHeaders: Record<string, string> = {};
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = {};
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && v !== undefined) responseHeaders[k] = String(v);
      });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.deps.http.options.maxResponseBytes) finish(failure('response_too_large', 'the APNs answer is too large', true));
        else chunks.push(chunk);
      });
      stream.on('end', () =>
        finish({
          ok: true,
          response: {
            status,
            headers: responseHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
            url: new URL(path, this.config.baseUrl).toString(),
          },
        }),
      );
      stream.on('error', (err) => finish(classify(err, conn)));
      stream.on('close', () => finish(failure('connection_lost', 'the stream closed without an answer', conn.connected)));
      stream.end(body);
    });
  }
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** The APNs provider kind: registered under `apns` for the push channel. */
export const apnsProvider: ProviderFactory<ApnsConfig> = {
  name: 'apns',
  channel: 'push',
  honoursIdempotencyKey: false,
  config: apnsConfigSchema,
  create: (config, deps) => new ApnsProvider(config, deps),
};
