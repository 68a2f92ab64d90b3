import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { importSPKI, jwtVerify } from 'jose';
import { json, MockServer, type ReceivedRequest } from './mock-server.ts';

/** A message FCM accepted, as it was posted. */
export interface FcmDelivered {
  name: string;
  /** The `message` object of the request body. */
  message: Record<string, unknown>;
}

export interface FcmMockOptions {
  projectId: string;
  clientEmail: string;
  /** The service account's public key (SPKI PEM): the token endpoint verifies assertions with it. */
  publicKeyPem: string;
  /** `expires_in` of issued tokens. */
  tokenTtlSeconds?: number;
  /** The clock assertions are checked against (the provider's `now` in tests with a fake clock). */
  now?: () => number;
}

const scope = 'https://www.googleapis.com/auth/firebase.messaging';

/**
 * FCM HTTP v1 and Google's OAuth2 token endpoint on one local server, strict where the real ones
 * are: the token endpoint verifies the RS256 assertion (issuer, subject, audience, scope) with the
 * service account's public key, and messages:send requires a token it issued. Tokens can be
 * revoked on demand (401), device tokens starting with `bad` are UNREGISTERED (404).
 */
export class FcmMock {
  readonly server: MockServer;
  readonly delivered: FcmDelivered[] = [];
  /** Token requests answered with a token. */
  tokensIssued = 0;
  /** Token requests refused (bad assertion). */
  tokensRefused = 0;
  /** When false, every send is answered 401 whatever its token (a service account that lost its role). */
  acceptTokens = true;
  private readonly valid = new Set<string>();

  constructor(private readonly options: FcmMockOptions) {
    this.server = new MockServer((req, res) => this.handle(req, res));
  }

  get baseUrl(): string {
    return this.server.url;
  }

  get tokenUri(): string {
    return `${this.server.url}/token`;
  }

  /** Send requests (not token requests) received so far. */
  get sendRequests(): ReceivedRequest[] {
    return this.server.received.filter((r) => r.path.endsWith('/messages:send'));
  }

  /** Every token issued so far is rejected from now on (as when Google revokes one early). */
  revokeTokens(): void {
    this.valid.clear();
  }

  start(): Promise<string> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  private async handle(req: ReceivedRequest, res: ServerResponse): Promise<void> {
    if (req.method === 'POST' && req.path === '/token') return this.token(req, res);
    if (req.method === 'POST' && req.path === `/v1/projects/${this.options.projectId}/messages:send`) return json(res, ...this.send(req));
    json(res, 404, { error: { code: 404, status: 'NOT_FOUND', message: `no route ${req.method} ${req.path}` } });
  }

  private async token(req: ReceivedRequest, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(req.body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      this.tokensRefused++;
      return json(res, 400, { error: 'unsupported_grant_type' });
    }
    try {
      const key = await importSPKI(this.options.publicKeyPem, 'RS256');
      const now = this.options.now?.() ?? Date.now();
      const { payload } = await jwtVerify(form.get('assertion') ?? '', key, {
        algorithms: ['RS256'],
        issuer: this.options.clientEmail,
        subject: this.options.clientEmail,
        audience: this.tokenUri,
        currentDate: new Date(now),
        maxTokenAge: 3600,
      });
      if (payload['scope'] !== scope) throw new Error(`wrong scope ${String(payload['scope'])}`);
    } catch (err) {
      this.tokensRefused++;
      return json(res, 400, { error: 'invalid_grant', error_description: (err as Error).message });
    }
    const token = `ya29.mock-${randomUUID()}`;
    this.valid.add(token);
    this.tokensIssued++;
    json(res, 200, { access_token: token, expires_in: this.options.tokenTtlSeconds ?? 3599, token_type: 'Bearer' });
  }

  /** messages:send's answer: status and JSON body. */
  private send(req: ReceivedRequest): [number, unknown] {
    const auth = String(req.headers.authorization ?? '');
    if (!this.acceptTokens || !auth.startsWith('Bearer ') || !this.valid.has(auth.slice('Bearer '.length))) {
      return [401, { error: { code: 401, status: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' } }];
    }
    const body = JSON.parse(req.body) as { message?: Record<string, unknown> };
    const message = body.message ?? {};
    const token = typeof message['token'] === 'string' ? message['token'] : '';
    if (token === '') return [400, { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'The registration token is missing.' } }];
    if (token.startsWith('bad')) {
      const details = [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }];
      return [404, { error: { code: 404, status: 'NOT_FOUND', message: 'Requested entity was not found.', details } }];
    }
    const name = `projects/${this.options.projectId}/messages/${this.delivered.length + 1}`;
    this.delivered.push({ name, message });
    return [200, { name }];
  }
}
