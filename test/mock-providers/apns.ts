import { randomUUID } from 'node:crypto';
import http2, { type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { importSPKI, jwtVerify } from 'jose';

/** A notification APNs accepted. */
export interface ApnsDelivered {
  deviceToken: string;
  headers: IncomingHttpHeaders;
  payload: Record<string, unknown>;
  /** The provider token (JWT) it was sent with. */
  jwt: string;
}

/** What the next requests get instead of a normal answer (consumed one per request, in order). */
export type ApnsMisbehaviour = { kind: 'status'; status: number; reason: string; retryAfter?: string } | { kind: 'hang' };

export interface ApnsMockOptions {
  teamId: string;
  keyId: string;
  bundleId: string;
  /** The auth key's public key (SPKI PEM): provider tokens are verified with it. */
  publicKeyPem: string;
}

/**
 * APNs over cleartext HTTP/2 (h2c), strict where Apple is: every request needs a provider token
 * signed (ES256) by the auth key, with the team as issuer and the key id as `kid`, and the bundle
 * id as apns-topic. Device tokens starting with `gone` are Unregistered (410); provider tokens can
 * be expired on demand (403 ExpiredProviderToken); requests can be throttled or left hanging.
 */
export class ApnsMock {
  readonly delivered: ApnsDelivered[] = [];
  /** Requests received (answered or not). */
  requests = 0;
  /** Distinct provider tokens that verified. */
  readonly jwtsSeen = new Set<string>();
  private readonly expired = new Set<string>();
  private readonly queue: ApnsMisbehaviour[] = [];
  private readonly sessions = new Set<Http2Session>();
  private server: Http2Server | null = null;
  url = '';

  constructor(private readonly options: ApnsMockOptions) {}

  /** The next `times` requests misbehave this way. */
  misbehave(m: ApnsMisbehaviour, times = 1): this {
    for (let i = 0; i < times; i++) this.queue.push(m);
    return this;
  }

  /** Every provider token seen so far is answered 403 ExpiredProviderToken from now on. */
  expireProviderTokens(): void {
    for (const jwt of this.jwtsSeen) this.expired.add(jwt);
  }

  /** Closes every client connection (as Apple does now and then): clients must reconnect. */
  dropConnections(): void {
    for (const s of this.sessions) s.destroy();
  }

  async start(): Promise<string> {
    const server = http2.createServer();
    server.on('session', (s) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
    });
    server.on('stream', (stream, headers) => void this.handle(stream, headers));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    this.requests++;
    const m = this.queue.shift();
    if (m?.kind === 'hang') return; // never answered; destroyed with the session on stop()
    if (m?.kind === 'status') return this.answer(stream, m.status, m.reason, m.retryAfter);
    const path = String(headers[':path'] ?? '');
    const match = /^\/3\/device\/([^/?]+)$/.exec(path);
    if (headers[':method'] !== 'POST' || !match?.[1]) return this.answer(stream, 405, 'MethodNotAllowed');
    const auth = String(headers.authorization ?? '');
    if (!auth.startsWith('bearer ')) return this.answer(stream, 403, 'MissingProviderToken');
    const jwt = auth.slice('bearer '.length);
    if (this.expired.has(jwt)) return this.answer(stream, 403, 'ExpiredProviderToken');
    try {
      const key = await importSPKI(this.options.publicKeyPem, 'ES256');
      const { protectedHeader } = await jwtVerify(jwt, key, {
        algorithms: ['ES256'],
        issuer: this.options.teamId,
        requiredClaims: ['iat'],
      });
      if (protectedHeader.kid !== this.options.keyId) throw new Error(`kid ${protectedHeader.kid}`);
    } catch {
      return this.answer(stream, 403, 'InvalidProviderToken');
    }
    this.jwtsSeen.add(jwt);
    if (headers['apns-topic'] !== this.options.bundleId) return this.answer(stream, 400, 'BadTopic');
    const deviceToken = decodeURIComponent(match[1]);
    if (deviceToken.startsWith('gone')) return this.answer(stream, 410, 'Unregistered');
    if (deviceToken.startsWith('bad')) return this.answer(stream, 400, 'BadDeviceToken');
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return this.answer(stream, 400, 'PayloadEmpty');
    }
    this.delivered.push({ deviceToken, headers, payload, jwt });
    stream.respond({ ':status': 200, 'apns-id': String(headers['apns-id'] ?? randomUUID()) });
    stream.end();
  }

  private answer(stream: ServerHttp2Stream, status: number, reason: string, retryAfter?: string): void {
    if (stream.destroyed) return;
    stream.respond({
      ':status': status,
      'content-type': 'application/json',
      'apns-id': randomUUID(),
      ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }),
    });
    stream.end(JSON.stringify(status === 410 ? { reason, timestamp: Date.now() } : { reason }));
  }
}
