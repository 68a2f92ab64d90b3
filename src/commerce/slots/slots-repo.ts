import { AppError } from '../../core/errors.ts';
import type { SqlExecutor, Store } from '../../store/index.ts';
import type { Slot, SlotDefinition } from './schema.ts';

interface SlotRow {
  name: string;
  definition: SlotDefinition | string;
  created_at: number;
  updated_at: number;
  [k: string]: unknown;
}

function fromRow(r: SlotRow): Slot {
  const definition = typeof r.definition === 'string' ? (JSON.parse(r.definition) as SlotDefinition) : r.definition;
  return { ...definition, name: r.name, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}

export async function listSlots(db: SqlExecutor, workspaceId: number): Promise<Slot[]> {
  const rows = await db.query<SlotRow>('SELECT name, definition, created_at, updated_at FROM slots WHERE workspace_id = $1 ORDER BY name', [
    workspaceId,
  ]);
  return rows.map(fromRow);
}

export async function getSlot(db: SqlExecutor, workspaceId: number, name: string): Promise<Slot | null> {
  const [row] = await db.query<SlotRow>(
    'SELECT name, definition, created_at, updated_at FROM slots WHERE workspace_id = $1 AND name = $2',
    [workspaceId, name],
  );
  return row ? fromRow(row) : null;
}

export async function requireSlot(db: SqlExecutor, workspaceId: number, name: string): Promise<Slot> {
  const slot = await getSlot(db, workspaceId, name);
  if (!slot) throw new AppError('not_found', `no slot "${name}"`, 'name');
  return slot;
}

/** Every targeted segment must be an active segment of this workspace (a typo would silently show nothing). */
async function checkSegments(db: SqlExecutor, workspaceId: number, slot: SlotDefinition): Promise<void> {
  const refs = slot.variants.flatMap((v, i) => [
    ...(v.segmentId ? [{ id: v.segmentId, path: `variants[${i}].segmentId` }] : []),
    ...(v.excludeSegmentId ? [{ id: v.excludeSegmentId, path: `variants[${i}].excludeSegmentId` }] : []),
  ]);
  if (refs.length === 0) return;
  const rows = await db.query<{ segment_id: number }>(
    `SELECT segment_id FROM segments WHERE workspace_id = $1 AND status = 'active' AND segment_id IN (SELECT unnest($2::BIGINT[]))`,
    [workspaceId, [...new Set(refs.map((r) => r.id))]],
  );
  const active = new Set(rows.map((r) => Number(r.segment_id)));
  const missing = refs.find((r) => !active.has(r.id));
  if (missing) throw new AppError('invalid_request', `no active segment ${missing.id}`, missing.path);
}

export async function createSlot(store: Store, workspaceId: number, slot: SlotDefinition, now: number): Promise<Slot> {
  await checkSegments(store, workspaceId, slot);
  return store.transaction(async (tx) => {
    if (await getSlot(tx, workspaceId, slot.name)) throw new AppError('conflict', `a slot named "${slot.name}" already exists`, 'name');
    await tx.query(
      'INSERT INTO slots (workspace_id, name, placement, status, definition, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)',
      [workspaceId, slot.name, slot.placement, slot.status, JSON.stringify(slot), now],
    );
    return { ...slot, createdAt: now, updatedAt: now };
  });
}

/** Replaces the whole definition; the name is the slot's identity and cannot change. */
export async function updateSlot(store: Store, workspaceId: number, name: string, slot: SlotDefinition, now: number): Promise<Slot> {
  if (slot.name !== name)
    throw new AppError('invalid_request', `the name cannot change (create "${slot.name}" and delete "${name}")`, 'name');
  const current = await requireSlot(store, workspaceId, name);
  await checkSegments(store, workspaceId, slot);
  await store.query(
    'UPDATE slots SET placement = $3, status = $4, definition = $5, updated_at = $6 WHERE workspace_id = $1 AND name = $2',
    [workspaceId, name, slot.placement, slot.status, JSON.stringify(slot), now],
  );
  return { ...slot, createdAt: current.createdAt, updatedAt: now };
}

/** Deleting keeps the events (and so the report); a new slot of the same name continues it. */
export async function deleteSlot(store: Store, workspaceId: number, name: string): Promise<void> {
  await requireSlot(store, workspaceId, name);
  await store.query('DELETE FROM slots WHERE workspace_id = $1 AND name = $2', [workspaceId, name]);
}

/** Workspaces with at least one slot: the ones worth loading into memory when a server starts. */
export async function workspacesWithSlots(db: SqlExecutor): Promise<number[]> {
  const rows = await db.query<{ workspace_id: number }>('SELECT DISTINCT workspace_id FROM slots ORDER BY workspace_id');
  return rows.map((r) => Number(r.workspace_id));
}
