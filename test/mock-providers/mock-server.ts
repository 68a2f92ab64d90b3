import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as a mock provider received it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

/** What the next requests get instead of a normal answer (consumed one per request, in order). */
export type Misbehaviour =
  | { kind: 'status'; status: number; body?: string; retryAfter?: string }
  | { kind: 'hang' } // never answers: the client's timeout fires
  | { kind: 'reset' } // closes the socket without an answer
  | { kind: 'slow'; ms: number }; // answers as usual, `ms` later

export type Handler = (req: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

/**
 * A local HTTP server speaking some provider's protocol (the handler), recording every request
 * and able to fail, throttle (429 + Retry-After) or hang on demand. Each provider's mock builds on it.
 */
export class MockServer {
  readonly received: ReceivedRequest[] = [];
  private readonly queue: Misbehaviour[] = [];
  private server: Server | null = null;
  private readonly hanging = new Set<ServerResponse>();
  url = '';

  constructor(private readonly handler: Handler) {}

  /** The next `times` requests misbehave this way. */
  misbehave(m: Misbehaviour, times = 1): this {
    for (let i = 0; i < times; i++) this.queue.push(m);
    return this;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const received: ReceivedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      at: Date.now(),
    };
    this.received.push(received);
    const m = this.queue.shift();
    if (m?.kind === 'hang') {
      this.hanging.add(res);
      return;
    }
    if (m?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (m?.kind === 'slow') await new Promise((resolve) => setTimeout(resolve, m.ms));
    if (m?.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (m.retryAfter !== undefined) headers['retry-after'] = m.retryAfter;
      res.writeHead(m.status, headers).end(m.body ?? JSON.stringify({ error: `mock ${m.status}` }));
      return;
    }
    try {
      await this.handler(received, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    }
  }
}

/** Answers JSON. */
export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/**
 * A provider double on a MockServer: subclasses speak the protocol in `handle`; serving, the
 * request log and misbehaving on demand come from here.
 */
export abstract class ProviderMock {
  protected readonly server = new MockServer((req, res) => this.handle(req, res));

  protected abstract handle(req: ReceivedRequest, res: ServerResponse): void | Promise<void>;

  get url(): string {
    return this.server.url;
  }

  get received(): ReceivedRequest[] {
    return this.server.received;
  }

  start(): Promise<string> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  misbehave(m: Misbehaviour, times = 1): this {
    this.server.misbehave(m, times);
    return this;
  }
}
