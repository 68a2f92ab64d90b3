import type { Clock } from '../core/clock.ts';
import { startTicker, type Ticker } from '../core/ticker.ts';
import { touchedPeople } from '../profiles/index.ts';
import { SettledEvents, type Store } from '../store/index.ts';
import { type RefreshResult, refreshSegment } from './membership.ts';
import { nextScheduledRefresh } from './refresh-schedule.ts';
import { listSegments, referencedSegments, requireSegment, type Segment } from './segments-repo.ts';
import { dependsOnTime } from './time.ts';

export interface RefresherOptions {
  /** How often realtime segments whose answer changes with time alone are re-evaluated whole. */
  timeRefreshMs: number;
  /**
   * New events are found by `received_at` after the last watermark minus this overlap, so an
   * event whose batch committed just after a refresh read (its received_at slightly earlier) is
   * still seen next time. Re-evaluating a person twice is harmless.
   */
  overlapMs: number;
  /** PostgreSQL: how long a tick waits for an event write in progress to learn what is committed (SettledEvents; default 5 s). */
  settleWaitMs?: number;
  /** Above this many touched people a whole re-evaluation is cheaper than a restricted one. */
  maxIncremental: number;
  /** Called with the people touched by new events before segments are refreshed (e.g. computed traits). */
  onTouched?: (workspaceId: number, userKeys: number[], now: number) => Promise<void>;
}

export const defaultRefresherOptions: RefresherOptions = { timeRefreshMs: 60_000, overlapMs: 10_000, maxIncremental: 200_000 };

/**
 * Keeps realtime and scheduled segments current. One `tick` per workspace:
 * 1. people touched by events received since the segments' watermark (and people merged since);
 * 2. segments in dependency order (a segment that uses another comes after it);
 * 3. each segment: a whole re-evaluation when due (new, scheduled time reached, time-driven
 *    refresh due, or a segment it uses changed), else an incremental one for the touched people.
 */
export class SegmentRefresher {
  private ticker: Ticker | null = null;
  private readonly settled: SettledEvents;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: RefresherOptions = defaultRefresherOptions,
  ) {
    this.settled = new SettledEvents(store, clock, options.overlapMs, options.settleWaitMs);
  }

  /** Refreshes everything that is due in every workspace. */
  async tick(): Promise<RefreshResult[]> {
    const workspaces = await this.store.query<{ workspace_id: number }>('SELECT workspace_id FROM workspaces ORDER BY workspace_id');
    const results: RefreshResult[] = [];
    for (const w of workspaces) results.push(...(await this.tickWorkspace(Number(w.workspace_id))));
    return results;
  }

  async tickWorkspace(workspaceId: number): Promise<RefreshResult[]> {
    const now = this.clock.now();
    const segments = dependencyOrder((await listSegments(this.store, workspaceId)).filter((s) => s.kind === 'rules'));
    const realtime = segments.filter((s) => s.refresh.mode === 'realtime');
    // Where realtime watermarks move to: events received up to here are surely committed (on
    // PostgreSQL other processes write too, and a write may wait long for its turn; see SettledEvents).
    const settled = realtime.length > 0 ? await this.settled.at(workspaceId, now) : now;
    // People touched by new events matter to incremental refreshes (and to onTouched): when every
    // realtime segment is due for a whole re-evaluation anyway, nobody needs them.
    const needTouched = this.options.onTouched !== undefined || realtime.some((s) => !this.dueWhole(s, now));
    const touched = needTouched && realtime.length > 0 ? await this.touchedSince(workspaceId, realtime, now) : [];
    if (touched.length > 0 && this.options.onTouched) await this.options.onTouched(workspaceId, touched, now);
    const changed = new Set<number>();
    const results: RefreshResult[] = [];
    for (const s of segments) {
      const usesChanged = s.definition !== null && referencedSegments(s.definition).some((r) => changed.has(r.segmentId));
      const due = this.dueWhole(s, now) || usesChanged;
      let result: RefreshResult | null = null;
      if (s.refresh.mode === 'scheduled') {
        if (due)
          result = await refreshSegment(this.store, workspaceId, s.segmentId, now, { nextRefreshAt: nextScheduledRefresh(s.refresh, now) });
      } else if (s.refresh.mode === 'realtime') {
        // A tick's refreshes mostly change nobody: those only move the watermark (skipIfUnchanged).
        if (due || touched.length > this.options.maxIncremental) {
          result = await refreshSegment(this.store, workspaceId, s.segmentId, now, {
            ...this.wholeRefreshTimes(s, now, settled),
            segment: s,
            skipIfUnchanged: true,
          });
        } else if (touched.length > 0) {
          result = await refreshSegment(this.store, workspaceId, s.segmentId, now, {
            userKeys: touched,
            eventsWatermark: settled,
            segment: s,
            skipIfUnchanged: true,
          });
        }
      } else if (usesChanged) {
        result = await refreshSegment(this.store, workspaceId, s.segmentId, now);
      }
      if (result) {
        results.push(result);
        if (result.entered + result.exited > 0) changed.add(s.segmentId);
      }
    }
    return results;
  }

  /**
   * A whole re-evaluation now (on create, edit or request), which also moves the segment's
   * watermark and next due time as a tick would.
   */
  async refreshOne(workspaceId: number, segmentId: number, stopwatch?: () => number): Promise<RefreshResult> {
    const now = this.clock.now();
    const s = await requireSegment(this.store, workspaceId, segmentId);
    const settled = await this.settled.at(workspaceId, now);
    return refreshSegment(this.store, workspaceId, segmentId, now, { ...this.wholeRefreshTimes(s, now, settled), segment: s, stopwatch });
  }

  /** New, scheduled time reached, or time-driven refresh due. */
  private dueWhole(s: Segment, now: number): boolean {
    return s.refreshNo === 0 || (s.nextRefreshAt !== null && s.nextRefreshAt <= now);
  }

  /**
   * The watermark and next due time a whole re-evaluation at `now` leaves: the watermark at
   * `settled`, as far as event writes are known committed (SettledEvents), not `now`.
   */
  private wholeRefreshTimes(s: Segment, now: number, settled: number): { eventsWatermark: number; nextRefreshAt: number | null } {
    const nextRefreshAt =
      s.refresh.mode === 'scheduled'
        ? nextScheduledRefresh(s.refresh, now)
        : s.refresh.mode === 'realtime' && s.definition !== null && dependsOnTime(s.definition)
          ? now + this.options.timeRefreshMs
          : null;
    return { eventsWatermark: settled, nextRefreshAt };
  }

  /** People with events received (or merged) after the oldest watermark of these segments. */
  private touchedSince(workspaceId: number, segments: Segment[], now: number): Promise<number[]> {
    const since = Math.min(...segments.map((s) => s.eventsWatermark ?? now)) - this.options.overlapMs;
    return touchedPeople(this.store, workspaceId, since);
  }

  /** Ticks every `intervalMs` until stopped; a failed tick is logged and retried next time. */
  start(intervalMs: number, log: (err: unknown) => void): void {
    this.ticker = startTicker(() => this.tick(), intervalMs, log);
  }

  async stop(): Promise<void> {
    await this.ticker?.stop();
    this.ticker = null;
  }
}

/** Segments ordered so that each comes after the segments its definition uses (cycles are refused on save). */
function dependencyOrder(segments: Segment[]): Segment[] {
  const byId = new Map(segments.map((s) => [s.segmentId, s]));
  const out: Segment[] = [];
  const placed = new Set<number>();
  const place = (s: Segment) => {
    if (placed.has(s.segmentId)) return;
    placed.add(s.segmentId);
    for (const r of s.definition ? referencedSegments(s.definition) : []) {
      const dep = byId.get(r.segmentId);
      if (dep) place(dep);
    }
    out.push(s);
  };
  for (const s of segments) place(s);
  return out;
}
