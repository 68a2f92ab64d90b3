import type { Clock } from '../../core/clock.ts';
import { OutboundClient, type OutboundOptions } from '../../core/outbound-http.ts';
import { startTicker, type Ticker } from '../../core/ticker.ts';
import { type Store, writingEvents } from '../../store/index.ts';
import type { OutgoingMessage, SendOutcome } from '../channels/channel.ts';
import { dedupingProviders } from '../channels/registry.ts';
import { recoverStale, workspacesWithDue } from './claim.ts';
import { ConfigCache } from './config-cache.ts';
import { type DeliveryItem, runDeliveries } from './deliver.ts';
import { DeliveryPool, type PoolItem } from './delivery-pool.ts';
import { outcomeUpdate, type Sending } from './outcomes.ts';
import { type PlanDeps, type PlannedBatch, planBatch } from './plan.ts';
import { ProviderPool } from './provider-pool.ts';
import { insertMessageEvents, type MessageEvent, type RowUpdate, updateRows } from './record.ts';

export interface DispatcherOptions {
  /**
   * The most messages claimed per batch (one plan and one outcome write each; fewer at first and
   * for slow providers, see nextBatchSize). A batch costs ~14 statements whatever its size (claim,
   * facts, coupons, two writes, commits), and on DuckDB the facts queries scan the people tables
   * once per batch, so larger batches cost less per message: 4,000 used ~20 % less CPU per message
   * than 1,000 at 100,000 messages (docs/benchmarks.md, "Message dispatch").
   */
  batchSize: number;
  /** Provider calls in flight at once. */
  concurrency: number;
  /** Attempts before a retryable failure is dead-lettered. */
  maxAttempts: number;
  /** First retry delay; doubles per attempt (with jitter) up to maxBackoffMs. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** A claimed or sending row untouched this long belongs to a dead process (PostgreSQL, several dispatchers). */
  leaseMs: number;
  /**
   * The background loop looks for due messages when nudged (a journey tick moved people), when the
   * earliest queued message it knows of falls due, and otherwise at least this often (rows queued by
   * other processes on PostgreSQL). Finding due messages scans the outbox: at 5M rows ~25 ms on
   * DuckDB, too much to do four times a second for nothing.
   */
  idlePollMs: number;
  /** Links in messages point here (unsubscribe, tracked clicks, provider callbacks). */
  publicUrl: string;
  outbound: Partial<OutboundOptions>;
  /**
   * Worker threads that make the provider calls (0: all on the main thread). The calls are about
   * half of the JS a message costs; in a thread they use another core while this one plans and
   * records. The sandbox provider always runs inline; so does everything when `outbound` has an
   * `isAllowedAddress` function (a function cannot be handed to a thread).
   */
  deliveryThreads: number;
}

/** Batch sizes while the providers' speed is unknown, and the smallest a slow provider brings them to (see nextBatchSize). */
const FIRST_BATCH = 1_000;
const MIN_BATCH = 10;

export const defaultDispatcherOptions: DispatcherOptions = {
  batchSize: 4_000,
  concurrency: 64,
  maxAttempts: 8,
  baseBackoffMs: 30_000,
  maxBackoffMs: 3_600_000,
  leaseMs: 120_000,
  idlePollMs: 2_000,
  publicUrl: 'http://localhost:3000',
  outbound: {},
  deliveryThreads: 1,
};

/**
 * Delivers what journeys queued in the outbox, exactly once: claim a batch, decide per message
 * under the workspace's contact rules (skip, defer, or which channel), render, record the attempt,
 * call the providers concurrently (rate-limited per provider), record the outcomes and their
 * events. Every step commits before the next, so a process killed anywhere leaves rows that
 * `recoverStale` settles without a second send under a new key. The provider calls run in
 * delivery threads (delivery-pool.ts) when there are any; the database work stays on this thread.
 */
export class Dispatcher {
  readonly options: DispatcherOptions;
  readonly providers: ProviderPool;
  private readonly http: OutboundClient;
  private readonly pool: DeliveryPool | null;
  private ticker: Ticker | null = null;
  private recovered = false;
  private nudged = true;
  private nextLookAt = 0;
  private readonly counts = { inThreads: 0, inline: 0 };
  /** Messages per ms at which the last batch's provider calls went out (null until one has). */
  private wireRate: number | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    options: Partial<DispatcherOptions> = {},
  ) {
    this.options = { ...defaultDispatcherOptions, ...options };
    this.http = new OutboundClient(this.options.outbound);
    this.providers = new ProviderPool(this.http, () => this.clock.now());
    const threads = this.options.deliveryThreads;
    this.pool =
      threads > 0 && typeof this.http.options.isAllowedAddress !== 'function'
        ? new DeliveryPool({ threads, outbound: this.http.options, graceMs: this.options.leaseMs / 4 })
        : null;
  }

  /** Provider calls made so far in delivery threads and on this thread (the sandbox, or no threads). */
  get deliveries(): { inThreads: number; inline: number } {
    return { ...this.counts };
  }

  /**
   * Starts the delivery threads now rather than before the first batch that needs them (loading
   * one takes ~0.3–0.5 s; a workspace on the sandbox alone never starts one).
   */
  async prepare(): Promise<void> {
    await this.pool?.prepare();
  }

  start(intervalMs: number, log: (err: unknown) => void): void {
    this.ticker = startTicker(() => this.tickWhenDue(), intervalMs, log);
  }

  /** Something may have been queued: look at the next tick (and wake the loop now). */
  nudge(): void {
    this.nudged = true;
    this.ticker?.nudge();
  }

  /**
   * The background loop's tick: a full `tick()` only when nudged, when the earliest known queued
   * message is due, or after `idlePollMs` without looking. Returns how many messages were handled.
   */
  async tickWhenDue(): Promise<number> {
    const now = this.clock.now();
    if (!this.nudged && now < this.nextLookAt) return 0;
    this.nudged = false;
    const handled = await this.tick();
    const [row] = await this.store.query<{ due: number | null }>(
      `SELECT min(COALESCE(next_attempt_at, created_at)) AS due FROM outbox WHERE status = 'queued'`,
    );
    const due = row?.due === null || row?.due === undefined ? Number.POSITIVE_INFINITY : Number(row.due);
    this.nextLookAt = Math.min(due, this.clock.now() + this.options.idlePollMs);
    return handled;
  }

  async stop(): Promise<void> {
    await this.ticker?.stop();
    this.ticker = null;
    await this.pool?.close();
    await this.providers.close();
    await this.http.close();
  }

  /**
   * Settles rows a dead process left. On DuckDB this process is the only writer, so at start every
   * claimed or sending row is an orphan; on PostgreSQL only rows whose lease ran out are.
   */
  async recover(): Promise<{ requeued: number; unknown: number }> {
    const now = this.clock.now();
    const staleBefore = this.store.dialect === 'duckdb' && !this.recovered ? Number.MAX_SAFE_INTEGER : now - this.options.leaseMs;
    this.recovered = true;
    return recoverStale(this.store, staleBefore, dedupingProviders);
  }

  /**
   * Everything due in every workspace, batch after batch. Returns how many messages were handled.
   */
  async tick(): Promise<number> {
    if (!this.recovered || this.store.dialect === 'postgres') await this.recover();
    let handled = 0;
    for (const ws of await workspacesWithDue(this.store, this.clock.now())) handled += await this.drain(ws);
    return handled;
  }

  /**
   * The due messages of one workspace as a pipeline: one batch's provider calls on the wire at a
   * time; the next batch claimed, planned and its attempts recorded meanwhile (so it goes on the
   * wire the moment the previous one comes off); each batch's outcomes recorded while the next
   * one's calls are in flight. At most one planned batch waits for the wire.
   */
  private async drain(workspaceId: number): Promise<number> {
    const config = new ConfigCache();
    let handled = 0;
    let wire: Promise<unknown> = Promise.resolve();
    const settling: Promise<void>[] = [];
    let failure: { err: unknown } | null = null;
    try {
      for (;;) {
        const size = this.nextBatchSize();
        const batch = await planBatch(this.planDeps(config, size), workspaceId);
        handled += batch.claimed;
        if (batch.sending.length > 0) {
          const previous = wire;
          const delivered = previous.then(() => this.timedDeliver(workspaceId, batch));
          wire = delivered;
          settling.push(
            delivered
              .then((outcomes) => this.recordOutcomes(workspaceId, batch.sending, outcomes))
              .catch((err: unknown) => {
                failure ??= { err };
              }),
          );
          await previous;
        }
        if (failure) break;
        if (batch.claimed < size) break;
      }
    } finally {
      await Promise.all(settling);
    }
    if (failure) throw (failure as { err: unknown }).err;
    return handled;
  }

  /** One batch of a workspace, start to end: claim, plan, record attempts, send, record outcomes. */
  async dispatchBatch(workspaceId: number): Promise<number> {
    const batch = await planBatch(this.planDeps(new ConfigCache()), workspaceId);
    if (batch.sending.length > 0) await this.recordOutcomes(workspaceId, batch.sending, await this.deliver(workspaceId, batch));
    return batch.claimed;
  }

  /**
   * A batch waits on record (`sending`) while the one before it is on the wire, and its calls must
   * end within half a lease of its attempt write. So batches follow the providers' speed: at the
   * last batch's rate, one batch takes at most an eighth of a lease on the wire. A slow provider (a
   * second a call) gets batches of a few hundred instead of having the later calls of a
   * 4,000-message batch run out of time and retry. Until a batch has gone out, the speed is
   * unknown: the first two (the second is planned while the first is on the wire) take at most
   * FIRST_BATCH.
   */
  private nextBatchSize(): number {
    const { batchSize, leaseMs } = this.options;
    if (this.wireRate === null) return Math.min(batchSize, FIRST_BATCH);
    return Math.max(MIN_BATCH, Math.min(batchSize, Math.floor((this.wireRate * leaseMs) / 8)));
  }

  private async timedDeliver(workspaceId: number, batch: PlannedBatch): Promise<SendOutcome[]> {
    const started = performance.now();
    const outcomes = await this.deliver(workspaceId, batch);
    this.wireRate = batch.sending.length / Math.max(1, performance.now() - started);
    return outcomes;
  }

  private planDeps(config: ConfigCache, batchSize = this.options.batchSize): PlanDeps {
    const o = this.options;
    return {
      store: this.store,
      providers: this.providers,
      now: this.clock.now(),
      batchSize,
      leaseMs: o.leaseMs,
      publicUrl: o.publicUrl,
      config,
      beforeAttempts: async (sending) => {
        if (this.pool && sending.some((s) => s.active.spec)) await this.pool.prepare();
      },
    };
  }

  /** The outcomes of a batch's calls and their events, in one transaction. */
  private async recordOutcomes(workspaceId: number, sending: Sending[], outcomes: SendOutcome[]): Promise<void> {
    const done = this.clock.now();
    const updates: RowUpdate[] = [];
    const outcomeEvents: MessageEvent[] = [];
    for (let i = 0; i < sending.length; i++) {
      const result = outcomeUpdate(sending[i] as Sending, outcomes[i] as SendOutcome, done, this.options);
      updates.push(result.update);
      outcomeEvents.push(...result.events);
    }
    await writingEvents(this.store, workspaceId, done, async (tx) => {
      await updateRows(tx, this.store.dialect, workspaceId, done, updates);
      await insertMessageEvents(tx, this.store.dialect, workspaceId, done, outcomeEvents);
    });
  }

  /**
   * Provider calls, at most `concurrency` at once, each provider within its rate limit: in the
   * delivery threads for providers that can run there, inline for the others. One deadline for
   * the batch's calls, counted from when its attempts were recorded: no row stays `sending` past
   * half its lease, however long it waited for the previous batch.
   */
  private async deliver(workspaceId: number, batch: PlannedBatch): Promise<SendOutcome[]> {
    const deadlineMs = Math.max(1, Math.floor(batch.recordedAt + this.options.leaseMs / 2 - performance.now()));
    const pooled: { at: number; item: PoolItem }[] = [];
    const inline: { at: number; item: DeliveryItem }[] = [];
    batch.sending.forEach((s, at) => {
      const message = outgoing(workspaceId, s);
      const { provider, limiter, spec } = s.active;
      if (this.pool && spec) {
        pooled.push({ at, item: { spec, message } });
        return;
      }
      const take = limiter ? () => limiter.take() : undefined;
      inline.push({ at, item: { message, send: (m, signal) => provider.send(m, signal), ...(take ? { take } : {}) } });
    });
    const [fromPool, fromInline] = await Promise.all([
      pooled.length > 0 && this.pool
        ? this.pool.deliver(
            pooled.map((p) => p.item),
            { now: this.clock.now(), deadlineMs, concurrency: this.options.concurrency },
          )
        : [],
      inline.length > 0
        ? runDeliveries(
            inline.map((p) => p.item),
            this.options.concurrency,
            AbortSignal.timeout(deadlineMs),
          )
        : [],
    ]);
    this.counts.inThreads += pooled.length;
    this.counts.inline += inline.length;
    const outcomes: SendOutcome[] = new Array(batch.sending.length);
    pooled.forEach((p, j) => {
      outcomes[p.at] = fromPool[j] as SendOutcome;
    });
    inline.forEach((p, j) => {
      outcomes[p.at] = fromInline[j] as SendOutcome;
    });
    return outcomes;
  }
}

/** What the provider gets for a message whose attempt is on record. */
function outgoing(workspaceId: number, s: Sending): OutgoingMessage {
  return {
    workspaceId,
    messageKey: s.m.message_key,
    channel: s.option.channel,
    userKey: s.m.user_key,
    to: s.address,
    fields: s.composed.fields,
    transactional: s.m.transactional,
    unsubscribeUrl: s.composed.unsubscribeUrl,
    attempt: s.attempt,
  };
}
