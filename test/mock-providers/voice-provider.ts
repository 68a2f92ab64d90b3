import { createHmac } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { InboundCallback } from '../../src/messaging/channels/channel.ts';
import { json, MockServer, type ReceivedRequest } from './mock-server.ts';

/** A call the mock "placed". */
export interface PlacedCall {
  callId: string;
  to: string;
  callerId: string;
  script: string;
  idempotencyKey: string;
}

/**
 * A voice provider's call-task API (what `voice_webhook` talks to): checks the bearer key, places a
 * call per new idempotency key and answers a repeated key with the same call id without placing
 * another, so tests can count real calls after retries. It can also sign status callbacks.
 */
export class VoiceProviderMock {
  readonly server: MockServer;
  readonly calls: PlacedCall[] = [];
  private readonly byKey = new Map<string, string>();
  private dropAnswers = 0;

  constructor(readonly apiKey: string) {
    this.server = new MockServer((req, res) => this.handle(req, res));
  }

  /** The call-task endpoint URL (after `start`). */
  get url(): string {
    return `${this.server.url}/v1/calls`;
  }

  /** How many distinct calls were placed. */
  get placed(): number {
    return this.calls.length;
  }

  async start(): Promise<string> {
    await this.server.start();
    return this.url;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  /** The next `times` calls are placed but never answered: the lost-response case idempotency keys exist for. */
  placeButDontAnswer(times = 1): this {
    this.dropAnswers += times;
    return this;
  }

  /** A status callback as the provider would post it, signed with the API key (or with `signWith`). */
  callback(callId: string, status: string, signWith: string = this.apiKey): InboundCallback {
    const body = JSON.stringify({ callId, status, durationSeconds: status === 'completed' ? 42 : 0 });
    const signature = createHmac('sha256', signWith).update(body).digest('hex');
    return {
      url: 'https://shopflow.example/callbacks/voice',
      headers: { 'content-type': 'application/json', 'x-signature': signature },
      body,
    };
  }

  private handle(req: ReceivedRequest, res: ServerResponse) {
    const answer = this.answer(req);
    // null: the call was placed but its answer is "lost" (MockServer.stop closes the connection).
    if (answer) json(res, answer.status, answer.body);
  }

  private answer(req: ReceivedRequest): { status: number; body: unknown } | null {
    if (req.method !== 'POST' || req.path !== '/v1/calls') return { status: 404, body: { error: 'not found' } };
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return { status: 401, body: { error: 'bad api key' } };
    let body: Partial<PlacedCall>;
    try {
      body = JSON.parse(req.body) as Partial<PlacedCall>;
    } catch {
      return { status: 400, body: { error: 'body is not JSON' } };
    }
    const headerKey = req.headers['idempotency-key'];
    const key = typeof headerKey === 'string' ? headerKey : body.idempotencyKey;
    if (!key || !body.to || !body.callerId || !body.script) {
      return { status: 400, body: { error: 'to, callerId, script and an idempotency key are required' } };
    }
    const existing = this.byKey.get(key);
    if (existing) return { status: 200, body: { callId: existing, replayed: true } };
    const callId = `call_${this.calls.length + 1}`;
    this.byKey.set(key, callId);
    this.calls.push({ callId, to: body.to, callerId: body.callerId, script: body.script, idempotencyKey: key });
    if (this.dropAnswers > 0) {
      this.dropAnswers--;
      return null;
    }
    return { status: 201, body: { callId } };
  }
}
