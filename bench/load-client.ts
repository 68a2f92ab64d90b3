/**
 * The HTTP load generator, run as a child process so it does not share the server's event
 * loop (it still shares the machine's cores). It pre-serialises every request body before the
 * clock starts, then keeps `concurrency` keep-alive connections busy with `/v1/batch` requests.
 *
 * Protocol over IPC: parent sends `start` → child reports `progress`… then `ready` → parent
 * sends `go` → child reports `progress`… then `done` with the measurements.
 */
import http from 'node:http';
import { batchBody, EventGenerator, type GenOptions } from './gen-events.ts';
import { postJson } from './http-post.ts';
import { quantile } from './stats.ts';

export interface LoadOptions {
  url: string;
  writeKey: string;
  events: number;
  batchSize: number;
  concurrency: number;
  gen: GenOptions;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  bytes: number;
  stored: number;
  duplicates: number;
  failedRequests: number;
  firstError: string | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export type ChildMessage =
  | { type: 'progress'; phase: 'generate' | 'send'; done: number; total: number }
  | { type: 'ready'; requests: number; bytes: number }
  | { type: 'done'; result: LoadResult }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'start'; options: LoadOptions } | { type: 'go' };

const send = (m: ChildMessage) => process.send?.(m);
/** Sends the last message, then lets the process exit. */
const finish = (m: ChildMessage) => process.send?.(m, undefined, {}, () => process.disconnect());

function buildBodies(o: LoadOptions): Buffer[] {
  const gen = new EventGenerator(o.gen);
  const bodies: Buffer[] = [];
  for (let done = 0; done < o.events; ) {
    const n = Math.min(o.batchSize, o.events - done);
    const events = Array.from({ length: n }, () => gen.next());
    bodies.push(Buffer.from(batchBody(events, o.gen.startAt + (done + n) * 5 + 50)));
    done += n;
    if (bodies.length % 20 === 0 || done === o.events) send({ type: 'progress', phase: 'generate', done, total: o.events });
  }
  return bodies;
}

async function drive(o: LoadOptions, bodies: Buffer[]): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const target = new URL(o.url);
  const auth = `Basic ${Buffer.from(`${o.writeKey}:`).toString('base64')}`;
  const latencies = new Float64Array(bodies.length);
  let next = 0;
  let acked = 0;
  let stored = 0;
  let duplicates = 0;
  let failed = 0;
  let firstError: string | null = null;
  const step = Math.max(1, Math.floor(bodies.length / 100));
  const start = performance.now();
  const client = async () => {
    while (next < bodies.length) {
      const i = next++;
      const t0 = performance.now();
      try {
        const res = await postJson(agent, target, '/v1/batch', auth, bodies[i]!);
        latencies[i] = performance.now() - t0;
        if (res.status === 200) {
          const r = JSON.parse(res.text) as { stored: number; duplicates: number };
          stored += r.stored;
          duplicates += r.duplicates;
        } else {
          failed++;
          firstError ??= `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
        }
      } catch (err) {
        latencies[i] = performance.now() - t0;
        failed++;
        firstError ??= String(err);
      }
      if (++acked % step === 0) send({ type: 'progress', phase: 'send', done: acked, total: bodies.length });
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort();
  return {
    requests: bodies.length,
    seconds,
    bytes: bodies.reduce((s, b) => s + b.length, 0),
    stored,
    duplicates,
    failedRequests: failed,
    firstError,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    p99Ms: quantile(latencies, 0.99),
    maxMs: quantile(latencies, 1),
  };
}

let bodies: Buffer[] = [];
let options: LoadOptions | null = null;
process.on('message', (m: ParentMessage) => {
  void (async () => {
    try {
      if (m.type === 'start') {
        options = m.options;
        bodies = buildBodies(m.options);
        send({ type: 'ready', requests: bodies.length, bytes: bodies.reduce((s, b) => s + b.length, 0) });
      } else if (m.type === 'go' && options) {
        finish({ type: 'done', result: await drive(options, bodies) });
      }
    } catch (err) {
      finish({ type: 'error', message: String((err as Error).stack ?? err) });
    }
  })();
});
