import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { Store } from '../store/index.ts';

export interface Workspace {
  workspaceId: number;
  name: string;
  writeKey: string;
}

export interface CreatedWorkspace {
  workspace: string;
  workspaceId: number;
  writeKey: string;
  /** Shown once: only its hash is stored. */
  adminKey: string;
}

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
const newKey = (prefix: string) => `${prefix}_${randomBytes(18).toString('base64url')}`;
const writeKeyShape = /^wk_[A-Za-z0-9_-]{1,64}$/;

export async function createWorkspace(store: Store, name: string, now: number): Promise<CreatedWorkspace> {
  const writeKey = newKey('wk');
  const adminKey = newKey('ak');
  return store.transaction(async (tx) => {
    const existing = await tx.query('SELECT 1 FROM workspaces WHERE name = $1', [name]);
    if (existing.length > 0) throw new AppError('conflict', `workspace "${name}" already exists`, 'workspace');
    const [row] = await tx.query<{ id: number }>(`SELECT nextval('workspace_id_seq') AS id`);
    const workspaceId = Number(row!.id);
    await tx.query('INSERT INTO workspaces (workspace_id, name, write_key, admin_key_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
      workspaceId,
      name,
      writeKey,
      hashKey(adminKey),
      now,
    ]);
    return { workspace: name, workspaceId, writeKey, adminKey };
  });
}

/** Issues a new admin key for an existing workspace (the old one stops working). */
export async function rotateAdminKey(store: Store, name: string): Promise<CreatedWorkspace> {
  const adminKey = newKey('ak');
  const rows = await store.query<{ workspace_id: number; write_key: string }>(
    'UPDATE workspaces SET admin_key_hash = $2 WHERE name = $1 RETURNING workspace_id, write_key',
    [name, hashKey(adminKey)],
  );
  if (rows.length === 0) throw new AppError('not_found', `no workspace named "${name}"`, 'workspace');
  return { workspace: name, workspaceId: rows[0]!.workspace_id, writeKey: rows[0]!.write_key, adminKey };
}

export async function countWorkspaces(store: Store): Promise<number> {
  const [row] = await store.query<{ n: number }>('SELECT count(*) AS n FROM workspaces');
  return Number(row!.n);
}

type WorkspaceRow = { workspace_id: number; name: string; write_key: string };

/**
 * Looks keys up in the store, remembering answers so the hot ingest path does not query. Concurrent
 * requests with the same key share one lookup (a burst of first requests would otherwise queue
 * identical queries behind the first write). Unknown keys are not remembered.
 */
export class KeyRing {
  private readonly byWriteKey = new Map<string, Promise<Workspace | null>>();
  private readonly byAdminHash = new Map<string, Promise<Workspace | null>>();

  constructor(private readonly store: Store) {}

  byWrite(writeKey: string): Promise<Workspace | null> {
    // Only keys of newKey's shape exist: anything else is unknown without asking the store (the
    // user of a Basic header decodes to any bytes, and a NUL would make PostgreSQL fail the query).
    if (!writeKeyShape.test(writeKey)) return Promise.resolve(null);
    return this.remembered(this.byWriteKey, writeKey, 'write_key');
  }

  byAdmin(adminKey: string): Promise<Workspace | null> {
    return this.remembered(this.byAdminHash, hashKey(adminKey), 'admin_key_hash');
  }

  private remembered(cache: Map<string, Promise<Workspace | null>>, key: string, column: 'write_key' | 'admin_key_hash') {
    const hit = cache.get(key);
    if (hit) return hit;
    const lookup = this.store
      .query<WorkspaceRow>(`SELECT workspace_id, name, write_key FROM workspaces WHERE ${column} = $1`, [key])
      .then((rows) => (rows[0] ? { workspaceId: rows[0].workspace_id, name: rows[0].name, writeKey: rows[0].write_key } : null));
    cache.set(key, lookup);
    lookup.then(
      (ws) => ws ?? cache.delete(key),
      () => cache.delete(key),
    );
    return lookup;
  }
}
