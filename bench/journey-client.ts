/**
 * The event sender of the `journeys` latency measurement, run as a child process (it shares the
 * machine's cores, not the server's event loop). It posts one `Order Placed` per `/v1/track`
 * request at a steady rate (open loop: request i leaves at start + i / rate whatever the answers
 * before it) over keep-alive connections, and records when each request left, on the wall clock
 * (`performance.timeOrigin + performance.now()`), which the parent compares with when the
 * outbox row appeared.
 *
 * Protocol over IPC: parent `start` → child `ready` (bodies built) → parent `ping`s (clock check)
 * → child `pong`s → parent `go` → child `progress`… then `done`.
 */
import http from 'node:http';
import { postJson } from './http-post.ts';

export interface SenderOptions {
  url: string;
  writeKey: string;
  /** Events to send (each its own request and order). */
  events: number;
  /** Requests per second. */
  rate: number;
  /** Distinct customers the orders come from. */
  customers: number;
}

export interface SenderResult {
  /** Wall-clock ms when request i left, for order `orderId(i)`. */
  sentAt: number[];
  /** ms until request i was answered (2xx: the event is committed). */
  ackMs: number[];
  failed: number;
  firstError: string | null;
  seconds: number;
}

export type SenderMessage =
  | { type: 'ready' }
  | { type: 'pong'; id: number; at: number }
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; result: SenderResult }
  | { type: 'error'; message: string };

export type SenderCommand = { type: 'start'; options: SenderOptions } | { type: 'ping'; id: number } | { type: 'go' };

/** The order id of event i (also its messageId's suffix). */
export const orderId = (i: number) => `bench-o${i}`;

export const wallNow = () => performance.timeOrigin + performance.now();

const send = (m: SenderMessage) => process.send?.(m);
const finish = (m: SenderMessage) => process.send?.(m, undefined, {}, () => process.disconnect());

function bodyOf(i: number, customers: number): Buffer {
  const total = 20 + ((i * 7919) % 480);
  return Buffer.from(
    JSON.stringify({
      userId: `c${i % customers}`,
      event: 'Order Placed',
      messageId: `bench-order-${i}`,
      timestamp: new Date().toISOString(),
      properties: {
        order_id: orderId(i),
        total,
        currency: 'CNY',
        products: [{ product_id: `p${i % 500}`, price: total, quantity: 1, category: 'Electronics > Phones > Smartphones' }],
      },
    }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function drive(o: SenderOptions): Promise<SenderResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const target = new URL(o.url);
  const auth = `Basic ${Buffer.from(`${o.writeKey}:`).toString('base64')}`;
  const sentAt = new Array<number>(o.events).fill(0);
  const ackMs = new Array<number>(o.events).fill(0);
  let failed = 0;
  let answered = 0;
  let firstError: string | null = null;
  const interval = 1000 / o.rate;
  const step = Math.max(1, Math.floor(o.events / 50));
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < o.events; i++) {
    await sleep(start + i * interval - performance.now());
    const body = bodyOf(i, o.customers);
    let t0 = 0;
    inFlight.push(
      postJson(agent, target, '/v1/track', auth, body, () => {
        t0 = performance.now();
        sentAt[i] = performance.timeOrigin + t0;
      })
        .then((res) => {
          ackMs[i] = performance.now() - t0;
          if (res.status !== 200) {
            failed++;
            firstError ??= `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
          }
        })
        .catch((err: unknown) => {
          failed++;
          firstError ??= String(err);
        })
        .finally(() => {
          if (++answered % step === 0) send({ type: 'progress', done: answered, total: o.events });
        }),
    );
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { sentAt, ackMs, failed, firstError, seconds };
}

let options: SenderOptions | null = null;
process.on('message', (m: SenderCommand) => {
  void (async () => {
    try {
      if (m.type === 'start') {
        options = m.options;
        send({ type: 'ready' });
      } else if (m.type === 'ping') {
        send({ type: 'pong', id: m.id, at: wallNow() });
      } else if (m.type === 'go' && options) {
        finish({ type: 'done', result: await drive(options) });
      }
    } catch (err) {
      finish({ type: 'error', message: String((err as Error).stack ?? err) });
    }
  })();
});
