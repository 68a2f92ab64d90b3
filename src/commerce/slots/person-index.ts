import type { Clock } from '../../core/clock.ts';
import type { IdentityType } from '../../core/identities.ts';
import type { Store } from '../../store/index.ts';

export interface PersonIndexOptions {
  /** Identities held in memory (about 80 bytes each); past it, the index becomes a plain cache. */
  maxEntries: number;
  /** Rows read per query while warming, so the event loop is never blocked for long. */
  chunk: number;
  /** A workspace's index is rebuilt from the identities table this often (see `sync`). */
  rebuildMs: number;
}

export const defaultPersonIndexOptions: PersonIndexOptions = { maxEntries: 4_000_000, chunk: 50_000, rebuildMs: 10 * 60_000 };

/**
 * Each sync reads merges stamped after the previous sync's start minus this: `merged_at` is taken
 * (on the writer's clock) when its batch starts, and the batch commits a little later.
 */
const OVERLAP_MS = 10_000;
/** A flood of made-up ids between two syncs must not grow memory without bound. */
const MAX_UNKNOWN = 100_000;

/** The identity types a decide names a person by. */
const TYPES = ['user_id', 'anonymous_id'] as const;

interface WorkspaceIndex {
  known: Map<string, number>;
  /** Merged-away person → survivor, for keys read before the merge. */
  redirects: Map<number, number>;
  /** Identities found nowhere: cleared wholesale at each sync (never scanned). */
  unknown: Set<string>;
  /** When the last merges read started, and when the index was (re)built (clock time). */
  mergesSeen: number;
  builtAt: number;
  warming: Promise<void> | null;
  /** Every identity stored when it was read is held (it fitted and nothing was evicted since). */
  loaded: boolean;
  /** Identities being looked up in the background. */
  pending: Set<string>;
}

/**
 * identity → person key for the decide path, answered from memory:
 * - DuckDB: the store's own identity cache, which the single writing process keeps current and,
 *   while every identity fits, complete;
 * - otherwise (PostgreSQL, several processes writing): this index. It loads the workspace's user
 *   and anonymous ids when they fit (past `maxEntries` it is a cache of the most recent), and
 *   follows merges every sync (a second) by `merged_at`. An identity it does not hold costs one
 *   indexed lookup (`resolve`, or `resolveLater` in the background once the index is loaded),
 *   whose answer is remembered — "nobody" only until the next sync, as the person may be created
 *   any moment by another process. (Following new identities by `created_at` instead would miss
 *   a bulk import's, stamped when the import starts and committed minutes later; for the same
 *   reason a merge made by a bulk import may be missed by the merge window, so every
 *   `rebuildMs` the workspace's index is read afresh in the background and swapped in.)
 */
export class PersonIndex {
  private readonly workspaces = new Map<number, WorkspaceIndex>();
  private entries = 0;
  /** Entries of an index being rebuilt: they leave when the fresh one is swapped in. */
  private replacing = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: PersonIndexOptions = defaultPersonIndexOptions,
  ) {}

  /** A number: the person; null: nobody (for now); undefined: not in memory, ask `resolve`. */
  lookup(workspaceId: number, type: IdentityType, value: string): number | null | undefined {
    const identity = `${type}\u0000${value}`;
    const shared = this.store.identityCache;
    if (shared) {
      const key = shared.get(workspaceId, identity);
      if (key !== undefined) return key;
      if (shared.complete) return null;
    }
    const ws = this.workspaces.get(workspaceId);
    if (!ws) return undefined;
    const key = ws.known.get(identity);
    if (key !== undefined) return follow(ws.redirects, key);
    return ws.unknown.has(identity) ? null : undefined;
  }

  /** True once the workspace's identities are all held: a miss is then most likely a new visitor. */
  loaded(workspaceId: number): boolean {
    return this.store.identityCache?.complete === true || this.workspaces.get(workspaceId)?.loaded === true;
  }

  /** `resolve` in the background, once per identity at a time; the next lookup has the answer. */
  resolveLater(workspaceId: number, type: IdentityType, value: string): void {
    const ws = this.workspace(workspaceId);
    const identity = `${type}\u0000${value}`;
    if (ws.pending.has(identity) || ws.pending.size >= MAX_UNKNOWN) return;
    ws.pending.add(identity);
    void this.resolve(workspaceId, type, value)
      .catch(() => {})
      .finally(() => ws.pending.delete(identity));
  }

  /** The cold path: one indexed lookup, remembered. */
  async resolve(workspaceId: number, type: IdentityType, value: string): Promise<number | null> {
    const [row] = await this.store.query<{ user_key: number }>(
      'SELECT user_key FROM identities WHERE workspace_id = $1 AND type = $2 AND value = $3',
      [workspaceId, type, value],
    );
    const ws = this.workspace(workspaceId);
    const identity = `${type}\u0000${value}`;
    if (!row) {
      if (ws.unknown.size >= MAX_UNKNOWN) ws.unknown.clear();
      ws.unknown.add(identity);
      return null;
    }
    this.remember(ws, identity, Number(row.user_key));
    return Number(row.user_key);
  }

  /**
   * Loads the workspace's user and anonymous ids if they fit (nothing to do on DuckDB while the
   * store's own cache is complete). Until it is done, misses go to `resolve`.
   */
  warm(workspaceId: number): Promise<void> {
    const ws = this.workspace(workspaceId);
    ws.warming ??= this.warmNow(ws, workspaceId).finally(() => {
      ws.warming = null;
    });
    return ws.warming;
  }

  private async warmNow(ws: WorkspaceIndex, workspaceId: number): Promise<void> {
    if (this.store.identityCache?.complete) return;
    const [c] = await this.store.query<{ n: number }>(
      `SELECT count(*) AS n FROM identities WHERE workspace_id = $1 AND type IN ('user_id', 'anonymous_id')`,
      [workspaceId],
    );
    if (this.entries - this.replacing - ws.known.size + Number(c?.n ?? 0) > this.options.maxEntries) return;
    // Keyset pages over the primary key (workspace_id, type, value): an index range scan each on PostgreSQL.
    for (const type of TYPES) {
      for (let after = ''; ; ) {
        const rows = await this.store.query<{ value: string; user_key: number }>(
          `SELECT value, user_key FROM identities WHERE workspace_id = $1 AND type = $2 AND value > $3 ORDER BY value LIMIT ${this.options.chunk}`,
          [workspaceId, type, after],
        );
        for (const r of rows) this.remember(ws, `${type}\u0000${r.value}`, Number(r.user_key));
        if (rows.length < this.options.chunk) break;
        after = rows[rows.length - 1]!.value;
      }
    }
    ws.loaded = this.entries - this.replacing <= this.options.maxEntries;
  }

  /** Forgets "nobody" answers and follows merges made since the last sync; rebuilds when due. */
  async sync(workspaceId: number): Promise<void> {
    const ws = this.workspaces.get(workspaceId);
    if (!ws) return;
    ws.unknown.clear();
    if (this.store.identityCache?.complete) return;
    const startedAt = this.clock.now();
    if (startedAt - ws.builtAt >= this.options.rebuildMs && !ws.warming) {
      void this.rebuild(workspaceId, ws).catch(() => {});
      return;
    }
    const merges = await this.store.query<{ from_user_key: number; into_user_key: number }>(
      'SELECT from_user_key, into_user_key FROM identity_merges WHERE workspace_id = $1 AND merged_at > $2',
      [workspaceId, ws.mergesSeen - OVERLAP_MS],
    );
    for (const m of merges) {
      if (Number(m.from_user_key) !== Number(m.into_user_key)) ws.redirects.set(Number(m.from_user_key), Number(m.into_user_key));
    }
    ws.mergesSeen = startedAt;
  }

  /** A fresh index read in the background; the old one answers until it is swapped in. */
  private async rebuild(workspaceId: number, old: WorkspaceIndex): Promise<void> {
    old.builtAt = this.clock.now();
    const fresh = this.newIndex();
    this.replacing = old.known.size;
    try {
      fresh.warming = this.warmNow(fresh, workspaceId);
      await fresh.warming;
      fresh.warming = null;
      // Merges made while the pages were read: the next sync reads them (fresh.mergesSeen is the start).
      this.entries -= old.known.size;
      this.workspaces.set(workspaceId, fresh);
    } catch (err) {
      this.entries -= fresh.known.size;
      throw err;
    } finally {
      this.replacing = 0;
    }
  }

  get size(): number {
    return this.entries;
  }

  private workspace(workspaceId: number): WorkspaceIndex {
    let ws = this.workspaces.get(workspaceId);
    if (!ws) {
      ws = this.newIndex();
      this.workspaces.set(workspaceId, ws);
    }
    return ws;
  }

  private newIndex(): WorkspaceIndex {
    const now = this.clock.now();
    // Keys read from now on already reflect earlier merges: only later ones need following.
    return {
      known: new Map(),
      redirects: new Map(),
      unknown: new Set(),
      mergesSeen: now,
      builtAt: now,
      warming: null,
      loaded: false,
      pending: new Set(),
    };
  }

  private remember(ws: WorkspaceIndex, identity: string, key: number): void {
    if (!ws.known.has(identity)) {
      if (this.entries - this.replacing >= this.options.maxEntries) this.evictOldest(ws);
      this.entries++;
    }
    ws.known.set(identity, key);
  }

  /** Drops the oldest tenth of this workspace's entries (a Map keeps insertion order). */
  private evictOldest(ws: WorkspaceIndex): void {
    ws.loaded = false;
    let n = Math.ceil(this.options.maxEntries / 10);
    for (const identity of ws.known.keys()) {
      if (n-- <= 0 || this.entries === 0) return;
      ws.known.delete(identity);
      this.entries--;
    }
  }
}

function follow(redirects: Map<number, number>, key: number): number {
  for (let next = redirects.get(key); next !== undefined; next = redirects.get(key)) key = next;
  return key;
}
