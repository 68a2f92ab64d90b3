/**
 * The HTTP load generator of the `slots` benchmark, run as a child process so it does not share
 * the server's event loop (it still shares the machine's cores). It keeps `concurrency`
 * keep-alive connections busy with `GET /v1/decide` for random people (a share of them unknown
 * visitors), first `warmup` requests left out of the figures, then `requests` measured ones.
 *
 * Protocol over IPC: parent sends `start` → child reports `progress`… then `done`.
 */
import http from 'node:http';
import { quantile } from './stats.ts';

export interface DecideLoadOptions {
  url: string;
  writeKey: string;
  slot: string;
  /** People u1..uN exist; others are unknown visitors. */
  users: number;
  requests: number;
  warmup: number;
  concurrency: number;
  /** Per mille of requests from unknown (anonymous) visitors. */
  unknownPerMille: number;
  seed: number;
}

export interface DecideLoadResult {
  requests: number;
  seconds: number;
  failed: number;
  firstError: string | null;
  /** Measured answers by variant. */
  variants: Record<string, number>;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export type DecideChildMessage =
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; result: DecideLoadResult }
  | { type: 'error'; message: string };

const send = (m: DecideChildMessage) => process.send?.(m);
const finish = (m: DecideChildMessage) => process.send?.(m, undefined, {}, () => process.disconnect());

/** xorshift32: the same paths for the same seed. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function paths(o: DecideLoadOptions): string[] {
  const next = random(o.seed);
  const out: string[] = [];
  for (let i = 0; i < o.warmup + o.requests; i++) {
    const who = next() * 1000 < o.unknownPerMille ? `anonymousId=visitor-${o.seed}-${i}` : `userId=u${1 + Math.floor(next() * o.users)}`;
    out.push(`/v1/decide?slot=${o.slot}&${who}`);
  }
  return out;
}

function get(agent: http.Agent, target: URL, path: string, auth: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path, method: 'GET', agent, headers: { authorization: auth } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function drive(o: DecideLoadOptions): Promise<DecideLoadResult> {
  const all = paths(o);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const target = new URL(o.url);
  const auth = `Basic ${Buffer.from(`${o.writeKey}:`).toString('base64')}`;
  const latencies = new Float64Array(o.requests);
  const variants: Record<string, number> = {};
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  let measuredStart = 0;
  const step = Math.max(1, Math.floor(all.length / 50));
  const client = async () => {
    while (next < all.length) {
      const i = next++;
      if (i === o.warmup) measuredStart = performance.now();
      const t0 = performance.now();
      try {
        const res = await get(agent, target, all[i]!, auth);
        if (i >= o.warmup) latencies[i - o.warmup] = performance.now() - t0;
        if (res.status !== 200) {
          failed++;
          firstError ??= `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
        } else if (i >= o.warmup) {
          const v = String((JSON.parse(res.text) as { variant: string | null }).variant);
          variants[v] = (variants[v] ?? 0) + 1;
        }
      } catch (err) {
        failed++;
        firstError ??= String(err);
      }
      if ((i + 1) % step === 0) send({ type: 'progress', done: i + 1, total: all.length });
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const seconds = (performance.now() - measuredStart) / 1000;
  agent.destroy();
  latencies.sort();
  return {
    requests: o.requests,
    seconds,
    failed,
    firstError,
    variants,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    p99Ms: quantile(latencies, 0.99),
    maxMs: quantile(latencies, 1),
  };
}

process.on('message', (m: { type: 'start'; options: DecideLoadOptions }) => {
  if (m.type !== 'start') return;
  drive(m.options).then(
    (result) => finish({ type: 'done', result }),
    (err) => finish({ type: 'error', message: String(err) }),
  );
});
