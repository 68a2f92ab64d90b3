import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import type { IdentityType } from '../../core/identities.ts';
import { startTicker, type Ticker } from '../../core/ticker.ts';
import type { Store } from '../../store/index.ts';
import { type Asker, choose, visitorBucketKey } from './choose.ts';
import { defaultPersonIndexOptions, PersonIndex, type PersonIndexOptions } from './person-index.ts';
import type { Decision } from './schema.ts';
import { workspacesWithSlots } from './slots-repo.ts';
import { type SyncResult, WorkspaceSlots } from './workspace-slots.ts';

export interface Who {
  userId?: string | undefined;
  anonymousId?: string | undefined;
}

export interface DeciderOptions {
  persons: PersonIndexOptions;
}

/**
 * Answers "what does this person see in slot Y?" from memory. A workspace is loaded on its first
 * decide (or when the server starts, for workspaces that have slots) and then kept current by a
 * sync every second — slot edits made by other processes, segment refreshes, merges — and at
 * once after an edit through this process. A decide is a map lookup for the person, a bitmap probe
 * per targeted segment and a hash for splits: no query (see `decide` for identities not held).
 */
export class SlotDecider {
  private readonly workspaces = new Map<number, WorkspaceSlots>();
  private readonly loading = new Map<number, Promise<WorkspaceSlots>>();
  private readonly persons: PersonIndex;
  private readonly warming = new Set<Promise<unknown>>();
  private ticker: Ticker | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    options: DeciderOptions = { persons: defaultPersonIndexOptions },
  ) {
    this.persons = new PersonIndex(store, clock, options.persons);
  }

  /**
   * The decision, from memory once the workspace is loaded. An identity the memory does not hold
   * (on PostgreSQL: created by another process since the load) is looked up before answering
   * while the identities are still loading, or when `exact` (the operator's preview); otherwise
   * the request is answered as for an unknown visitor and the lookup runs in the background, so
   * no decide waits for the database — the person's next decide has their key.
   */
  async decide(workspaceId: number, slotName: string, who: Who, exact = false): Promise<Decision> {
    const ws = this.workspaces.get(workspaceId) ?? (await this.load(workspaceId));
    const slot = ws.slots.get(slotName);
    if (!slot) throw new AppError('not_found', `no slot "${slotName}"`, 'slot');
    let asker = this.asker(workspaceId, who);
    if (asker === undefined) {
      asker = !exact && this.persons.loaded(workspaceId) ? this.askLater(workspaceId, who) : await this.resolveAsker(workspaceId, who);
    }
    const choice = choose(slot, asker, ws.members, this.clock.now());
    const decisionId = randomUUID();
    return { slot: slotName, ...choice, decisionId, track: { slot: slotName, variant: choice.variant, decision_id: decisionId } };
  }

  /** Brings one loaded workspace up to date now (after an edit); null when it is not loaded (its first decide loads it). */
  async refresh(workspaceId: number): Promise<SyncResult | null> {
    const ws = this.workspaces.get(workspaceId);
    if (!ws) return null;
    return ws.sync();
  }

  /** Syncs every loaded workspace: what the background ticker runs every second. */
  async sync(): Promise<SyncResult[]> {
    const results: SyncResult[] = [];
    for (const [id, ws] of this.workspaces) {
      await this.persons.sync(id);
      results.push(await ws.sync());
    }
    return results;
  }

  /** Loads the workspaces that have slots, then syncs every `intervalMs`. */
  start(intervalMs: number, log: (err: unknown) => void): void {
    const preload = workspacesWithSlots(this.store)
      .then((ids) => Promise.all(ids.map((id) => this.load(id))))
      .catch(log);
    this.track(preload);
    this.ticker = startTicker(() => this.sync(), intervalMs, log);
  }

  async stop(): Promise<void> {
    await this.ticker?.stop();
    this.ticker = null;
    await Promise.allSettled([...this.warming]);
  }

  /** Identities held by the person index and bytes of membership bitmaps (benchmark figures). */
  stats(): { identities: number; bitmapBytes: number } {
    let bitmapBytes = 0;
    for (const ws of this.workspaces.values()) bitmapBytes += ws.memoryBytes;
    return { identities: this.persons.size, bitmapBytes };
  }

  /** Loads a workspace once; concurrent first decides share the load. */
  load(workspaceId: number): Promise<WorkspaceSlots> {
    const loaded = this.workspaces.get(workspaceId);
    if (loaded) return Promise.resolve(loaded);
    let pending = this.loading.get(workspaceId);
    if (!pending) {
      const ws = new WorkspaceSlots(this.store, workspaceId);
      pending = ws
        .sync()
        .then(() => {
          this.workspaces.set(workspaceId, ws);
          // Identities load in the background: until then a decide for someone not held yet waits for one indexed query.
          this.track(this.persons.warm(workspaceId).catch(() => {}));
          return ws;
        })
        .finally(() => this.loading.delete(workspaceId));
      this.loading.set(workspaceId, pending);
    }
    return pending;
  }

  /** Warms the identities of a loaded workspace and waits for it (benchmarks and tests). */
  async warmPersons(workspaceId: number): Promise<void> {
    await this.load(workspaceId);
    await this.persons.warm(workspaceId);
  }

  private track(p: Promise<unknown>): void {
    this.warming.add(p);
    void p.finally(() => this.warming.delete(p));
  }

  /** From memory; undefined when an identity must be looked up first. The user id wins over the anonymous id. */
  private asker(workspaceId: number, who: Who): Asker | undefined {
    for (const [type, value] of identitiesOf(who)) {
      const key = this.persons.lookup(workspaceId, type, value);
      if (key === undefined) return undefined;
      if (key !== null) return { userKey: key, bucketKey: key };
    }
    return visitor(who);
  }

  /** From memory, treating identities it does not hold as nobody while they are looked up in the background. */
  private askLater(workspaceId: number, who: Who): Asker {
    for (const [type, value] of identitiesOf(who)) {
      const key = this.persons.lookup(workspaceId, type, value);
      if (key === undefined) this.persons.resolveLater(workspaceId, type, value);
      else if (key !== null) return { userKey: key, bucketKey: key };
    }
    return visitor(who);
  }

  private async resolveAsker(workspaceId: number, who: Who): Promise<Asker> {
    for (const [type, value] of identitiesOf(who)) {
      const known = this.persons.lookup(workspaceId, type, value);
      const key = known === undefined ? await this.persons.resolve(workspaceId, type, value) : known;
      if (key !== null) return { userKey: key, bucketKey: key };
    }
    return visitor(who);
  }
}

function identitiesOf(who: Who): [IdentityType, string][] {
  const out: [IdentityType, string][] = [];
  if (who.userId !== undefined) out.push(['user_id', who.userId]);
  if (who.anonymousId !== undefined) out.push(['anonymous_id', who.anonymousId]);
  return out;
}

/** Someone the store does not know (yet): no segment holds them; their split is stable per id. */
function visitor(who: Who): Asker {
  return { userKey: null, bucketKey: visitorBucketKey(who.userId ?? who.anonymousId ?? '') };
}
