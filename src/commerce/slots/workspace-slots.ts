import type { Store } from '../../store/index.ts';
import { type CompiledSlot, compileSlot, type Membership } from './choose.ts';
import { KeyBits } from './key-bits.ts';
import { listSlots } from './slots-repo.ts';

interface SegmentState {
  bits: KeyBits;
  /** Membership reflects every change up to this refresh number. */
  refreshNo: number;
}

export interface SyncResult {
  slots: number;
  segments: number;
  /** Segments read whole (first use). */
  loaded: number;
  /** Entries and exits applied from segment changes. */
  changes: number;
}

/** A page of a keyset scan: a few tens of ms of row conversion at most, so decides keep flowing. */
const PAGE = 50_000;
/** Cursor user key meaning "after every key of this refresh". */
const AFTER_ALL = Number.MAX_SAFE_INTEGER;

/**
 * One workspace's slots and the membership of the segments they target, in memory. `sync` brings
 * it up to date with a handful of queries: the slot rows (few), the targeted segments' refresh
 * numbers, and — only for a segment that was refreshed since — its entries and exits after the
 * last refresh number applied (segment_changes, numbered per refresh: what journeys consume too).
 * A segment is read whole only the first time a slot targets it.
 *
 * Replaying changes is idempotent: a person's last change sets their membership, so a load that
 * already saw some later refreshes converges to the same set when those are applied again.
 */
export class WorkspaceSlots {
  slots = new Map<string, CompiledSlot>();
  private segments = new Map<number, SegmentState>();
  private queue: Promise<unknown> = Promise.resolve();
  readonly members: Membership = (segmentId) => this.segments.get(segmentId)?.bits;

  constructor(
    private readonly store: Store,
    readonly workspaceId: number,
  ) {}

  /** Runs after any sync in progress (a write must see its own change once this resolves). */
  sync(): Promise<SyncResult> {
    const run = this.queue.then(
      () => this.syncNow(),
      () => this.syncNow(),
    );
    this.queue = run.catch(() => {});
    return run;
  }

  /** Bytes of all membership bitmaps. */
  get memoryBytes(): number {
    let n = 0;
    for (const s of this.segments.values()) n += s.bits.bytes;
    return n;
  }

  private async syncNow(): Promise<SyncResult> {
    const slots = (await listSlots(this.store, this.workspaceId)).map(compileSlot);
    const needed = [...new Set(slots.flatMap((s) => s.segmentIds))];
    const rows =
      needed.length === 0
        ? []
        : await this.store.query<{ segment_id: number; refresh_no: number; status: string }>(
            'SELECT segment_id, refresh_no, status FROM segments WHERE workspace_id = $1 AND segment_id IN (SELECT unnest($2::BIGINT[]))',
            [this.workspaceId, needed],
          );
    const current = new Map(rows.map((r) => [Number(r.segment_id), r]));
    const next = new Map<number, SegmentState>();
    const result: SyncResult = { slots: slots.length, segments: needed.length, loaded: 0, changes: 0 };
    for (const id of needed) {
      const row = current.get(id);
      // An archived (or vanished) segment has no members: its variants reach nobody.
      if (row?.status !== 'active') {
        next.set(id, { bits: new KeyBits(), refreshNo: Number.POSITIVE_INFINITY });
        continue;
      }
      const refreshNo = Number(row.refresh_no);
      let state = this.segments.get(id);
      if (!state || state.refreshNo === Number.POSITIVE_INFINITY) {
        state = { bits: await this.loadMembers(id), refreshNo };
        result.loaded++;
      }
      if (refreshNo > state.refreshNo) {
        result.changes += await this.applyChanges(id, state, refreshNo);
        state.refreshNo = refreshNo;
      }
      next.set(id, state);
    }
    // Swapped in whole: a decide sees the old slots with their segments or the new ones with theirs.
    this.segments = next;
    this.slots = new Map(slots.map((s) => [s.name, s]));
    return result;
  }

  private async loadMembers(segmentId: number): Promise<KeyBits> {
    const bits = new KeyBits();
    for (let after = 0; ; ) {
      const rows = await this.store.query<{ user_key: number }>(
        `SELECT user_key FROM segment_members WHERE workspace_id = $1 AND segment_id = $2 AND user_key > $3 ORDER BY user_key LIMIT ${PAGE}`,
        [this.workspaceId, segmentId, after],
      );
      for (const r of rows) bits.add(Number(r.user_key));
      if (rows.length < PAGE) return bits;
      after = Number(rows[rows.length - 1]!.user_key);
    }
  }

  /** Entries and exits of refreshes (from, to], in refresh order, applied in place. */
  private async applyChanges(segmentId: number, state: SegmentState, to: number): Promise<number> {
    let applied = 0;
    let cursor = { refreshNo: state.refreshNo, userKey: AFTER_ALL };
    for (;;) {
      const rows = await this.store.query<{ refresh_no: number; user_key: number; change: string }>(
        `SELECT refresh_no, user_key, change FROM segment_changes
         WHERE workspace_id = $1 AND segment_id = $2 AND refresh_no <= $3 AND (refresh_no > $4 OR (refresh_no = $4 AND user_key > $5))
         ORDER BY refresh_no, user_key LIMIT ${PAGE}`,
        [this.workspaceId, segmentId, to, cursor.refreshNo, cursor.userKey],
      );
      for (const r of rows) {
        if (r.change === 'entered') state.bits.add(Number(r.user_key));
        else state.bits.delete(Number(r.user_key));
      }
      applied += rows.length;
      if (rows.length < PAGE) return applied;
      const last = rows[rows.length - 1]!;
      cursor = { refreshNo: Number(last.refresh_no), userKey: Number(last.user_key) };
    }
  }
}
