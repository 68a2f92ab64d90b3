import type { Clock } from '../../core/clock.ts';
import { OutboundClient, type OutboundOptions } from '../../core/outbound-http.ts';
import { startTicker, type Ticker } from '../../core/ticker.ts';
import type { Store } from '../../store/index.ts';
import type { SendOutcome } from '../channels/channel.ts';
import { dedupingProviders } from '../channels/registry.ts';
import { getMessagingSettings } from '../governance/settings.ts';
import { loadRenderBatch } from '../templates/render.ts';
import { choose } from './choose.ts';
import { claimDue, recoverStale, workspacesWithDue } from './claim.ts';
import { compose, renderFailure } from './compose.ts';
import { loadPeopleFacts } from './facts.ts';
import { outcomeUpdate, type Sending } from './outcomes.ts';
import { ProviderPool } from './provider-pool.ts';
import { insertMessageEvents, type MessageEvent, messageProperties, type RowUpdate, updateRows } from './record.ts';

export interface DispatcherOptions {
  /** Messages claimed per batch (one plan and one outcome write each). */
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
}

export const defaultDispatcherOptions: DispatcherOptions = {
  batchSize: 500,
  concurrency: 64,
  maxAttempts: 8,
  baseBackoffMs: 30_000,
  maxBackoffMs: 3_600_000,
  leaseMs: 120_000,
  idlePollMs: 2_000,
  publicUrl: 'http://localhost:3000',
  outbound: {},
};

/**
 * Delivers what journeys queued in the outbox, exactly once: claim a batch, decide per message
 * under the workspace's contact rules (skip, defer, or which channel), render, record the attempt,
 * call the providers concurrently (rate-limited per provider), record the outcomes and their
 * events. Every step commits before the next, so a process killed anywhere leaves rows that
 * `recoverStale` settles without a second send under a new key.
 */
export class Dispatcher {
  readonly options: DispatcherOptions;
  readonly providers: ProviderPool;
  private readonly http: OutboundClient;
  private ticker: Ticker | null = null;
  private recovered = false;
  private nudged = true;
  private nextLookAt = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    options: Partial<DispatcherOptions> = {},
  ) {
    this.options = { ...defaultDispatcherOptions, ...options };
    this.http = new OutboundClient(this.options.outbound);
    this.providers = new ProviderPool(this.http, () => this.clock.now());
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
   * Everything due in every workspace, batch after batch. Two batches overlap: the next one is
   * claimed, planned and its attempts recorded while the provider calls of the previous one are
   * in flight (at most one batch on the wire). Returns how many messages were handled.
   */
  async tick(): Promise<number> {
    if (!this.recovered || this.store.dialect === 'postgres') await this.recover();
    let handled = 0;
    for (const ws of await workspacesWithDue(this.store, this.clock.now())) {
      let inFlight: Promise<void> | null = null;
      try {
        for (;;) {
          const batch = await this.planBatch(ws);
          handled += batch.claimed;
          const previous = inFlight;
          inFlight = null;
          if (previous) await previous;
          if (batch.sending.length > 0) inFlight = this.finishBatch(ws, batch.sending);
          if (batch.claimed < this.options.batchSize) break;
        }
      } finally {
        if (inFlight) await inFlight;
      }
    }
    return handled;
  }

  /** One batch of a workspace: claim, plan, record attempts, send, record outcomes. */
  async dispatchBatch(workspaceId: number): Promise<number> {
    const batch = await this.planBatch(workspaceId);
    if (batch.sending.length > 0) await this.finishBatch(workspaceId, batch.sending);
    return batch.claimed;
  }

  /** Claims a batch, plans it and records the attempts (committed before any provider call). */
  private async planBatch(workspaceId: number): Promise<{ claimed: number; sending: Sending[] }> {
    const now = this.clock.now();
    const claimed = await claimDue(this.store, workspaceId, now, this.options.batchSize);
    if (claimed.length === 0) return { claimed: 0, sending: [] };
    const { settings, linkSecret } = await getMessagingSettings(this.store, workspaceId, now);
    const facts = await loadPeopleFacts(
      this.store,
      workspaceId,
      claimed.map((m) => m.user_key),
      settings,
      now,
    );
    const templateNames = claimed.flatMap((m) => [
      ...(m.template ? [m.template] : []),
      ...((m.payload.fallback as { template: string }[] | undefined) ?? []).map((f) => f.template),
    ]);
    const render = await loadRenderBatch(this.store, workspaceId, claimed, templateNames, facts.people, now);
    const providerOf = await this.providers.forWorkspace(this.store, workspaceId);

    const planned: RowUpdate[] = [];
    const events: MessageEvent[] = [];
    const sending: Sending[] = [];
    const budgets = new Map<object, number>();
    for (const m of claimed) {
      const choice = choose(m, facts, settings, now);
      if (choice.kind === 'skip') {
        planned.push({ message_key: m.message_key, status: 'skipped', reason: choice.reason });
        continue;
      }
      if (choice.kind === 'defer') {
        planned.push({ message_key: m.message_key, status: 'queued', next_attempt_at: choice.until, reason: `deferred: ${choice.reason}` });
        continue;
      }
      const active = providerOf(choice.option.channel);
      // A rate-limited provider takes no more from one batch than it can send in a quarter of the
      // lease: the rest go back to the queue (no attempt recorded), so no row waits in `sending`
      // long enough for another dispatcher to think its owner died.
      if (active.limiter) {
        const budget = Math.max(1, Math.floor((active.limiter.ratePerSecond * this.options.leaseMs) / 4000));
        const used = budgets.get(active) ?? 0;
        if (used >= budget) {
          planned.push({ message_key: m.message_key, status: 'queued', next_attempt_at: null, reason: null });
          continue;
        }
        budgets.set(active, used + 1);
      }
      let composed: Awaited<ReturnType<typeof compose>>;
      try {
        composed = await compose(m, choice.option, { render, settings, linkSecret, workspaceId, publicUrl: this.options.publicUrl });
      } catch (err) {
        const reason = renderFailure(err);
        planned.push({ message_key: m.message_key, status: 'failed', reason });
        events.push({
          name: 'Message Failed',
          id: `msg.${m.message_key}.failed.${choice.option.channel}`,
          userKey: m.user_key,
          properties: { ...messageProperties(m, choice.option, active.provider.name), reason },
        });
        continue;
      }
      // Later messages of this batch count this one against the person's caps.
      if (!m.transactional)
        facts.sent.set(m.user_key, [...(facts.sent.get(m.user_key) ?? []), { channel: choice.option.channel, at: now }]);
      const attempt = m.attempts + 1;
      planned.push({
        message_key: m.message_key,
        status: 'sending',
        attempts: attempt,
        next_attempt_at: null,
        channel: choice.option.channel,
        template: choice.option.template,
        payload: { ...m.payload, fallback: choice.remaining, preferred_channel: false },
        provider: active.provider.name,
        address: choice.address,
        content: composed.content,
        reason: null,
        sent_at: now,
      });
      sending.push({ m, option: choice.option, remaining: choice.remaining, active, attempt, address: choice.address, composed });
    }
    // The attempt is on record before any provider hears of it.
    await this.store.transaction(async (tx) => {
      await updateRows(tx, this.store.dialect, workspaceId, now, planned);
      await insertMessageEvents(tx, this.store.dialect, workspaceId, now, events);
    });
    return { claimed: claimed.length, sending };
  }

  /** The provider calls of a planned batch and their outcomes. */
  private async finishBatch(workspaceId: number, sending: Sending[]): Promise<void> {
    const outcomes = await this.deliver(workspaceId, sending);
    const done = this.clock.now();
    const updates: RowUpdate[] = [];
    const outcomeEvents: MessageEvent[] = [];
    for (let i = 0; i < sending.length; i++) {
      const result = outcomeUpdate(sending[i] as Sending, outcomes[i] as SendOutcome, done, this.options);
      updates.push(result.update);
      outcomeEvents.push(...result.events);
    }
    await this.store.transaction(async (tx) => {
      await updateRows(tx, this.store.dialect, workspaceId, done, updates);
      await insertMessageEvents(tx, this.store.dialect, workspaceId, done, outcomeEvents);
    });
  }

  /** Provider calls, at most `concurrency` at once, each provider within its rate limit. A throw is a failed send, not a crash. */
  private async deliver(workspaceId: number, sending: Sending[]): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = new Array(sending.length);
    // One deadline for the batch's calls: no row stays `sending` past half its lease.
    const deadline = AbortSignal.timeout(this.options.leaseMs / 2);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < sending.length; i = next++) {
        const s = sending[i] as Sending;
        await s.active.limiter?.take();
        try {
          outcomes[i] = await s.active.provider.send(
            {
              workspaceId,
              messageKey: s.m.message_key,
              channel: s.option.channel,
              userKey: s.m.user_key,
              to: s.address,
              fields: s.composed.fields,
              transactional: s.m.transactional,
              unsubscribeUrl: s.composed.unsubscribeUrl,
              attempt: s.attempt,
            },
            deadline,
          );
        } catch (err) {
          // A provider bug must not take the batch down; whether it reached the provider is unknown.
          outcomes[i] = { kind: 'unknown', reason: `provider error: ${(err as Error).message}` };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, sending.length) }, worker));
    return outcomes;
  }
}
