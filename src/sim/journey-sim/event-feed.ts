import { normalizeEvent, writeBatch } from '../../ingest/index.ts';
import type { Store } from '../../store/index.ts';
import type { RawEvent } from '../raw-events.ts';
import type { TimedEvent } from './population.ts';

/** Events written per writeBatch call (as the demo loader does). */
const BATCH = 5000;

/**
 * Writes events through the tracking API's path (normalise → writeBatch), received at a given
 * instant: identity resolution, dedupe and line items behave exactly as for real traffic.
 */
export async function writeEvents(store: Store, workspaceId: number, raws: readonly RawEvent[], receivedAt: number): Promise<number> {
  let stored = 0;
  for (let from = 0; from < raws.length; from += BATCH) {
    const batch = raws.slice(from, from + BATCH).map((raw, i) => {
      const r = normalizeEvent(raw, [from + i], { workspaceId, receivedAt, source: 'api' });
      // The simulator builds these events itself: one that does not validate is a bug here.
      if (!r.ok) throw new Error(`simulated event ${raw.event ?? raw.type} is invalid: ${JSON.stringify(r.errors)}`);
      return r.event;
    });
    stored += (await writeBatch(store, workspaceId, batch, receivedAt)).stored;
  }
  return stored;
}

/**
 * The events of the simulated period waiting for the clock: the shoppers' organic behaviour
 * (generated ahead, in time order) and responses to messages (queued as they are decided, often
 * hours ahead). Each step writes whatever is due, received at the step's virtual time.
 */
export class EventFeed {
  private next = 0;
  private queued: (TimedEvent & { seq: number })[] = [];
  private seq = 0;
  organicWritten = 0;
  responsesWritten = 0;

  constructor(
    private readonly store: Store,
    private readonly workspaceId: number,
    private readonly organic: readonly TimedEvent[],
    /** Sees (and may replace) each event just before it is written, in time order. */
    private readonly onEvent: (e: TimedEvent, organic: boolean) => RawEvent,
  ) {}

  queue(events: readonly TimedEvent[]): void {
    for (const e of events) this.queued.push({ ...e, seq: this.seq++ });
  }

  /** Response events not yet written. */
  get pending(): number {
    return this.queued.length;
  }

  /** Writes every event due at `now` (organic and queued responses merged in time order). */
  async writeUntil(now: number): Promise<void> {
    const due: { e: TimedEvent; organic: boolean }[] = [];
    while (this.next < this.organic.length && this.organic[this.next]!.ts <= now) {
      due.push({ e: this.organic[this.next++]!, organic: true });
    }
    const responses = this.queued.filter((q) => q.ts <= now).sort((a, b) => a.ts - b.ts || a.seq - b.seq);
    if (responses.length > 0) this.queued = this.queued.filter((q) => q.ts > now);
    for (const r of responses) due.push({ e: r, organic: false });
    if (due.length === 0) return;
    // Stable: organic events of one instant before responses of that instant.
    due.sort((a, b) => a.e.ts - b.e.ts);
    const raws = due.map((d) => this.onEvent(d.e, d.organic));
    await writeEvents(this.store, this.workspaceId, raws, now);
    const organic = due.filter((d) => d.organic).length;
    this.organicWritten += organic;
    this.responsesWritten += due.length - organic;
  }
}
