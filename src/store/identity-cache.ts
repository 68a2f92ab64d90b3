/**
 * identity → person key, remembered in memory by a store that has a single writing process
 * (DuckDB), so ingestion skips the identities lookup for people it has seen. DuckDB is a column
 * store: looking 5,000 identities up means scanning the identities table, which was the largest
 * cost of a batch. PostgreSQL has no cache: other processes may merge people at any time.
 *
 * Entries are written only after the transaction that created them commits. A merge adds a
 * redirect (merged person → survivor) instead of rewriting entries.
 */
export class IdentityCache {
  private readonly byWorkspace = new Map<number, Map<string, number>>();
  private readonly redirects = new Map<number, number>();
  /** The user_id each person holds (null: none), so merge decisions need no query. */
  private readonly userIds = new Map<number, string | null>();
  private entries = 0;

  constructor(private readonly maxEntries: number) {}

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
