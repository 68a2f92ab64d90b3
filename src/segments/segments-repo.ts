import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import { reserveKeys, type SqlExecutor, type Store } from '../store/index.ts';
import { type Condition, segmentDefinitionSchema } from './definition.ts';
import { nextScheduledRefresh, type RefreshSettings, refreshSchema } from './refresh-schedule.ts';
import { dependsOnTime } from './time.ts';

export const segmentInputSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).optional(),
  definition: segmentDefinitionSchema,
  refresh: refreshSchema.default({ mode: 'realtime' }),
});
export type SegmentInput = z.input<typeof segmentInputSchema>;

export type SegmentKind = 'rules' | 'static';

export interface Segment {
  segmentId: number;
  name: string;
  description: string | null;
  /** rules: evaluated from its definition; static: a fixed list (e.g. a lookalike result). */
  kind: SegmentKind;
  definition: Condition | null;
  refresh: RefreshSettings;
  status: 'active' | 'archived';
  memberCount: number;
  /** Increases with every refresh; segment changes carry it (the cursor journeys read from). */
  refreshNo: number;
  createdAt: number;
  updatedAt: number;
  refreshedAt: number | null;
  /** The next scheduled (or, for realtime segments that depend on time, time-driven) full refresh. */
  nextRefreshAt: number | null;
  eventsWatermark: number | null;
}

interface SegmentRow {
  segment_id: number;
  name: string;
  description: string | null;
  kind: SegmentKind;
  definition: Condition | string | null;
  refresh_mode: RefreshSettings['mode'];
  cron: string | null;
  timezone: string | null;
  status: 'active' | 'archived';
  member_count: number;
  refresh_no: number;
  created_at: number;
  updated_at: number;
  refreshed_at: number | null;
  next_refresh_at: number | null;
  events_watermark: number | null;
}

function fromRow(r: SegmentRow): Segment {
  const refresh: RefreshSettings =
    r.refresh_mode === 'scheduled' ? { mode: 'scheduled', cron: r.cron ?? '', timezone: r.timezone ?? 'UTC' } : { mode: r.refresh_mode };
  return {
    segmentId: Number(r.segment_id),
    name: r.name,
    description: r.description,
    kind: r.kind,
    definition: typeof r.definition === 'string' ? (JSON.parse(r.definition) as Condition) : r.definition,
    refresh,
    status: r.status,
    memberCount: Number(r.member_count),
    refreshNo: Number(r.refresh_no),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    refreshedAt: r.refreshed_at === null ? null : Number(r.refreshed_at),
    nextRefreshAt: r.next_refresh_at === null ? null : Number(r.next_refresh_at),
    eventsWatermark: r.events_watermark === null ? null : Number(r.events_watermark),
  };
}

const columns = `segment_id, name, description, kind, definition, refresh_mode, cron, timezone, status, member_count,
  refresh_no, created_at, updated_at, refreshed_at, next_refresh_at, events_watermark`;

export async function getSegment(db: SqlExecutor, workspaceId: number, segmentId: number): Promise<Segment | null> {
  const [row] = await db.query<SegmentRow & Record<string, unknown>>(
    `SELECT ${columns} FROM segments WHERE workspace_id = $1 AND segment_id = $2`,
    [workspaceId, segmentId],
  );
  return row ? fromRow(row) : null;
}

export async function requireSegment(db: SqlExecutor, workspaceId: number, segmentId: number, path = 'id'): Promise<Segment> {
  const s = await getSegment(db, workspaceId, segmentId);
  if (!s) throw new AppError('not_found', `no segment ${segmentId}`, path);
  return s;
}

export async function listSegments(db: SqlExecutor, workspaceId: number, includeArchived = false): Promise<Segment[]> {
  const rows = await db.query<SegmentRow & Record<string, unknown>>(
    `SELECT ${columns} FROM segments WHERE workspace_id = $1 ${includeArchived ? '' : `AND status = 'active'`} ORDER BY segment_id`,
    [workspaceId],
  );
  return rows.map(fromRow);
}

/** Segment ids a definition refers to, with the JSON path of each reference (for error messages). */
export function referencedSegments(node: Condition, path = 'definition'): { segmentId: number; path: string }[] {
  switch (node.type) {
    case 'and':
    case 'or':
      return node.conditions.flatMap((c, i) => referencedSegments(c, `${path}.conditions[${i}]`));
    case 'not':
      return referencedSegments(node.condition, `${path}.condition`);
    case 'in_segment':
      return [{ segmentId: node.segmentId, path: `${path}.segmentId` }];
    default:
      return [];
  }
}

/**
 * Checks what the schema cannot: referenced segments exist in this workspace, are not archived,
 * and do not refer back to this one (a cycle would make membership undefined).
 */
export async function checkReferences(db: SqlExecutor, workspaceId: number, definition: Condition, self: number | null) {
  const all = new Map((await listSegments(db, workspaceId, true)).map((s) => [s.segmentId, s]));
  for (const ref of referencedSegments(definition)) {
    const target = all.get(ref.segmentId);
    if (!target || target.status === 'archived') throw new AppError('invalid_request', `no active segment ${ref.segmentId}`, ref.path);
    if (self === null) continue;
    const seen = new Set<number>();
    const stack = [ref.segmentId];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (id === self) throw new AppError('invalid_request', `segment ${ref.segmentId} refers back to this segment`, ref.path);
      if (seen.has(id)) continue;
      seen.add(id);
      const def = all.get(id)?.definition;
      if (def) stack.push(...referencedSegments(def).map((r) => r.segmentId));
    }
  }
}

function firstRefreshAt(refresh: RefreshSettings, definition: Condition | null, now: number): number | null {
  if (refresh.mode === 'scheduled') return nextScheduledRefresh(refresh, now);
  // Realtime segments that depend on time are due for a whole re-evaluation right away.
  if (refresh.mode === 'realtime' && definition && dependsOnTime(definition)) return now;
  return null;
}

export async function createSegment(store: Store, workspaceId: number, input: z.infer<typeof segmentInputSchema>, now: number) {
  await checkReferences(store, workspaceId, input.definition, null);
  return insertSegment(store, workspaceId, { ...input, kind: 'rules' }, now);
}

/** A fixed list of people (e.g. a lookalike result or an uploaded list); refreshes never change it. */
export async function createStaticSegment(
  store: Store,
  workspaceId: number,
  input: { name: string; description?: string; userKeys: readonly number[] },
  now: number,
): Promise<Segment> {
  return store.transaction(async (tx) => {
    const segment = await insertSegment(
      tx,
      workspaceId,
      { name: input.name, description: input.description, definition: null, refresh: { mode: 'manual' }, kind: 'static' },
      now,
    );
    const keys = [...new Set(input.userKeys)];
    const p = [workspaceId, segment.segmentId, keys, now];
    await tx.query(
      `INSERT INTO segment_changes (workspace_id, segment_id, refresh_no, user_key, change, changed_at)
       SELECT $1, $2, 1, k, 'entered', $4 FROM (SELECT unnest($3::BIGINT[]) AS k) s`,
      p,
    );
    await tx.query(
      `INSERT INTO segment_members (workspace_id, segment_id, user_key, entered_at) SELECT $1, $2, k, $4 FROM (SELECT unnest($3::BIGINT[]) AS k) s`,
      p,
    );
    await tx.query('UPDATE segments SET member_count = $3, refresh_no = 1, refreshed_at = $4 WHERE workspace_id = $1 AND segment_id = $2', [
      workspaceId,
      segment.segmentId,
      keys.length,
      now,
    ]);
    return { ...segment, memberCount: keys.length, refreshNo: 1, refreshedAt: now };
  });
}

async function insertSegment(
  db: SqlExecutor,
  workspaceId: number,
  s: { name: string; description?: string | undefined; definition: Condition | null; refresh: RefreshSettings; kind: SegmentKind },
  now: number,
): Promise<Segment> {
  const [dupe] = await db.query('SELECT 1 FROM segments WHERE workspace_id = $1 AND name = $2 AND status = $3', [
    workspaceId,
    s.name,
    'active',
  ]);
  if (dupe) throw new AppError('conflict', `a segment named "${s.name}" already exists`, 'name');
  const segmentId = await reserveKeys(db, 'segment_id', 1);
  await db.query(
    `INSERT INTO segments (workspace_id, segment_id, name, description, kind, definition, refresh_mode, cron, timezone, status,
       created_at, updated_at, next_refresh_at, refresh_no, member_count)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $10, $11, 0, 0)`,
    [
      workspaceId,
      segmentId,
      s.name,
      s.description ?? null,
      s.kind,
      s.definition === null ? null : JSON.stringify(s.definition),
      s.refresh.mode,
      s.refresh.mode === 'scheduled' ? s.refresh.cron : null,
      s.refresh.mode === 'scheduled' ? s.refresh.timezone : null,
      now,
      firstRefreshAt(s.refresh, s.definition, now),
    ],
  );
  return (await getSegment(db, workspaceId, segmentId))!;
}

/** Replaces name, definition and refresh settings; the caller re-evaluates membership. */
export async function updateSegment(
  store: Store,
  workspaceId: number,
  segmentId: number,
  input: z.infer<typeof segmentInputSchema>,
  now: number,
): Promise<Segment> {
  const current = await requireSegment(store, workspaceId, segmentId);
  if (current.kind === 'static') throw new AppError('invalid_request', 'a static segment has no definition to change', 'definition');
  await checkReferences(store, workspaceId, input.definition, segmentId);
  await store.query(
    `UPDATE segments SET name = $3, description = $4, definition = $5, refresh_mode = $6, cron = $7, timezone = $8,
       updated_at = $9, next_refresh_at = $10 WHERE workspace_id = $1 AND segment_id = $2`,
    [
      workspaceId,
      segmentId,
      input.name,
      input.description ?? null,
      JSON.stringify(input.definition),
      input.refresh.mode,
      input.refresh.mode === 'scheduled' ? input.refresh.cron : null,
      input.refresh.mode === 'scheduled' ? input.refresh.timezone : null,
      now,
      firstRefreshAt(input.refresh, input.definition, now),
    ],
  );
  return requireSegment(store, workspaceId, segmentId);
}

/** Archived segments keep their history (changes) but no members and are never refreshed. */
export async function archiveSegment(store: Store, workspaceId: number, segmentId: number, now: number): Promise<void> {
  await requireSegment(store, workspaceId, segmentId);
  const dependants = (await listSegments(store, workspaceId)).filter(
    (s) => s.definition && referencedSegments(s.definition).some((r) => r.segmentId === segmentId),
  );
  if (dependants.length > 0) {
    throw new AppError('conflict', `segment ${segmentId} is used by ${dependants.map((d) => `"${d.name}"`).join(', ')}`, 'id');
  }
  await store.transaction(async (tx) => {
    await tx.query(
      `UPDATE segments SET status = 'archived', updated_at = $3, member_count = 0 WHERE workspace_id = $1 AND segment_id = $2`,
      [workspaceId, segmentId, now],
    );
    await tx.query('DELETE FROM segment_members WHERE workspace_id = $1 AND segment_id = $2', [workspaceId, segmentId]);
  });
}
