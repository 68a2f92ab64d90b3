import { DAY } from '../../core/clock.ts';
import type { MessageIdIndex, SqlExecutor } from '../port.ts';

/**
 * The DuckDB dedupe window: the exact message ids stored in the last `days` days, in memory,
 * one Set per workspace per received day so old days drop off whole. This is correct only
 * because DuckDB allows one writing process per file; it is rebuilt from `events` on open.
 * An ART index would do the same in the database, but its inserts slow down sharply as it
 * grows (measured: 160k/s at 0.5M ids down to 45k/s at 4M), well below the ingest goal.
 * Memory: roughly 100 bytes per id, so 10M ids in the window cost about 1 GB.
 */
export class MessageIdWindow implements MessageIdIndex {
  private readonly byWorkspace = new Map<number, Map<number, Set<string>>>();
  /** Whether `warm` ran: a window never loaded would let every stored id through again. */
  private loaded = false;

  constructor(private readonly days: number) {}

  async findStored(_tx: SqlExecutor, workspaceId: number, ids: readonly string[]): Promise<Set<string>> {
    if (!this.loaded) throw new Error('the dedupe window was not loaded: open the store with warmCaches to write events');
    const found = new Set<string>();
    const buckets = this.byWorkspace.get(workspaceId);
    if (!buckets) return found;
    for (const id of ids) {
      for (const set of buckets.values()) {
        if (set.has(id)) {
          found.add(id);
          break;
        }
      }
    }
    return found;
  }

  remember(workspaceId: number, ids: readonly string[], receivedAt: number): void {
    let buckets = this.byWorkspace.get(workspaceId);
    if (!buckets) {
      buckets = new Map();
      this.byWorkspace.set(workspaceId, buckets);
    }
    const day = Math.floor(receivedAt / DAY);
    let set = buckets.get(day);
    if (!set) {
      set = new Set();
      buckets.set(day, set);
      // A new day began: drop days that fell out of the window (keep one spare day).
      for (const d of buckets.keys()) if (d < day - this.days) buckets.delete(d);
    }
    for (const id of ids) set.add(id);
  }

  async rememberStored(db: SqlExecutor, workspaceId: number, eventsSql: string, receivedAt: number): Promise<void> {
    if (!this.loaded) return; // nothing in this process dedupes against it; the next open loads them
    // Only events that happened within the window: a client retries recent events, and a
    // history import (millions of old events) would otherwise fill memory. One JSON array, not a
    // row per id: reading a million rows back took 2 s.
    const [row] = await db.query<{ ids: string[] | null }>(`SELECT to_json(list(message_id)) AS ids FROM (${eventsSql}) s WHERE ts >= $1`, [
      receivedAt - this.days * DAY,
    ]);
    this.remember(workspaceId, row?.ids ?? [], receivedAt);
  }

  /**
   * Rebuilds the window from the ids received in the last `days` days through the API, and
   * through an import for events that happened in those days (see rememberStored). Events
   * Shopflow writes itself carry ids of its own making.
   */
  async warm(db: SqlExecutor, now: number): Promise<void> {
    const rows = await db.query<{ workspace_id: number; message_id: string; received_at: number }>(
      `SELECT workspace_id, message_id, received_at FROM events
       WHERE received_at >= $1 AND (source = 'api' OR source = 'import' AND ts >= $1)`,
      [now - this.days * DAY],
    );
    for (const r of rows) this.remember(r.workspace_id, [r.message_id], r.received_at);
    this.loaded = true;
  }

  size(): number {
    let n = 0;
    for (const buckets of this.byWorkspace.values()) for (const s of buckets.values()) n += s.size;
    return n;
  }
}
