import { z } from 'zod';
import type { OutboundClient } from '../../core/outbound-http.ts';
import type { SendOutcome } from './channel.ts';
import { httpOutcome } from './http-outcome.ts';

/**
 * The WeChat access token of one app. Every API call needs it; WeChat caps how many tokens an app
 * may fetch a day, and a new token retires the previous one (after a short overlap), so it is
 * fetched once, kept until shortly before it expires and shared by all sends.
 */

/** The token is refreshed this long before WeChat says it expires, so no send carries a dying one. */
export const tokenRefreshMarginMs = 5 * 60_000;

export interface WechatTokenOptions {
  http: OutboundClient;
  baseUrl: string;
  appId: string;
  appSecret: string;
  timeoutMs?: number;
  now: () => number;
}

/** A token, or what the message should do when none could be had (never thrown). */
export type TokenResult = { ok: true; token: string } | { ok: false; outcome: SendOutcome };

const tokenAnswerSchema = z.union([
  z.object({ access_token: z.string().min(1), expires_in: z.number().positive() }),
  z.object({ errcode: z.number(), errmsg: z.string().optional() }),
]);

/**
 * Caches one app's access token and fetches it single-flight: concurrent sends that find no valid
 * token wait on the same request instead of each fetching (and retiring) one.
 */
export class WechatTokenCache {
  private cached: { token: string; refreshAt: number } | null = null;
  private pending: Promise<TokenResult> | null = null;
  /** Tokens fetched so far (for logs and tests). */
  fetches = 0;

  constructor(private readonly options: WechatTokenOptions) {}

  /** The cached token while it is fresh, else the result of the one fetch in flight. */
  get(): Promise<TokenResult> {
    const cached = this.cached;
    if (cached && this.options.now() < cached.refreshAt) return Promise.resolve({ ok: true, token: cached.token });
    if (!this.pending) {
      this.pending = this.fetch().finally(() => {
        this.pending = null;
      });
    }
    return this.pending;
  }

  /**
   * Forgets `token` after WeChat called it invalid or expired. Only that token: a concurrent send
   * may already have replaced it with a fresh one, which must not be thrown away.
   */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = null;
  }

  private async fetch(): Promise<TokenResult> {
    const { http, baseUrl, appId, appSecret, timeoutMs, now } = this.options;
    const url = new URL('/cgi-bin/token', baseUrl);
    url.search = new URLSearchParams({ grant_type: 'client_credential', appid: appId, secret: appSecret }).toString();
    this.fetches++;
    const result = await http.request({ method: 'GET', url: url.toString(), ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    // A token fetch is harmless to repeat, so transport failures are retried (true: "dedupes").
    if (!result.ok || result.response.status < 200 || result.response.status >= 300) {
      return { ok: false, outcome: prefixed(httpOutcome(result, true, () => ({ kind: 'retry', reason: '' }), now())) };
    }
    const parsed = tokenAnswerSchema.safeParse(readJson(result.response.body));
    if (!parsed.success) {
      return {
        ok: false,
        outcome: { kind: 'retry', reason: `wechat access token: unreadable answer ${result.response.body.slice(0, 200)}` },
      };
    }
    const body = parsed.data;
    if ('errcode' in body) {
      // Wrong credentials or an IP not on the app's whitelist are ours to fix, not the message's:
      // retried (and eventually dead-lettered by the dispatcher) rather than failing it at once.
      return { ok: false, outcome: { kind: 'retry', reason: `wechat access token: errcode ${body.errcode}: ${body.errmsg ?? ''}` } };
    }
    const lifetimeMs = body.expires_in * 1000;
    const keepMs = Math.max(lifetimeMs - tokenRefreshMarginMs, lifetimeMs / 2);
    this.cached = { token: body.access_token, refreshAt: now() + keepMs };
    return { ok: true, token: body.access_token };
  }
}

function prefixed(outcome: SendOutcome): SendOutcome {
  return outcome.kind === 'sent' ? outcome : { ...outcome, reason: `wechat access token: ${outcome.reason}` };
}

/** JSON.parse that answers undefined for text that is not JSON. */
export function readJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
