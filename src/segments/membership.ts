import { AppError } from '../core/errors.ts';
import { serialQueue } from '../core/serial-queue.ts';
import { keysIn, keysParam, type SqlExecutor, type SqlParam, type Store } from '../store/index.ts';
import { compileSegment } from './compile.ts';
import { requireSegment, type Segment } from './segments-repo.ts';

export interface RefreshResult {
  segmentId: number;
  refreshNo: number;
  entered: number;
  exited: number;
  size: number;
  /** Re-evaluated only these people (after new events) rather than everyone. */
  incremental: boolean;
  tookMs: number;
}

export interface RefreshOptions {
  /** Re-evaluate only these people (incremental refresh); omit for everyone. */
  userKeys?: readonly number[];
  /** Events received up to here are reflected (the realtime refresher's cursor). */
  eventsWatermark?: number;
  /** When the next full refresh is due (scheduled / time-driven); undefined leaves it as it is. */
  nextRefreshAt?: number | null;
  /** Wall time for tookMs only (evaluation itself uses `now`). */
  stopwatch?: () => number;
  /** The segment's row as the caller just read it (saves reading it again; member_count is re-read under the lock). */
  segment?: Segment;
  /**
   * First check, read-only, whether anyone would enter or leave; if nobody would, only move the
   * segment's watermark, next due time and refreshed_at (no refresh number, no transaction).
   * The membership is the same as after a refresh; what is saved is its statements — most
   * time-driven and incremental refreshes change nobody, and each statement costs milliseconds
   * on DuckDB.
   */
  skipIfUnchanged?: boolean;
}

/** DuckDB has one writer: refreshes of one store run one after another (PostgreSQL locks the segment row too). */
const serialized = serialQueue();

/**
 * Re-evaluates a segment and records who entered and who left, in one transaction:
 * evaluate into a temporary table, diff with the current members (both directions, restricted to
 * the re-evaluated people), append the differences to `segment_changes` under a new refresh
 * number, and apply them to `segment_members`. Re-running it without new data changes nothing.
 */
export function refreshSegment(
  store: Store,
  workspaceId: number,
  segmentId: number,
  now: number,
  options: RefreshOptions = {},
): Promise<RefreshResult> {
  return serialized(store, () => refreshNow(store, workspaceId, segmentId, now, options));
}

async function refreshNow(
  store: Store,
  workspaceId: number,
  segmentId: number,
  now: number,
  options: RefreshOptions,
): Promise<RefreshResult> {
  const started = options.stopwatch?.() ?? 0;
  const segment = options.segment ?? (await requireSegment(store, workspaceId, segmentId));
  if (segment.status === 'archived') throw new AppError('conflict', `segment ${segmentId} is archived`, 'id');
  if (segment.kind === 'static' || !segment.definition) {
    return { segmentId, refreshNo: segment.refreshNo, entered: 0, exited: 0, size: segment.memberCount, incremental: false, tookMs: 0 };
  }
  const definition = segment.definition;
  const restrict = options.userKeys ? [...options.userKeys] : undefined;
  const compiled = compileSegment(definition, { dialect: store.dialect, workspaceId, now, restrictTo: restrict });
  if (options.skipIfUnchanged) {
    const kept = await keepIfUnchanged(store, workspaceId, segment, now, compiled.sql, compiled.params, restrict, options);
    if (kept) return { ...kept, incremental: restrict !== undefined, tookMs: (options.stopwatch?.() ?? 0) - started };
  }
  const counts = await store.session((session) =>
    session.transaction(async (tx) => {
      // Inline integers: DuckDB cannot prepare UPDATE … RETURNING. On PostgreSQL this also locks the row.
      const [bumped] = await tx.query<{ refresh_no: number; member_count: number }>(
        `UPDATE segments SET refresh_no = refresh_no + 1 WHERE workspace_id = ${Number(workspaceId)} AND segment_id = ${Number(segmentId)} RETURNING refresh_no, member_count`,
      );
      const refreshNo = Number(bumped!.refresh_no);
      // One table per connection, emptied before use (creating and dropping it costs more than a small refresh).
      await tx.query('CREATE TEMP TABLE IF NOT EXISTS seg_eval (user_key BIGINT NOT NULL)');
      await tx.query('DELETE FROM seg_eval');
      await tx.query(`INSERT INTO seg_eval ${compiled.sql}`, compiled.params);
      const changes = await recordChanges(tx, workspaceId, segmentId, refreshNo, now, restrict);
      await tx.query('DELETE FROM seg_eval');
      const size = Number(bumped!.member_count) + changes.entered - changes.exited;
      const sets = ['member_count = $3', 'refreshed_at = $4', 'updated_at = updated_at'];
      const params: (number | null)[] = [workspaceId, segmentId, size, now];
      if (options.eventsWatermark !== undefined) {
        params.push(options.eventsWatermark);
        sets.push(`events_watermark = $${params.length}`);
      }
      if (options.nextRefreshAt !== undefined) {
        params.push(options.nextRefreshAt);
        sets.push(`next_refresh_at = $${params.length}`);
      }
      await tx.query(`UPDATE segments SET ${sets.join(', ')} WHERE workspace_id = $1 AND segment_id = $2`, params);
      return { refreshNo, size, ...changes };
    }),
  );
  const tookMs = (options.stopwatch?.() ?? 0) - started;
  return { segmentId, incremental: restrict !== undefined, tookMs, ...counts };
}

/**
 * The read-only check of `skipIfUnchanged`: when the evaluation equals the current members (of
 * the re-evaluated people), moves the watermark and next due time — only if no other refresh
 * happened since the row was read — and returns the result; else null (do the refresh).
 */
async function keepIfUnchanged(
  store: Store,
  workspaceId: number,
  segment: Segment,
  now: number,
  sql: string,
  params: readonly SqlParam[],
  restrict: number[] | undefined,
  options: RefreshOptions,
): Promise<Omit<RefreshResult, 'incremental' | 'tookMs'> | null> {
  const n = params.length;
  const current = `SELECT user_key FROM segment_members WHERE workspace_id = $${n + 1} AND segment_id = $${n + 2}${
    restrict ? ` AND user_key IN ${keysIn(n + 3)}` : ''
  }`;
  const probe = `SELECT 1 AS hit FROM (SELECT user_key FROM ((${sql}) EXCEPT (${current})) a
    UNION ALL SELECT user_key FROM ((${current}) EXCEPT (${sql})) b) d LIMIT 1`;
  const diff = await store.query(probe, [...params, workspaceId, segment.segmentId, ...(restrict ? [keysParam(restrict)] : [])]);
  if (diff.length > 0) return null;
  // Inline integers (DuckDB cannot prepare UPDATE … RETURNING); the refresh number guards against a refresh in between.
  const int = (v: number | null) => (v === null ? 'NULL' : String(Math.trunc(Number(v))));
  const sets = [`refreshed_at = ${int(now)}`, 'updated_at = updated_at'];
  if (options.eventsWatermark !== undefined) sets.push(`events_watermark = ${int(options.eventsWatermark)}`);
  if (options.nextRefreshAt !== undefined) sets.push(`next_refresh_at = ${int(options.nextRefreshAt)}`);
  const moved = await store.query<{ member_count: number }>(
    `UPDATE segments SET ${sets.join(', ')} WHERE workspace_id = ${int(workspaceId)} AND segment_id = ${int(segment.segmentId)}
       AND refresh_no = ${int(segment.refreshNo)} RETURNING member_count`,
  );
  // Another refresh came in between (another process): refresh properly rather than guess.
  if (moved.length === 0) return null;
  return { segmentId: segment.segmentId, refreshNo: segment.refreshNo, entered: 0, exited: 0, size: Number(moved[0]!.member_count) };
}

async function recordChanges(
  tx: SqlExecutor,
  workspaceId: number,
  segmentId: number,
  refreshNo: number,
  now: number,
  restrict: number[] | undefined,
): Promise<{ entered: number; exited: number }> {
  const params = restrict ? [workspaceId, segmentId, refreshNo, now, restrict] : [workspaceId, segmentId, refreshNo, now];
  const current = `SELECT user_key FROM segment_members WHERE workspace_id = $1 AND segment_id = $2${
    restrict ? ' AND user_key IN (SELECT unnest($5::BIGINT[]))' : ''
  }`;
  const insert = `INSERT INTO segment_changes (workspace_id, segment_id, refresh_no, user_key, change, changed_at)`;
  await tx.query(`${insert} SELECT $1, $2, $3, d.user_key, 'entered', $4 FROM (SELECT user_key FROM seg_eval EXCEPT ${current}) d`, params);
  await tx.query(`${insert} SELECT $1, $2, $3, d.user_key, 'exited', $4 FROM (${current} EXCEPT SELECT user_key FROM seg_eval) d`, params);
  const thisRefresh = 'workspace_id = $1 AND segment_id = $2 AND refresh_no = $3';
  const p = [workspaceId, segmentId, refreshNo];
  const rows = await tx.query<{ change: string; n: number }>(
    `SELECT change, count(*) AS n FROM segment_changes WHERE ${thisRefresh} GROUP BY change`,
    p,
  );
  const n = (c: string) => Number(rows.find((r) => r.change === c)?.n ?? 0);
  // Most refreshes change nobody: skip the statements (and their plans) entirely then.
  if (n('entered') > 0) {
    await tx.query(
      `INSERT INTO segment_members (workspace_id, segment_id, user_key, entered_at)
       SELECT workspace_id, segment_id, user_key, changed_at FROM segment_changes WHERE ${thisRefresh} AND change = 'entered'`,
      p,
    );
  }
  if (n('exited') > 0) {
    await tx.query(
      `DELETE FROM segment_members WHERE workspace_id = $1 AND segment_id = $2
         AND user_key IN (SELECT user_key FROM segment_changes WHERE ${thisRefresh} AND change = 'exited')`,
      p,
    );
  }
  return { entered: n('entered'), exited: n('exited') };
}
