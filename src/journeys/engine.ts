import type { Clock } from '../core/clock.ts';
import { startTicker, type Ticker } from '../core/ticker.ts';
import { advisoryLock, type EventsTx, type Session, SettledEvents, type Store, writingEvents } from '../store/index.ts';
import { stepThrough } from './advance.ts';
import type { NodeType, Trigger } from './definition.ts';
import { enroll, entryNode, triggerKey } from './enroll.ts';
import { type CommittedEvent, EventFastPath, type FastPathResult } from './fast-path.ts';
import { convertGoals } from './goal.ts';
import { versionDefinition } from './journeys-repo.ts';
import { handlers } from './nodes/index.ts';
import { pendingWork, type RunningJourney, type Work } from './pending-work.ts';
import { prepareScratchTables } from './scratch.ts';
import { journeyWrites } from './serial.ts';
import { insertJourneyEvents, type JourneyEvents } from './sql.ts';
import type { NodeHandler, StepContext } from './step-context.ts';
import { WatchedEvents } from './watched-events.ts';

export interface EngineOptions {
  /** Events received this long before the last tick are read again (a batch may commit late). */
  overlapMs: number;
  /** PostgreSQL: how long a tick waits for an event write in progress to learn what is committed (SettledEvents; default 5 s). */
  settleWaitMs?: number;
  /**
   * Where this process is the only writer (DuckDB), the ingest buffer's oldest uncommitted
   * receive time: then cursors move exactly to it instead of trailing by `overlapMs`.
   */
  pendingSince?: () => number | null;
  /** Called after a tick that enrolled or moved anyone (it may have queued messages: the dispatcher looks at once). */
  onMoved?: () => void;
}

export const defaultEngineOptions: EngineOptions = { overlapMs: 10_000 };

export interface TickResult {
  journeyId: number;
  entered: number;
  converted: number;
  moved: number;
}

/**
 * Moves everyone through every running journey. A tick, per journey and in one transaction:
 * 1. enrol what the trigger brought since the last tick;
 * 2. convert instances that reached the goal;
 * 3. wake instances whose awaited event came;
 * 4. step every node that has ready instances, set-at-a-time, then the nodes they arrive at,
 *    until nobody is ready (so a person can pass several instant nodes — split, coupon, send —
 *    in one tick).
 * On PostgreSQL several engine processes may run: each journey is advanced under an advisory
 * lock held by one session, so one process advances it at a time and a killed process lets go.
 */
export class JourneyEngine {
  private ticker: Ticker | null = null;
  private log: (err: unknown) => void = () => {};
  private readonly fastPath: EventFastPath;
  /** Committed events waiting for the fast path, and the fast path's run in progress. */
  private committed: { workspaceId: number; events: readonly CommittedEvent[] }[] = [];
  private fastRun: Promise<void> | null = null;
  /** Each journey version's trigger, learnt on its first tick (to tell cheaply whether it has work). */
  private readonly triggers = new Map<string, Trigger>();
  private readonly watched = new WatchedEvents();
  private readonly settled: SettledEvents;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: EngineOptions = defaultEngineOptions,
  ) {
    this.fastPath = new EventFastPath(store, this.watched, options.overlapMs);
    this.settled = new SettledEvents(store, clock, options.overlapMs, options.settleWaitMs);
  }

  async tick(): Promise<TickResult[]> {
    const workspaces = await this.store.query<{ workspace_id: number }>(
      "SELECT DISTINCT workspace_id FROM journeys WHERE status = 'published' ORDER BY workspace_id",
    );
    const results: TickResult[] = [];
    for (const w of workspaces) results.push(...(await this.tickWorkspace(Number(w.workspace_id))));
    if (results.some((r) => r.entered > 0 || r.moved > 0)) this.options.onMoved?.();
    return results;
  }

  tickWorkspace(workspaceId: number): Promise<TickResult[]> {
    return journeyWrites(this.store, async () => {
      const journeys = await this.store.query<RunningJourney>(
        `SELECT journey_id, version, published_at, entry_cursor, next_fire_at, events_watermark FROM journeys
         WHERE workspace_id = $1 AND status = 'published' ORDER BY journey_id`,
        [workspaceId],
      );
      if (journeys.length === 0) return [];
      const now = this.clock.now();
      const horizon = await this.eventHorizon(workspaceId, now);
      const work = await pendingWork({
        store: this.store,
        workspaceId,
        journeys,
        now,
        horizon,
        triggers: this.triggers,
        watched: this.watched,
      });
      const results: TickResult[] = [];
      for (const j of journeys) {
        const todo = work(j);
        if (todo.settleTo !== null) {
          await this.store.query('UPDATE journeys SET events_watermark = $3 WHERE workspace_id = $1 AND journey_id = $2', [
            workspaceId,
            Number(j.journey_id),
            todo.settleTo,
          ]);
        }
        if (!todo.enroll && !todo.events && !todo.due) continue;
        const r = await this.store.session((session) =>
          this.withLease(session, j, () => this.tickJourney(session, workspaceId, j, todo, horizon)),
        );
        if (r) results.push(r);
      }
      return results;
    });
  }

  /** On PostgreSQL, runs `fn` only if no other process is advancing this journey. */
  private async withLease<T>(session: Session, j: RunningJourney, fn: () => Promise<T>): Promise<T | null> {
    if (this.store.dialect !== 'postgres') return fn();
    const [lock] = await session.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${advisoryLock.journey}, $1) AS ok`, [
      Number(j.journey_id),
    ]);
    if (!lock?.ok) return null;
    try {
      return await fn();
    } finally {
      await session.query(`SELECT pg_advisory_unlock(${advisoryLock.journey}, $1)`, [Number(j.journey_id)]);
    }
  }

  /**
   * One journey's tick, in one transaction: enrolment with its cursor, goals, wake-ups and the
   * event watermark, and every step. A crash rolls the whole tick back and the next one does it
   * again; one commit instead of one per phase and per node step (a tick of a small journey is
   * mostly fixed costs per statement and per commit on DuckDB). The entrants' `Journey Entered`
   * events ride with the first journey events the tick writes (StepContext.carried).
   */
  private async tickJourney(
    session: Session,
    workspaceId: number,
    j: RunningJourney,
    todo: Work,
    horizon: { settled: number; overlap: number },
  ): Promise<TickResult> {
    const now = this.clock.now();
    const journeyId = Number(j.journey_id);
    const newEventsSince = (j.events_watermark === null ? now : Number(j.events_watermark)) - horizon.overlap;
    const current = await versionDefinition(this.store, workspaceId, journeyId, Number(j.version));
    this.triggers.set(`${journeyId}/${j.version}`, entryNode(current).trigger);
    const carried: JourneyEvents[] = [];
    const contexts = new Map<number, StepContext>();
    await prepareScratchTables(session, this.store.dialect);
    const tick = async (tx: EventsTx): Promise<TickResult> => {
      // Every version's steps share the carried events: whichever writes journey events first writes them.
      const contextOf = async (version: number): Promise<StepContext> => {
        let ctx = contexts.get(version);
        if (!ctx) {
          const definition = await versionDefinition(this.store, workspaceId, journeyId, version);
          ctx = {
            tx,
            dialect: this.store.dialect,
            workspaceId,
            journeyId,
            version,
            definition,
            now,
            newEventsSince,
            keyProperty: triggerKey(definition),
            carried,
          };
          contexts.set(version, ctx);
        }
        return ctx;
      };
      const entered = !todo.enroll
        ? 0
        : await enroll(
            tx,
            {
              store: this.store,
              workspaceId,
              journey: {
                journeyId,
                version: Number(j.version),
                publishedAt: Number(j.published_at),
                entryCursor: j.entry_cursor === null ? null : Number(j.entry_cursor),
                nextFireAt: j.next_fire_at === null ? null : Number(j.next_fire_at),
              },
              definition: current,
              now,
              overlapMs: horizon.overlap,
              settled: horizon.settled,
            },
            carried,
          );

      // Goals and awaited events: only when events came since the last look.
      let converted = 0;
      if (todo.events) {
        const versions = await tx.query<{ version: number }>(
          `SELECT DISTINCT version FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 AND status = 'active'`,
          [workspaceId, journeyId],
        );
        for (const { version } of versions) {
          const ctx = await contextOf(Number(version));
          converted += await convertGoals(tx, ctx);
          for (const node of ctx.definition.nodes) {
            const wake = (handlers[node.type] as NodeHandler<NodeType>).wake;
            if (wake) await wake(ctx, node as never);
          }
        }
        await tx.query('UPDATE journeys SET events_watermark = $3 WHERE workspace_id = $1 AND journey_id = $2', [
          workspaceId,
          journeyId,
          horizon.settled,
        ]);
      }
      // Every node with someone ready (arrived, or due), then the nodes they arrive at.
      const readyNodes = async () =>
        (
          await tx.query<{ version: number; node_id: string }>(
            `SELECT DISTINCT version, node_id FROM journey_instances
             WHERE workspace_id = $1 AND journey_id = $2 AND status = 'active' AND due_at <= $3`,
            [workspaceId, journeyId, now],
          )
        ).map((r) => ({ version: Number(r.version), nodeId: r.node_id }));
      const moved = await stepThrough(contextOf, await readyNodes(), { readyNodes });
      // `Journey Entered` of entrants no step moved (all waiting at a fixed wait) and written by no goal.
      await insertJourneyEvents(tx, { dialect: this.store.dialect, workspaceId, now, carried }, []);
      return { journeyId, entered, converted, moved };
    };
    return writingEvents(this.store, workspaceId, now, tick, session);
  }

  /**
   * How far events are surely all stored, and how far back to re-read: exactly, where the ingest
   * buffer of this process says what is still uncommitted (DuckDB); on PostgreSQL up to the time
   * the workspace's event writes were found settled (eventsSettledAt), re-reading the overlap for
   * clocks of other machines. Either way just before the oldest event write outside ingest in
   * flight (journey, message, membership and coupon events: EventsInFlight).
   */
  private async eventHorizon(workspaceId: number, now: number): Promise<{ settled: number; overlap: number }> {
    if (!this.options.pendingSince) return { settled: await this.settled.at(workspaceId, now), overlap: this.options.overlapMs };
    const pending = this.options.pendingSince();
    // An overlap of 1 ms: an event received in the very millisecond of the cursor is read again
    // next time rather than missed (entries, goals and wakes are idempotent).
    const settled = this.store.eventsInFlight.horizon(workspaceId, pending === null ? now : Math.min(now, pending - 1));
    return { settled, overlap: 1 };
  }

  /** Ticks every `intervalMs`, and right away when nudged; takes committed events on the fast path. */
  start(intervalMs: number, log: (err: unknown) => void): void {
    this.log = log;
    this.ticker = startTicker(() => this.tick(), intervalMs, log);
  }

  /** Something changed (a journey published or edited): tick soon rather than at the next interval. */
  nudge(): void {
    this.ticker?.nudge();
  }

  /**
   * An ingest batch committed these events (this process, while the engine runs): the fast path
   * enrols event-triggered journeys for them at once (fast-path.ts). Batches that commit while it
   * runs are taken together next. A general tick follows only when the events may matter to it
   * (a goal, an awaited event) or the fast path could not take them; otherwise the tick's own
   * interval is soon enough for what is left (it also re-reads them through its cursor: anything
   * the fast path missed — it failed, the process died — is enrolled there).
   */
  eventsCommitted(workspaceId: number, events: readonly CommittedEvent[]): void {
    if (!this.ticker || events.length === 0) return;
    this.committed.push({ workspaceId, events });
    this.fastRun ??= this.drainCommitted().finally(() => {
      this.fastRun = null;
    });
  }

  private async drainCommitted(): Promise<void> {
    while (this.committed.length > 0 && this.ticker) {
      const taken = this.committed;
      this.committed = [];
      const byWorkspace = new Map<number, CommittedEvent[]>();
      for (const c of taken) byWorkspace.set(c.workspaceId, [...(byWorkspace.get(c.workspaceId) ?? []), ...c.events]);
      for (const [workspaceId, events] of byWorkspace) {
        try {
          if ((await this.takeEvents(workspaceId, events)).needsTick) this.ticker?.nudge();
        } catch (err) {
          this.log(err);
          this.ticker?.nudge();
        }
      }
    }
  }

  /** The fast path for committed events, now (one at a time with ticks and other journey writes). */
  async takeEvents(workspaceId: number, events: readonly CommittedEvent[]): Promise<FastPathResult> {
    const r = await journeyWrites(this.store, () => this.fastPath.handle(workspaceId, events, this.clock.now()));
    if (r.entered > 0 || r.moved > 0) this.options.onMoved?.();
    return r;
  }

  async stop(): Promise<void> {
    await this.ticker?.stop();
    this.ticker = null;
    await this.fastRun;
  }
}
