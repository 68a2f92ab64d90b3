import type { SqlExecutor } from './port.ts';

/**
 * identity → person key, remembered in memory by a store that has a single writing process
 * (DuckDB), so ingestion skips the identities lookup for people it has seen. DuckDB is a column
 * store: looking 5,000 identities up means scanning the identities table, which was the largest
 * cost of a batch. PostgreSQL has no cache: other processes may merge people at any time.
 *
 * Entries are written only after the transaction that created them commits. A merge adds a
 * redirect (merged person → survivor) instead of rewriting entries.
 *
 * While every stored identity fits (`maxEntries`), the cache is loaded whole when the store opens
 * and is *complete*: a miss then means "new identity" and needs no query at all. Past that size
 * it evicts and becomes an ordinary cache in front of the lookup query.
 */
export class IdentityCache {
  private readonly byWorkspace = new Map<number, Map<string, number>>();
  private readonly redirects = new Map<number, number>();
  /** The user_id each person holds (null: none), so merge decisions need no query. */
  private readonly userIds = new Map<number, string | null>();
  private entries = 0;
  /** True while the cache holds every stored identity. */
  complete = false;
  /** Whether `warm` ran (a store opened without warmCaches never loads it). */
  private loaded = false;

  constructor(private readonly maxEntries: number) {}

  /** Loads every identity if they all fit; otherwise stays empty and incomplete. Called when the store opens. */
  async warm(db: SqlExecutor): Promise<void> {
    this.loaded = true;
    this.byWorkspace.clear();
    this.redirects.clear();
    this.userIds.clear();
    this.entries = 0;
    this.complete = false;
    const [count] = await db.query<{ n: number }>('SELECT count(*) AS n FROM identities');
    if (Number(count!.n) > this.maxEntries) return;
    const rows = await db.query<{ workspace_id: number; type: string; value: string; user_key: number }>(
      'SELECT workspace_id, type, value, user_key FROM identities',
    );
    for (const r of rows) {
      this.set(r.workspace_id, `${r.type}\u0000${r.value}`, r.user_key);
      if (r.type === 'user_id') this.setUserId(r.user_key, r.value);
    }
    this.complete = true;
  }

  /**
   * After a bulk import wrote identities and merges behind the cache's back: reloading is simpler
   * than replaying them. A cache never loaded stays empty.
   */
  async reload(db: SqlExecutor): Promise<void> {
    if (this.loaded) await this.warm(db);
  }

  get(workspaceId: number, identity: string): number | undefined {
    let key = this.byWorkspace.get(workspaceId)?.get(identity);
    if (key === undefined) return undefined;
    for (let next = this.redirects.get(key); next !== undefined; next = this.redirects.get(key)) key = next;
    return key;
  }

  set(workspaceId: number, identity: string, userKey: number): void {
    let keys = this.byWorkspace.get(workspaceId);
    if (!keys) {
      keys = new Map();
      this.byWorkspace.set(workspaceId, keys);
    }
    if (keys.get(identity) === userKey) return;
    if (this.entries >= this.maxEntries) this.evictOldest();
    if (!keys.has(identity)) this.entries++;
    keys.set(identity, userKey);
  }

  redirect(from: number, into: number): void {
    this.redirects.set(from, into);
    this.userIds.delete(from);
  }

  userIdOf(userKey: number): string | null | undefined {
    return this.userIds.get(userKey);
  }

  setUserId(userKey: number, userId: string | null): void {
    if (this.userIds.size >= this.maxEntries) this.userIds.clear();
    this.userIds.set(userKey, userId);
  }

  get size(): number {
    return this.entries;
  }

  /** Drops the oldest tenth (a Map keeps insertion order), so a hot working set stays cached. */
  private evictOldest(): void {
    this.complete = false;
    let n = Math.ceil(this.maxEntries / 10);
    for (const keys of this.byWorkspace.values()) {
      for (const k of keys.keys()) {
        if (n-- <= 0) return;
        keys.delete(k);
        this.entries--;
      }
    }
  }
}
