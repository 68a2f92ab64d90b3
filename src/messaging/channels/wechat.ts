import { z } from 'zod';
import type { OutboundResponse } from '../../core/outbound-http.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps, ProviderFactory, SendOutcome } from './channel.ts';
import { httpOutcome } from './http-outcome.ts';
import { readJson, WechatTokenCache } from './wechat-token.ts';

/**
 * WeChat messages to a person's openid: official-account template messages and mini-program
 * subscription messages, through the WeChat server API with a cached access token. WeChat answers
 * HTTP 200 with `{errcode, errmsg}` whatever happened, so the errcode decides the outcome. It does
 * not dedupe sends, so a timeout after the request went out is `unknown`, never retried.
 */

/** WeChat's configuration: the app's credentials (an official account or a mini-program) and API origin. */
export const wechatConfigSchema = z
  .strictObject({
    appId: z.string().min(1).max(64).describe('AppID of the official account (template messages) or mini-program (subscription messages)'),
    appSecret: z.string().min(1).max(256).describe('AppSecret of that app: fetches the access token'),
    baseUrl: z.url().default('https://api.weixin.qq.com').describe('API origin; change it for a regional endpoint or a test double'),
    miniprogramState: z
      .enum(['formal', 'trial', 'developer'])
      .default('formal')
      .describe('Which mini-program build a subscription message opens (miniprogram_state)'),
    timeoutMs: z.number().int().min(100).max(120_000).optional().describe('Request timeout; the outbound client default when absent'),
  })
  .describe('WeChat provider');
export type WechatConfig = z.infer<typeof wechatConfigSchema>;

/** The rendered wechat fields (templates/schema.ts), as the dispatcher hands them over. */
const wechatFieldsSchema = z.object({
  kind: z.enum(['template', 'subscribe']).default('template'),
  templateId: z.string().min(1),
  data: z.record(z.string(), z.string()),
  url: z.string().optional(),
  page: z.string().optional(),
});
type WechatFields = z.infer<typeof wechatFieldsSchema>;

const answerSchema = z.object({ errcode: z.number(), errmsg: z.string().default('') });

/** The access token was invalid (40001, 40014) or expired (42001): fetch a new one and send again once. */
const tokenErrcodes = new Set([40001, 40014, 42001]);
/** Worth trying later: API quota reached (45009), calls too frequent (45011), system busy (-1). */
const retryErrcodes = new Set([45009, 45011, -1]);

/** The path and body of one send (`access_token` is added per attempt). */
function wechatRequest(fields: WechatFields, openid: string, miniprogramState: WechatConfig['miniprogramState']) {
  const data = Object.fromEntries(Object.entries(fields.data).map(([k, value]) => [k, { value }]));
  switch (fields.kind) {
    case 'template':
      return {
        path: '/cgi-bin/message/template/send',
        body: { touser: openid, template_id: fields.templateId, ...(fields.url ? { url: fields.url } : {}), data },
      };
    case 'subscribe':
      return {
        path: '/cgi-bin/message/subscribe/send',
        body: {
          touser: openid,
          template_id: fields.templateId,
          ...(fields.page ? { page: fields.page } : {}),
          miniprogram_state: miniprogramState,
          data,
        },
      };
    default: {
      const never: never = fields.kind;
      throw new Error(`unknown wechat message kind ${String(never)}`);
    }
  }
}

/** msgid read from the raw answer: it can be a 64-bit number, which JSON.parse would round. */
function msgidOf(body: string): string | null {
  return /"msgid"\s*:\s*"?(-?\d+)"?/.exec(body)?.[1] ?? null;
}

interface Attempt {
  outcome: SendOutcome;
  /** WeChat refused the token rather than the message. */
  tokenRejected: boolean;
}

/** What a 2xx answer says: errcode 0 is sent; the rest retry, fail, or ask for a new token. */
function readAnswer(res: OutboundResponse): Attempt {
  const parsed = answerSchema.safeParse(readJson(res.body));
  if (!parsed.success) {
    // A 200 we cannot read may still have been a delivery: never sent again.
    return { outcome: { kind: 'unknown', reason: `unreadable answer: ${res.body.slice(0, 200)}` }, tokenRejected: false };
  }
  const { errcode, errmsg } = parsed.data;
  if (errcode === 0) return { outcome: { kind: 'sent', providerMessageId: msgidOf(res.body) }, tokenRejected: false };
  const reason = `errcode ${errcode}: ${errmsg}`;
  if (tokenErrcodes.has(errcode)) return { outcome: { kind: 'retry', reason }, tokenRejected: true };
  // Everything else (43004 not following, 43101 subscription refused, 40003 bad openid, 40037 bad
  // template, 47003 bad data …) will fail the same way again.
  return { outcome: retryErrcodes.has(errcode) ? { kind: 'retry', reason } : { kind: 'failed', reason }, tokenRejected: false };
}

class WechatProvider implements ChannelProvider {
  readonly name = 'wechat';
  readonly honoursIdempotencyKey = false;
  private readonly tokens: WechatTokenCache;

  constructor(
    private readonly config: WechatConfig,
    private readonly deps: ProviderDeps,
  ) {
    this.tokens = new WechatTokenCache({
      http: deps.http,
      baseUrl: config.baseUrl,
      appId: config.appId,
      appSecret: config.appSecret,
      now: deps.now,
      ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    });
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
    const fields = wechatFieldsSchema.safeParse(message.fields);
    if (!fields.success) return { kind: 'failed', reason: `invalid wechat fields: ${fields.error.issues[0]?.message ?? 'unreadable'}` };
    if (!/^[\w-]{1,128}$/.test(message.to)) return { kind: 'failed', reason: 'the address is not a WeChat openid' };
    const request = wechatRequest(fields.data, message.to, this.config.miniprogramState);
    let token = await this.tokens.get();
    if (!token.ok) return token.outcome;
    let attempt = await this.post(request, token.token, signal);
    if (!attempt.tokenRejected || signal.aborted) return attempt.outcome;
    this.tokens.invalidate(token.token);
    token = await this.tokens.get();
    if (!token.ok) return token.outcome;
    attempt = await this.post(request, token.token, signal);
    return attempt.outcome;
  }

  private async post(request: ReturnType<typeof wechatRequest>, token: string, signal: AbortSignal): Promise<Attempt> {
    const url = new URL(request.path, this.config.baseUrl);
    url.searchParams.set('access_token', token);
    const result = await this.deps.http.request({
      method: 'POST',
      url: url.toString(),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request.body),
      signal,
      ...(this.config.timeoutMs === undefined ? {} : { timeoutMs: this.config.timeoutMs }),
    });
    if (result.ok && result.response.status >= 200 && result.response.status < 300) return readAnswer(result.response);
    return { outcome: httpOutcome(result, false, (res) => readAnswer(res).outcome, this.deps.now()), tokenRejected: false };
  }
}

/** The WeChat provider (official-account template and mini-program subscription messages). */
export const wechatProvider: ProviderFactory<WechatConfig> = {
  name: 'wechat',
  channel: 'wechat',
  honoursIdempotencyKey: false,
  config: wechatConfigSchema,
  create: (config, deps) => new WechatProvider(config, deps),
};
