import { Worker } from 'node:worker_threads';
import type { OutboundOptions } from '../../core/outbound-http.ts';
import type { OutgoingMessage, SendOutcome } from '../channels/channel.ts';
import type { DeliveryJob, FromWorker, ProviderSpec, ToWorker, WorkerInit } from './delivery-protocol.ts';

/**
 * Delivery threads: the provider calls of a batch (HTTP client, TLS, sockets — about half of the
 * dispatcher's JS per message) run in worker threads, so a second core works while the main thread
 * claims, plans and records. The main thread hands over a batch only after its attempts are
 * committed, and records the outcomes the threads answer.
 *
 * A thread that dies or stops answering must not leave a batch hanging, nor be taken for a
 * provider's answer: every message of its unanswered jobs gets the outcome of a call cut off
 * mid-way — `retry` where the provider dedupes on our key, `unknown` elsewhere (never a second send
 * under a new key). Only when the thread died before it had loaded (so before any call) are the
 * messages simply retried. A stopped thread is replaced at the next batch.
 */

export interface DeliveryPoolOptions {
  /** Worker threads (each with its own connections and its share of every rate limit). */
  threads: number;
  outbound: OutboundOptions;
  /** After a job's deadline, how long a thread may stay silent before it is stopped. */
  graceMs: number;
  /** The thread's entry module; tests substitute threads that crash or hang. */
  script?: URL;
}

export interface PoolItem {
  spec: ProviderSpec;
  message: OutgoingMessage;
}

export interface JobOptions {
  /** The dispatcher's clock now. */
  now: number;
  deadlineMs: number;
  concurrency: number;
}

const defaultScript = new URL('./delivery-worker-boot.mjs', import.meta.url);

interface Pending {
  items: PoolItem[];
  resolve: (outcomes: SendOutcome[]) => void;
  timer: NodeJS.Timeout;
}

/** What a message gets when its thread is lost mid-job. */
function lost(item: PoolItem, why: string, beforeAnyCall: boolean): SendOutcome {
  if (beforeAnyCall) return { kind: 'retry', reason: `${why} before any provider call` };
  if (item.spec.honoursIdempotencyKey) return { kind: 'retry', reason: `${why} during the provider call` };
  return { kind: 'unknown', reason: `${why} during the provider call; the provider does not dedupe, so it is not sent again` };
}

/** One worker thread and its jobs in flight; restarted on demand after it stops. */
class DeliveryThread {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private loaded = false;
  private lastError = '';
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly options: DeliveryPoolOptions) {}

  /** Starts the thread if it is not running; resolves when it has loaded (or died trying). */
  start(): Promise<void> {
    if (this.worker && this.ready) return this.ready;
    const worker = new Worker(this.options.script ?? defaultScript, {
      workerData: { outbound: this.options.outbound } satisfies WorkerInit,
    });
    this.worker = worker;
    this.loaded = false;
    this.lastError = '';
    // An idle thread does not keep the process alive; one with calls in flight does.
    worker.unref();
    this.ready = new Promise((resolve) => {
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          this.loaded = true;
          resolve();
          return;
        }
        this.onMessage(msg);
      });
      worker.on('error', (err) => {
        this.lastError = err.message;
      });
      worker.on('exit', (code) => {
        resolve();
        this.onExit(worker, code);
      });
    });
    return this.ready;
  }

  run(items: PoolItem[], specs: ProviderSpec[], job: JobOptions): Promise<SendOutcome[]> {
    void this.start();
    const worker = this.worker as Worker;
    const id = this.nextId++;
    const index = new Map(specs.map((s, i) => [s.key, i]));
    const message: DeliveryJob = {
      type: 'deliver',
      id,
      now: job.now,
      deadlineMs: job.deadlineMs,
      concurrency: job.concurrency,
      specs,
      items: items.map((it) => ({ spec: index.get(it.spec.key) as number, message: it.message })),
    };
    return new Promise((resolve) => {
      // The thread's own deadline cuts every call off at deadlineMs; silence well past it means the
      // thread is stuck (a provider spinning, an event loop blocked): stop it and settle the job.
      const timer = setTimeout(() => {
        this.lastError = `the delivery thread did not answer within ${job.deadlineMs + this.options.graceMs} ms`;
        void worker.terminate();
      }, job.deadlineMs + this.options.graceMs);
      this.pending.set(id, { items, resolve, timer });
      worker.ref();
      worker.postMessage(message satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    // Providers close their connections (HTTP/2 sessions, SMTP pools) before the thread ends.
    const closed = new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'closed') resolve();
      });
    });
    worker.postMessage({ type: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => void worker.terminate(), 5_000);
    await closed;
    clearTimeout(timer);
    await worker.terminate();
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'closed' || msg.type === 'ready') return;
    const job = this.pending.get(msg.id);
    if (!job) return;
    this.settle(msg.id, job);
    if (msg.type === 'done') job.resolve(msg.outcomes);
    else job.resolve(job.items.map((it) => lost(it, `the delivery thread could not start the batch (${msg.reason})`, true)));
  }

  private onExit(worker: Worker, code: number): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.ready = null;
    const why = `the delivery thread stopped (${this.lastError || `exit code ${code}`})`;
    for (const [id, job] of this.pending) {
      this.settle(id, job);
      job.resolve(job.items.map((it) => lost(it, why, !this.loaded)));
    }
  }

  private settle(id: number, job: Pending): void {
    clearTimeout(job.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
  }
}

/** The pool: a batch's calls are split evenly between the threads, each with its share of the concurrency. */
export class DeliveryPool {
  private readonly threads: DeliveryThread[];

  constructor(options: DeliveryPoolOptions) {
    this.threads = Array.from({ length: Math.max(1, options.threads) }, () => new DeliveryThread(options));
  }

  /** Starts the threads (loading a thread takes a moment) and waits until they are ready. */
  async prepare(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.start()));
  }

  async deliver(items: PoolItem[], job: JobOptions): Promise<SendOutcome[]> {
    if (items.length === 0) return [];
    const n = Math.min(this.threads.length, items.length);
    const specs = new Map<string, ProviderSpec>();
    for (const it of items) specs.set(it.spec.key, it.spec);
    // Each thread limits its own calls with its share of every provider's rate (a share of all the
    // threads, used or not, so the rate a thread built its limiter with never changes).
    const share = this.threads.length;
    const shared = [...specs.values()].map((s) => (s.ratePerSecond ? { ...s, ratePerSecond: s.ratePerSecond / share } : s));
    const size = Math.ceil(items.length / n);
    const parts = await Promise.all(
      this.threads
        .slice(0, n)
        .map((t, i) =>
          t.run(items.slice(i * size, (i + 1) * size), shared, { ...job, concurrency: Math.max(1, Math.ceil(job.concurrency / n)) }),
        ),
    );
    return parts.flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
