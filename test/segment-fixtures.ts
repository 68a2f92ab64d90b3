import { DAY, HOUR, VirtualClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { compileSegment, type SegmentDefinition, segmentDefinitionSchema } from '../src/segments/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { type Engine, freshStore } from './engines.ts';

/**
 * Small hand-made worlds for segment scenarios: people named A, B, C… (their `userId`, or their
 * `anonymousId` for anonymous people), events at exact virtual times, and the member set of a
 * definition as sorted names. Each world is its own workspace, so scenarios never see each other.
 */

/** Evaluation time of every scenario: 2026-03-01 12:00 UTC. */
export const NOW = Date.UTC(2026, 2, 1, 12);
export const ago = (ms: number) => NOW - ms;
export const daysAgo = (d: number) => NOW - d * DAY;
export const hoursAgo = (h: number) => NOW - h * HOUR;

export interface Raw {
  type?: 'track' | 'identify' | 'alias';
  userId?: string;
  anonymousId?: string;
  previousId?: string;
  event?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  /** Epoch ms; default NOW. */
  at?: number;
}

export interface TestStore {
  store: Store;
  clock: VirtualClock;
  world(name: string): Promise<World>;
  dispose(): Promise<void>;
}

export async function openTestStore(engine: Engine): Promise<TestStore> {
  const clock = new VirtualClock(NOW);
  const fresh = await freshStore(engine, clock);
  return {
    store: fresh.store,
    clock,
    world: async (name) => new World(fresh.store, (await createWorkspace(fresh.store, name, NOW)).workspaceId),
    dispose: fresh.dispose,
  };
}

let messageSeq = 0;

export class World {
  /** Person name → the key it was first given (kept after a merge, to check the merged-away person). */
  readonly keys = new Map<string, number>();
  readonly names = new Map<number, string>();

  constructor(
    readonly store: Store,
    readonly ws: number,
  ) {}

  /** Writes the events as one batch (one transaction), then learns the keys of new names. */
  async send(events: readonly Raw[]): Promise<void> {
    const ctx = { workspaceId: this.ws, receivedAt: NOW, source: 'api' as const };
    const normalized = events.map((e, i) => {
      const { at, ...rest } = e;
      const raw = { type: 'track', ...rest, messageId: `m-${this.ws}-${++messageSeq}`, timestamp: new Date(at ?? NOW).toISOString() };
      const r = normalizeEvent(raw, [i], ctx);
      if (!r.ok) throw new Error(`invalid test event ${JSON.stringify(raw)}: ${JSON.stringify(r.errors)}`);
      return r.event;
    });
    await writeBatch(this.store, this.ws, normalized, NOW);
    const rows = await this.store.query<{ value: string; user_key: number }>(
      `SELECT value, user_key FROM identities WHERE workspace_id = $1 AND type IN ('user_id', 'anonymous_id')`,
      [this.ws],
    );
    for (const r of rows) {
      if (this.keys.has(r.value)) continue;
      this.keys.set(r.value, Number(r.user_key));
      this.names.set(Number(r.user_key), r.value);
    }
  }

  /** `track` events of named (userId) people. */
  track(...events: [person: string, event: string, properties: Record<string, unknown>, at: number][]): Promise<void> {
    return this.send(events.map(([userId, event, properties, at]) => ({ userId, event, properties, at })));
  }

  /** One identify per person, with traits. */
  identify(people: Record<string, Record<string, unknown>>): Promise<void> {
    return this.send(Object.entries(people).map(([userId, traits]) => ({ type: 'identify', userId, traits })));
  }

  key(name: string): number {
    const k = this.keys.get(name);
    if (k === undefined) throw new Error(`no person ${name}`);
    return k;
  }

  /** Every person's name (merged-away people included), sorted. */
  everyone(): string[] {
    return [...this.keys.keys()].sort();
  }

  /** Validates the definition with the schema (so scenario definitions are real ones), compiles and runs it. */
  async members(definition: SegmentDefinition, now = NOW): Promise<string[]> {
    const def = segmentDefinitionSchema.parse(definition);
    const compiled = compileSegment(def, { dialect: this.store.dialect, workspaceId: this.ws, now });
    const rows = await this.store.query<{ user_key: number }>(compiled.sql, compiled.params);
    return rows.map((r) => this.names.get(Number(r.user_key)) ?? `#${r.user_key}`).sort();
  }
}

/** Inserts a computed_traits row (the columns not given are NULL, or the NOT NULL defaults). */
export async function putComputedTraits(w: World, person: string, values: Record<string, string | number | null>): Promise<void> {
  const row: Record<string, string | number | null> = { order_count: 0, total_spend: 0, lifecycle: 'new', computed_at: NOW, ...values };
  const cols = Object.keys(row);
  await w.store.query(
    `INSERT INTO computed_traits (workspace_id, user_key, ${cols.join(', ')}) VALUES ($1, $2, ${cols.map((_, i) => `$${i + 3}`).join(', ')})`,
    [w.ws, w.key(person), ...Object.values(row)],
  );
}

/** Inserts a customer_predictions row. */
export async function putPrediction(w: World, person: string, values: Record<string, number | null>): Promise<void> {
  const row: Record<string, number | null> = {
    repeat_purchases: 0,
    recency_days: 0,
    age_days: 0,
    p_alive: 0,
    expected_purchases_30d: 0,
    expected_purchases_90d: 0,
    computed_at: NOW,
    ...values,
  };
  const cols = Object.keys(row);
  await w.store.query(
    `INSERT INTO customer_predictions (workspace_id, user_key, ${cols.join(', ')}) VALUES ($1, $2, ${cols.map((_, i) => `$${i + 3}`).join(', ')})`,
    [w.ws, w.key(person), ...Object.values(row)],
  );
}
