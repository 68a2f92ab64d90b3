import { advisoryLock, type EventsTx, type Session, type Store, writingEvents } from '../store/index.ts';
import { type StepScope, stepThrough } from './advance.ts';
import type { JourneyDefinition } from './definition.ts';
import { admitEventBatch, type EventBatch, entryNode, startingPoint, triggerKey } from './enroll.ts';
import { convertGoals } from './goal.ts';
import { journeyStatusChanges, versionDefinition } from './journeys-repo.ts';
import { prepareScratchTables } from './scratch.ts';
import { insertJourneyEvents, type JourneyEvents } from './sql.ts';
import type { StepContext } from './step-context.ts';
import { intersects, matchNames, type WatchedEvents } from './watched-events.ts';

/** What the fast path needs of a committed event (a subset of the ingest buffer's NormalizedEvent). */
export interface CommittedEvent {
  messageId: string;
  /** Track: the event name; page/screen: the page name (what triggers match on). */
  event: string | null;
  receivedAt: number;
}

export interface FastPathResult {
  entered: number;
  moved: number;
  /**
   * Some of the events need a general tick now: they may be a journey's goal or an awaited event,
   * or the fast path could not take a journey (another process was advancing it).
   */
  needsTick: boolean;
}

/** How long the list of published journeys is kept at most (see publishedJourneys). */
const listTtlMs = 1_000;

type PublishedJourney = {
  journey_id: number;
  version: number;
  published_at: number;
};

/**
 * The event fast path: right after an ingest batch commits, enrol exactly its events into the
 * event-triggered journeys they match, and step the new instances through instant nodes (send,
 * condition, split, coupon…) until they reach a wait or finish — per journey in one transaction,
 * instead of waiting for a general tick that scans for work and commits per phase.
 *
 * It keeps the tick's guarantees: entry is guarded by the unique entry key (the tick re-reads the
 * same events through its cursor, which this leaves alone, and finds them entered), each step is
 * the same set-at-a-time step as a tick's (limited to the instances this admission created), and
 * everything happens in one transaction — a crash rolls it back whole and the next tick enrols
 * and steps those events instead. The caller serialises it with ticks (journeyWrites); on
 * PostgreSQL it also takes the journey's advisory lock, or leaves the journey to a tick.
 */
export class EventFastPath {
  private readonly published = new Map<number, { changes: number; readAt: number; journeys: PublishedJourney[] }>();

  constructor(
    private readonly store: Store,
    private readonly watched: WatchedEvents,
    /** How far before the batch goal events of new entrants are looked for (late-delivered events). */
    private readonly lookbackMs: number,
  ) {}

  async handle(workspaceId: number, events: readonly CommittedEvent[], now: number): Promise<FastPathResult> {
    const result: FastPathResult = { entered: 0, moved: 0, needsTick: false };
    const names = new Set<string>();
    for (const e of events) if (e.event !== null) names.add(e.event);
    if (names.size === 0) return result;
    const journeys = await this.publishedJourneys(workspaceId);
    const batch = toBatch(events);
    for (const j of journeys) {
      const journeyId = Number(j.journey_id);
      const version = Number(j.version);
      if (intersects(await this.watched.of(this.store, workspaceId, journeyId, version), names)) result.needsTick = true;
      const definition = await versionDefinition(this.store, workspaceId, journeyId, version);
      const trigger = entryNode(definition).trigger;
      if (trigger.kind !== 'event' || !intersects(matchNames(trigger.event), names)) continue;
      const r = await this.store.session((session) =>
        this.enrolAndStep(session, { workspaceId, journeyId, version, publishedAt: Number(j.published_at), definition }, batch, now),
      );
      if (r === null) result.needsTick = true;
      else {
        result.entered += r.entered;
        result.moved += r.moved;
      }
    }
    return result;
  }

  /**
   * The workspace's published journeys, kept while no journey changed status in this process and
   * for at most `listTtlMs` (a statement fewer per batch). A journey published a moment ago takes
   * the next event; one published by another process (PostgreSQL) within a second, its first
   * events enrolled by a tick meanwhile. Each journey's state is checked again in its transaction
   * (it may have been paused since).
   */
  private async publishedJourneys(workspaceId: number): Promise<PublishedJourney[]> {
    const changes = journeyStatusChanges();
    const kept = this.published.get(workspaceId);
    if (kept && kept.changes === changes && performance.now() - kept.readAt < listTtlMs) return kept.journeys;
    const journeys = await this.store.query<PublishedJourney>(
      `SELECT journey_id, version, published_at FROM journeys WHERE workspace_id = $1 AND status = 'published' ORDER BY journey_id`,
      [workspaceId],
    );
    this.published.set(workspaceId, { changes, readAt: performance.now(), journeys });
    return journeys;
  }

  /** One journey, one transaction: admit the batch's matching events, convert goals already reached, step the entrants. */
  private async enrolAndStep(
    session: Session,
    j: { workspaceId: number; journeyId: number; version: number; publishedAt: number; definition: JourneyDefinition },
    batch: EventBatch,
    now: number,
  ): Promise<{ entered: number; moved: number } | null> {
    const { dialect } = this.store;
    await prepareScratchTables(session, dialect);
    const admitAndStep = async (tx: EventsTx): Promise<{ entered: number; moved: number } | null> => {
      if (dialect === 'postgres') {
        // The lock a tick holds while advancing this journey (engine.ts); held here until commit.
        const [lock] = await tx.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(${advisoryLock.journey}, $1) AS ok`, [
          j.journeyId,
        ]);
        if (!lock?.ok) return null;
      }
      const carried: JourneyEvents[] = [];
      const admitted = await admitEventBatch(
        tx,
        {
          store: this.store,
          workspaceId: j.workspaceId,
          journey: { journeyId: j.journeyId, version: j.version, publishedAt: j.publishedAt, entryCursor: null, nextFireAt: null },
          definition: j.definition,
          now,
        },
        batch,
        carried,
      );
      // Paused or republished since the list was read: a tick takes these events under the current state.
      if (admitted === null) return null;
      if (admitted.entered === 0) return { entered: 0, moved: 0 };
      const scope: StepScope = { from: admitted.from, to: admitted.to };
      const ctx: StepContext = {
        tx,
        dialect,
        workspaceId: j.workspaceId,
        journeyId: j.journeyId,
        version: j.version,
        definition: j.definition,
        now,
        newEventsSince: batch.firstReceivedAt - this.lookbackMs,
        keyProperty: triggerKey(j.definition),
        carried,
      };
      // As in a tick, goals before steps: an order paid in the batch that placed it ends the instance first.
      if (j.definition.settings.goal) await convertGoals(tx, ctx, scope);
      const start = startingPoint(j.definition, now);
      const moved = start.state === 0 ? await stepThrough(async () => ctx, [{ version: j.version, nodeId: start.nodeId }], { scope }) : 0;
      // `Journey Entered` of entrants no step moved (all waiting, or converted at once) and written by no goal.
      await insertJourneyEvents(tx, ctx, []);
      return { entered: admitted.entered, moved };
    };
    return writingEvents(this.store, j.workspaceId, now, admitAndStep, session);
  }
}

function toBatch(events: readonly CommittedEvent[]): EventBatch {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const ids = new Set<string>();
  for (const e of events) {
    ids.add(e.messageId);
    if (e.receivedAt < first) first = e.receivedAt;
    if (e.receivedAt > last) last = e.receivedAt;
  }
  return { messageIds: [...ids], firstReceivedAt: first, lastReceivedAt: last };
}
