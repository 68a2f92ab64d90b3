import type { Store } from '../store/index.ts';
import type { Trigger } from './definition.ts';
import { matchNames, type WatchedEvents } from './watched-events.ts';

/** A running journey's row, as a tick reads it. */
export type RunningJourney = {
  journey_id: number;
  version: number;
  published_at: number;
  entry_cursor: number | null;
  next_fire_at: number | null;
  events_watermark: number | null;
};

/** What a journey has to do in a tick. */
export interface Work {
  /** Its trigger may have brought someone. */
  enroll: boolean;
  /** Events came since it last looked that its goal or a wait for an event listens to. */
  events: boolean;
  /** Some of its instances are due at a node. */
  due: boolean;
  /**
   * Only events nobody listens to came since its watermark: move the watermark here without
   * looking (keeps the next look short). Null: leave it.
   */
  settleTo: number | null;
}

export interface PendingWorkInput {
  store: Store;
  workspaceId: number;
  journeys: readonly RunningJourney[];
  now: number;
  /** The engine's event horizon now (see JourneyEngine.eventHorizon), taken before any read. */
  horizon: { settled: number; overlap: number };
  /** Triggers learnt on earlier ticks, by `journeyId/version` (unknown: the tick finds out). */
  triggers: ReadonlyMap<string, Trigger>;
  watched: WatchedEvents;
}

/**
 * What each journey has to do this tick, from a few cheap workspace-wide reads, so that idle
 * journeys cost nothing (each statement costs a few milliseconds on DuckDB, and ticks run
 * every few hundred milliseconds). New events count by name: an order paid wakes a journey
 * whose goal is a paid order, a page view does not (exact: a goal or wait matches names first).
 */
export async function pendingWork(input: PendingWorkInput): Promise<(j: RunningJourney) => Work> {
  const { store, workspaceId, journeys, now, horizon, triggers } = input;
  const { overlap } = horizon;
  const triggerOf = (j: RunningJourney) => triggers.get(`${j.journey_id}/${j.version}`);
  const since = (j: RunningJourney) => (j.events_watermark === null ? now : Number(j.events_watermark)) - overlap;
  const entrySince = (j: RunningJourney) => (j.entry_cursor === null ? now : Number(j.entry_cursor)) - overlap;
  const from = Math.min(...journeys.map((j) => (triggerOf(j)?.kind === 'event' ? Math.min(since(j), entrySince(j)) : since(j))));
  const latestByName = new Map<string, number>();
  let latestAny = Number.NEGATIVE_INFINITY;
  for (const r of await store.query<{ event: string | null; latest: number }>(
    'SELECT event, max(received_at) AS latest FROM events WHERE workspace_id = $1 AND received_at > $2 GROUP BY event',
    [workspaceId, from],
  )) {
    latestAny = Math.max(latestAny, Number(r.latest));
    if (r.event !== null) latestByName.set(r.event, Number(r.latest));
  }
  const cameAfter = (names: Iterable<string>, t: number) => {
    for (const n of names) if ((latestByName.get(n) ?? Number.NEGATIVE_INFINITY) > t) return true;
    return false;
  };
  const watched = new Map<number, ReadonlySet<string>>();
  for (const j of journeys)
    watched.set(Number(j.journey_id), await input.watched.of(store, workspaceId, Number(j.journey_id), Number(j.version)));
  const due = new Set(
    (
      await store.query<{ journey_id: number }>(
        `SELECT DISTINCT journey_id FROM journey_instances WHERE workspace_id = $1 AND status = 'active' AND due_at <= $2`,
        [workspaceId, now],
      )
    ).map((r) => Number(r.journey_id)),
  );
  const refreshNo = new Map(
    (
      await store.query<{ segment_id: number; refresh_no: number }>('SELECT segment_id, refresh_no FROM segments WHERE workspace_id = $1', [
        workspaceId,
      ])
    ).map((r) => [Number(r.segment_id), Number(r.refresh_no)]),
  );
  const segmentEntries = await segmentsWithEntries(store, workspaceId, journeys, triggerOf, refreshNo);
  return (j) => {
    const events = cameAfter(watched.get(Number(j.journey_id)) ?? [], since(j));
    const trigger = triggerOf(j);
    // Unknown trigger (not loaded yet): let the tick find out.
    let enroll = true;
    if (trigger?.kind === 'event') enroll = cameAfter(matchNames(trigger.event), entrySince(j));
    else if (trigger?.kind === 'segment') enroll = j.entry_cursor === null || segmentEntries.has(Number(j.journey_id));
    else if (trigger?.kind === 'schedule') enroll = j.next_fire_at !== null && Number(j.next_fire_at) <= now;
    else if (trigger?.kind === 'api') enroll = false;
    // Everything up to the horizon taken before the read was committed, and none of it is listened to.
    const settleTo = !events && latestAny > since(j) ? horizon.settled : null;
    return { enroll, events, due: due.has(Number(j.journey_id)), settleTo };
  };
}

/**
 * Segment-triggered journeys whose segment has new entries. A realtime segment is refreshed
 * every second, mostly with nobody entering: when its refreshes since the cursor brought only
 * exits, the cursor just moves on (one statement instead of an enrolment transaction).
 */
async function segmentsWithEntries(
  store: Store,
  workspaceId: number,
  journeys: readonly RunningJourney[],
  triggerOf: (j: RunningJourney) => Trigger | undefined,
  refreshNo: Map<number, number>,
): Promise<Set<number>> {
  const found = new Set<number>();
  for (const j of journeys) {
    const trigger = triggerOf(j);
    if (trigger?.kind !== 'segment' || j.entry_cursor === null) continue;
    const cursor = Number(j.entry_cursor);
    const latest = refreshNo.get(trigger.segmentId) ?? 0;
    if (latest <= cursor) continue;
    const entered = await store.query(
      `SELECT 1 AS hit FROM segment_changes WHERE workspace_id = $1 AND segment_id = $2 AND refresh_no > $3 AND refresh_no <= $4
         AND change = 'entered' LIMIT 1`,
      [workspaceId, trigger.segmentId, cursor, latest],
    );
    if (entered.length > 0) found.add(Number(j.journey_id));
    else {
      // Refreshes up to `latest` are committed (its number was read from the segment row), so none is skipped.
      await store.query('UPDATE journeys SET entry_cursor = $4 WHERE workspace_id = $1 AND journey_id = $2 AND entry_cursor = $3', [
        workspaceId,
        Number(j.journey_id),
        cursor,
        latest,
      ]);
    }
  }
  return found;
}
