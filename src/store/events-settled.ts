import type { Clock } from '../core/clock.ts';
import { advisoryLock } from './advisory-locks.ts';
import { oldestMarkedWrite } from './events-in-flight.ts';
import type { Store } from './port.ts';

/** PostgreSQL's error code for a lock not granted within `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * PostgreSQL: a receive time up to which every event of the workspace is committed, or null when
 * that could not be learnt within `waitMs`. Every event write (API batch, import slice) holds the
 * workspace's `identities` lock from before it stamps its events received until it commits
 * (writeBatch, importEvents); so once this gets the lock, everything stamped earlier has committed,
 * and whatever commits later is stamped later. That makes a reader's cursor exact whatever a write
 * waited or lasted, with no overlap to guess (the overlap that remains covers clocks that disagree
 * between machines). Taking the lock waits for the write in progress: a long one (an import slice)
 * makes this answer null, and the reader keeps its last answer until the write is done.
 * It also stops just before the oldest event write outside ingest in flight in any process
 * (journey steps, message and membership events: events-in-flight.ts).
 * DuckDB (one process, whose own buffer knows what it has not written) does not call this.
 */
export async function eventsSettledAt(store: Store, workspaceId: number, now: () => number, waitMs: number): Promise<number | null> {
  try {
    return await store.transaction(async (tx) => {
      await tx.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(waitMs))}`);
      await tx.query(`SELECT pg_advisory_xact_lock(${advisoryLock.identities}, $1)`, [workspaceId]);
      // The time first: a write named after the look below is stamped after it.
      const at = now();
      const oldest = await oldestMarkedWrite(tx, workspaceId);
      return oldest === null ? at : Math.min(at, oldest - 1);
    });
  } catch (err) {
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) return null;
    throw err;
  }
}

/**
 * The receive time up to which a reader of new events (journey engine, segment refresher) may move
 * its cursor: on PostgreSQL what eventsSettledAt learns, or while a long write keeps it from
 * learning, the last time it did (at first `now - fallbackMs`); on DuckDB (one process) now. Either
 * way no further than just before this process's oldest event write in flight (EventsInFlight).
 */
export class SettledEvents {
  private readonly last = new Map<number, number>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly fallbackMs: number,
    /**
     * How long to wait for the write in progress: longer than an API batch's write, so that under
     * steady ingest the reader gets its turn (lock requests queue in order); an import slice may
     * take longer, and the reader then keeps its last answer.
     */
    private readonly waitMs = 5_000,
  ) {}

  async at(workspaceId: number, now: number): Promise<number> {
    if (this.store.dialect !== 'postgres') return this.store.eventsInFlight.horizon(workspaceId, now);
    const at = await eventsSettledAt(this.store, workspaceId, () => this.clock.now(), this.waitMs);
    if (at !== null) this.last.set(workspaceId, at);
    return this.store.eventsInFlight.horizon(workspaceId, at ?? this.last.get(workspaceId) ?? now - this.fallbackMs);
  }
}
