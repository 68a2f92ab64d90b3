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
  /** Events came since it last looked that its goal or a wait for an event listens to, by someone it may act on. */
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
 * every few hundred milliseconds). New events count by name and by person: an order paid by
 * someone in the journey wakes a journey whose goal is a paid order; a page view, or an order of
 * someone in none of its instances, does not (exact: a goal or wait matches names first, and acts
 * on active instances only).
 */
export async function pendingWork(input: PendingWorkInput): Promise<(j: RunningJourney) => Work> {
  const { store, workspaceId, journeys, now, horizon, triggers } = input;
  const { overlap } = horizon;
  const triggerOf = (j: RunningJourney) => triggers.get(`${j.journey_id}/${j.version}`);
  const since = (j: RunningJourney) => (j.events_watermark === null ? now : Number(j.events_watermark)) - overlap;
  const entrySince = (j: RunningJourney) => (j.entry_cursor === null ? now : Number(j.entry_cursor)) - overlap;
  const from = Math.min(...journeys.map((j) => (triggerOf(j)?.kind === 'event' ? Math.min(since(j), entrySince(j)) : since(j))));
  // New events by name, journeys with due instances and segments' refresh numbers: one read
  // (each statement costs milliseconds on DuckDB, and this runs at every tick).
  const latestByName = new Map<string, number>();
  let latestAny = Number.NEGATIVE_INFINITY;
  const due = new Set<number>();
  const refreshNo = new Map<number, number>();
  /** `journeyId/name` → the latest such event of a person with an active instance of that journey. */
  const latestByMembers = new Map<string, number>();
  // New events: per name, and per journey in which their person has an active instance (id; NULL
  // for events of people in none) — one scan of the new events.
  for (const r of await store.query<{ kind: 'event' | 'due' | 'segment'; name: string | null; id: number | null; n: number }>(
    `SELECT 'event' AS kind, e.event AS name, i.journey_id AS id, max(e.received_at) AS n FROM events e
       LEFT JOIN journey_instances i ON i.workspace_id = e.workspace_id AND i.user_key = e.user_key AND i.status = 'active'
       WHERE e.workspace_id = $1 AND e.received_at > $2 GROUP BY e.event, i.journey_id
     UNION ALL
     SELECT 'due', NULL, d.journey_id, 0 FROM (SELECT DISTINCT journey_id FROM journey_instances
       WHERE workspace_id = $1 AND status = 'active' AND due_at <= $3) d
     UNION ALL
     SELECT 'segment', NULL, segment_id, refresh_no FROM segments WHERE workspace_id = $1`,
    [workspaceId, from, now],
  )) {
    if (r.kind === 'event') {
      const latest = Number(r.n);
      latestAny = Math.max(latestAny, latest);
      if (r.name === null) continue;
      latestByName.set(r.name, Math.max(latest, latestByName.get(r.name) ?? Number.NEGATIVE_INFINITY));
      if (r.id !== null) latestByMembers.set(`${Number(r.id)}/${r.name}`, latest);
    } else if (r.kind === 'due') due.add(Number(r.id));
    else refreshNo.set(Number(r.id), Number(r.n));
  }
  const cameAfter = (names: Iterable<string>, t: number) => {
    for (const n of names) if ((latestByName.get(n) ?? Number.NEGATIVE_INFINITY) > t) return true;
    return false;
  };
  const watched = new Map<number, ReadonlySet<string>>();
  for (const j of journeys)
    watched.set(Number(j.journey_id), await input.watched.of(store, workspaceId, Number(j.journey_id), Number(j.version)));
  const segmentEntries = await segmentsWithEntries(store, workspaceId, journeys, triggerOf, refreshNo);
  const enrolls = (j: RunningJourney) => {
    const trigger = triggerOf(j);
    // Unknown trigger (not loaded yet): let the tick find out.
    if (trigger?.kind === 'event') return cameAfter(matchNames(trigger.event), entrySince(j));
    if (trigger?.kind === 'segment') return j.entry_cursor === null || segmentEntries.has(Number(j.journey_id));
    if (trigger?.kind === 'schedule') return j.next_fire_at !== null && Number(j.next_fire_at) <= now;
    if (trigger?.kind === 'api') return false;
    return true;
  };
  const heard = (j: RunningJourney) => cameAfter(watched.get(Number(j.journey_id)) ?? [], since(j));
  // A goal or an awaited event only acts on people in the journey: when nobody enrols this tick
  // and none of the new watched events is by someone with an active instance, nothing can
  // convert or wake (an order paid by someone not in the journey is the common case).
  const heardByMembers = (j: RunningJourney) => {
    for (const n of watched.get(Number(j.journey_id)) ?? []) {
      if ((latestByMembers.get(`${Number(j.journey_id)}/${n}`) ?? Number.NEGATIVE_INFINITY) > since(j)) return true;
    }
    return false;
  };
  return (j) => {
    const enroll = enrolls(j);
    const events = enroll ? heard(j) : heardByMembers(j);
    // Everything up to the horizon taken before the read was committed, and none of it matters.
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
