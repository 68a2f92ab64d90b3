import type { ServerResponse } from 'node:http';
import { json, ProviderMock, type ReceivedRequest } from './mock-server.ts';

/** A message the WeChat mock accepted (and so "sent"). */
export interface WechatDelivered {
  kind: 'template' | 'subscribe';
  msgid: string;
  token: string;
  /** The request body as sent. */
  body: Record<string, unknown>;
}

/**
 * A WeChat server API double: issues access tokens (checking appid and secret, counting them),
 * accepts template and subscription messages that carry the current token, and answers as WeChat
 * does, HTTP 200 with `{errcode, errmsg}`: 43004 for openids starting with "unfollowed", 43101
 * for ones starting with "refused", 42001 once a test expired the token, or a queued errcode.
 */
export class WechatMock extends ProviderMock {
  readonly delivered: WechatDelivered[] = [];
  tokensIssued = 0;
  private currentToken: string | null = null;
  private readonly expiredTokens = new Set<string>();
  private readonly errcodes: { errcode: number; errmsg: string }[] = [];
  private nextMsgid = 3_000_000_000_000_000_001n;

  constructor(
    readonly appId: string,
    readonly appSecret: string,
    /** expires_in of the tokens issued, in seconds. */
    public expiresIn = 7200,
  ) {
    super();
  }

  /** The current token stops working: the next send with it gets 42001. */
  expireToken(): this {
    if (this.currentToken) this.expiredTokens.add(this.currentToken);
    this.currentToken = null;
    return this;
  }

  /** The next valid sends get these errcodes instead of being delivered (e.g. 45009 quota). */
  answerNext(errcode: number, errmsg = `mock errcode ${errcode}`, times = 1): this {
    for (let i = 0; i < times; i++) this.errcodes.push({ errcode, errmsg });
    return this;
  }

  /** Sends that reached a send endpoint (delivered or not). */
  sendRequests(): ReceivedRequest[] {
    return this.received.filter((r) => r.path.startsWith('/cgi-bin/message/'));
  }

  protected handle(req: ReceivedRequest, res: ServerResponse) {
    const url = new URL(req.path, 'http://mock');
    if (req.method === 'GET' && url.pathname === '/cgi-bin/token') return this.token(url, res);
    if (req.method === 'POST' && url.pathname === '/cgi-bin/message/template/send') return this.send('template', url, req, res);
    if (req.method === 'POST' && url.pathname === '/cgi-bin/message/subscribe/send') return this.send('subscribe', url, req, res);
    return json(res, 404, { errcode: 404, errmsg: 'not found' });
  }

  private token(url: URL, res: ServerResponse) {
    const q = url.searchParams;
    if (q.get('grant_type') !== 'client_credential') return json(res, 200, { errcode: 40002, errmsg: 'invalid grant_type' });
    if (q.get('appid') !== this.appId) return json(res, 200, { errcode: 40013, errmsg: 'invalid appid' });
    if (q.get('secret') !== this.appSecret) return json(res, 200, { errcode: 40125, errmsg: 'invalid appsecret' });
    this.tokensIssued++;
    this.currentToken = `TOKEN_${this.tokensIssued}_${'x'.repeat(20)}`;
    return json(res, 200, { access_token: this.currentToken, expires_in: this.expiresIn });
  }

  private send(kind: WechatDelivered['kind'], url: URL, req: ReceivedRequest, res: ServerResponse) {
    const token = url.searchParams.get('access_token') ?? '';
    if (this.expiredTokens.has(token)) return json(res, 200, { errcode: 42001, errmsg: 'access_token expired' });
    if (token !== this.currentToken) return json(res, 200, { errcode: 40001, errmsg: 'invalid credential, access_token is invalid' });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.body) as Record<string, unknown>;
    } catch {
      return json(res, 200, { errcode: 47001, errmsg: 'data format error' });
    }
    const touser = typeof body.touser === 'string' ? body.touser : '';
    if (!touser) return json(res, 200, { errcode: 40003, errmsg: 'invalid openid' });
    if (typeof body.template_id !== 'string' || !body.template_id) return json(res, 200, { errcode: 40037, errmsg: 'invalid template_id' });
    if (touser.startsWith('unfollowed')) return json(res, 200, { errcode: 43004, errmsg: 'require subscribe' });
    if (touser.startsWith('refused')) return json(res, 200, { errcode: 43101, errmsg: 'user refuse to accept the msg' });
    const queued = this.errcodes.shift();
    if (queued) return json(res, 200, queued);
    const msgid = String(this.nextMsgid++);
    this.delivered.push({ kind, msgid, token, body });
    // msgid as a bare 64-bit number, as WeChat writes it (beyond what a JS number holds exactly).
    res.writeHead(200, { 'content-type': 'application/json' }).end(`{"errcode":0,"errmsg":"ok","msgid":${msgid}}`);
  }
}
