import type { Clock } from '../core/clock.ts';
import { AppError } from '../core/errors.ts';
import type { Store } from '../store/index.ts';
import type { NormalizedEvent } from './normalized-event.ts';
import { writeBatch } from './write-batch.ts';

export interface IngestBufferOptions {
  /** Write as soon as this many events wait. */
  maxEvents: number;
  /** …or this many milliseconds after the first one arrived. */
  maxDelayMs: number;
  /**
   * Refuse new requests (503, which Segment clients retry with backoff) while this many events
   * wait for the write in progress, so an overload slows clients down instead of growing memory.
   */
  maxQueuedEvents?: number;
  /** Called after each committed batch that stored something, with the events it stored (the journey engine's fast path takes them). */
  onCommitted?: (workspaceId: number, stored: readonly { messageId: string; event: string | null; receivedAt: number }[]) => void;
}

/** What one request learns: how many of its events were stored, and how many were duplicates. */
export interface SubmitResult {
  stored: number;
  duplicates: number;
}

interface Pending {
  events: NormalizedEvent[];
  resolve: (r: SubmitResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Writes the events of concurrent requests in one transaction per workspace (group commit).
 * Each request's promise settles only after its events are committed (or the write failed), so
 * a 2xx always means durable. One write runs at a time; requests arriving meanwhile form the next
 * batch, so batches grow with the load by themselves. `maxDelayMs` (default 0) would hold a
 * request that finds no write running: waiting 5 ms for company added ~6 ms to a journey's
 * event-to-outbox p50 at 10 orders/s and nothing measurable to throughput at saturation.
 */
export class IngestBuffer {
  private queue: Pending[] = [];
  private queued = 0;
  /** Cancels the scheduled write of what is queued (null: none scheduled). */
  private cancelScheduled: (() => void) | null = null;
  private writing: Promise<void> | null = null;
  /** The batch being written, until it is committed (or failed). */
  private inFlight: Pending[] = [];

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: IngestBufferOptions,
  ) {}

  /** Resolves once `events` (all of one workspace) are committed. */
  submit(events: NormalizedEvent[]): Promise<SubmitResult> {
    if (events.length === 0) return Promise.resolve({ stored: 0, duplicates: 0 });
    if (this.queued + events.length > (this.options.maxQueuedEvents ?? 200_000)) {
      return Promise.reject(new AppError('unavailable', 'ingestion is behind; retry this request shortly (nothing was stored)'));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.queued += events.length;
      if (this.queued >= this.options.maxEvents) this.kick();
      else if (!this.cancelScheduled) this.schedule();
    });
  }

  /**
   * The receive time of the oldest event accepted but not yet committed, or null when none is:
   * events received before it are all in the store. Lets a reader in this process (the journey
   * engine on DuckDB, where this process is the only writer) move its cursor exactly.
   */
  oldestPending(): number | null {
    let oldest: number | null = null;
    for (const p of [...this.inFlight, ...this.queue]) {
      for (const e of p.events) if (oldest === null || e.receivedAt < oldest) oldest = e.receivedAt;
    }
    return oldest;
  }

  /** Writes what is queued now; resolves when everything submitted so far is written. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.writing) {
      this.kick();
      await this.writing;
    }
  }

  /**
   * Writes after `maxDelayMs`; with 0, once the requests that arrived in this turn of the event
   * loop are queued (setImmediate), not after setTimeout's minimum of 1 ms.
   */
  private schedule(): void {
    if (this.options.maxDelayMs > 0) {
      const timer = setTimeout(() => this.kick(), this.options.maxDelayMs);
      this.cancelScheduled = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.kick());
      this.cancelScheduled = () => clearImmediate(immediate);
    }
  }

  private kick(): void {
    this.cancelScheduled?.();
    this.cancelScheduled = null;
    if (this.writing || this.queue.length === 0) return;
    const taken = this.queue;
    this.queue = [];
    this.queued = 0;
    this.inFlight = taken;
    this.writing = this.write(taken).finally(() => {
      this.writing = null;
      this.inFlight = [];
      if (this.queue.length > 0) this.kick();
    });
  }

  private async write(taken: Pending[]): Promise<void> {
    const byWorkspace = new Map<number, Pending[]>();
    for (const p of taken) {
      const ws = p.events[0]!.workspaceId;
      byWorkspace.set(ws, [...(byWorkspace.get(ws) ?? []), p]);
    }
    for (const [ws, pendings] of byWorkspace) {
      const all = pendings.flatMap((p) => p.events);
      try {
        const { storedIds, receivedAt } = await writeBatch(this.store, ws, all, this.clock.now(), () => this.clock.now());
        if (storedIds.size > 0 && this.options.onCommitted) {
          const stored = storedIds.size === all.length ? all : all.filter((e) => storedIds.has(e.messageId));
          // As written: stamped received when the write's turn came (see writeBatch).
          this.options.onCommitted(
            ws,
            stored.map((e) => ({
              messageId: e.messageId,
              event: e.event,
              receivedAt: receivedAt === null ? e.receivedAt : Math.max(e.receivedAt, receivedAt),
            })),
          );
        }
        for (const p of pendings) {
          const stored = p.events.filter((e) => storedIds.has(e.messageId)).length;
          p.resolve({ stored, duplicates: p.events.length - stored });
        }
      } catch (err) {
        for (const p of pendings) p.reject(err);
      }
    }
  }
}
