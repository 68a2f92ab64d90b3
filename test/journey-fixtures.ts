import { DAY, HOUR, VirtualClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import {
  createJourney,
  type InstancePath,
  JourneyEngine,
  journeyDefinitionSchema,
  journeyStats,
  personPath,
  publishJourney,
} from '../src/journeys/index.ts';
import { createSegment, defaultRefresherOptions, type SegmentDefinition, SegmentRefresher } from '../src/segments/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { type Engine, freshStore } from './engines.ts';

/** Journeys start here: Monday 2026-03-02 00:00 UTC. */
export const START = Date.UTC(2026, 2, 2);
export { DAY, HOUR };

let seq = 0;

/**
 * A shop on a virtual clock: named people (their userId), events received "now", a journey
 * engine and a segment refresher ticked by hand. Time moves only when the test says so.
 */
export class Shop {
  readonly clock = new VirtualClock(START);
  readonly keys = new Map<string, number>();
  engine!: JourneyEngine;
  segments!: SegmentRefresher;
  store!: Store;
  ws = 0;
  private disposeStore: () => Promise<void> = async () => {};

  static async open(engine: Engine): Promise<Shop> {
    const shop = new Shop();
    const fresh = await freshStore(engine, shop.clock);
    shop.store = fresh.store;
    shop.disposeStore = fresh.dispose;
    shop.ws = (await createWorkspace(fresh.store, 'shop', START)).workspaceId;
    shop.engine = new JourneyEngine(fresh.store, shop.clock);
    shop.segments = new SegmentRefresher(fresh.store, shop.clock, defaultRefresherOptions);
    return shop;
  }

  dispose(): Promise<void> {
    return this.disposeStore();
  }

  /** Events as the tracking API would store them, received at the current virtual time (`at`: when they happened, default now). */
  async send(events: (Record<string, unknown> & { at?: number })[]): Promise<void> {
    const now = this.clock.now();
    const ctx = { workspaceId: this.ws, receivedAt: now, source: 'api' as const };
    const normalized = events.map(({ at, ...raw }, i) => {
      const timestamp = new Date(at ?? now).toISOString();
      const r = normalizeEvent({ type: 'track', messageId: `m${++seq}`, timestamp, ...raw }, [i], ctx);
      if (!r.ok) throw new Error(`bad test event ${JSON.stringify(raw)}: ${JSON.stringify(r.errors)}`);
      return r.event;
    });
    await writeBatch(this.store, this.ws, normalized, now);
    const rows = await this.store.query<{ value: string; user_key: number }>(
      `SELECT value, user_key FROM identities WHERE workspace_id = $1 AND type = 'user_id'`,
      [this.ws],
    );
    for (const r of rows) this.keys.set(r.value, Number(r.user_key));
  }

  track(userId: string, event: string, properties: Record<string, unknown> = {}, at?: number): Promise<void> {
    return this.send([{ userId, event, properties, at }]);
  }

  /** The outbox row a person got from a node (the latest, if several). */
  async outboxRow(journeyId: number, userId: string, nodeId: string): Promise<{ message_key: string; payload: Record<string, unknown> }> {
    const rows = await this.store.query<{ message_key: string; payload: unknown }>(
      `SELECT message_key, payload FROM outbox WHERE workspace_id = $1 AND journey_id = $2 AND user_key = $3 AND node_id = $4 ORDER BY created_at DESC`,
      [this.ws, journeyId, this.key(userId), nodeId],
    );
    const row = rows[0];
    if (!row) throw new Error(`${userId} got nothing from ${nodeId}`);
    return {
      message_key: row.message_key,
      payload: (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Record<string, unknown>,
    };
  }

  identify(userId: string, traits: Record<string, unknown>): Promise<void> {
    return this.send([{ type: 'identify', userId, traits }]);
  }

  key(userId: string): number {
    const k = this.keys.get(userId);
    if (k === undefined) throw new Error(`no person ${userId}`);
    return k;
  }

  async segment(name: string, definition: SegmentDefinition): Promise<number> {
    const s = await createSegment(this.store, this.ws, { name, definition, refresh: { mode: 'realtime' } } as never, this.clock.now());
    await this.segments.refreshOne(this.ws, s.segmentId);
    return s.segmentId;
  }

  /** Creates and publishes a journey (the definition goes through the schema, as from the API). */
  async journey(name: string, definition: unknown): Promise<number> {
    const j = await createJourney(this.store, this.ws, { name, definition: journeyDefinitionSchema.parse(definition) }, this.clock.now());
    await publishJourney(this.store, this.ws, j.journeyId, this.clock.now());
    return j.journeyId;
  }

  /** One round of background work: segments, then journeys. */
  async tick(): Promise<void> {
    await this.segments.tickWorkspace(this.ws);
    await this.engine.tickWorkspace(this.ws);
  }

  /** Moves the clock forward in steps (ticking at each), like a server running that long. */
  async advance(ms: number, step = HOUR): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.set(Math.min(end, this.clock.now() + step));
      await this.tick();
    }
  }

  async path(journeyId: number, userId: string): Promise<InstancePath[]> {
    return personPath(this.store, this.ws, journeyId, this.key(userId));
  }

  stats(journeyId: number) {
    return journeyStats(this.store, this.ws, journeyId);
  }

  /** What a person was sent by a journey, as "node:template-or-action" in order. */
  async sent(journeyId: number, userId: string): Promise<string[]> {
    const rows = await this.store.query<{
      node_id: string;
      action: string;
      template: string | null;
      message_key: string;
      created_at: number;
      instance_id: number;
    }>(
      `SELECT node_id, action, template, message_key, created_at, instance_id FROM outbox WHERE workspace_id = $1 AND journey_id = $2 AND user_key = $3`,
      [this.ws, journeyId, this.key(userId)],
    );
    // In time order, then by instance, then step (the message key ends with the step number, ".s3").
    const step = (key: string) => Number(key.slice(key.lastIndexOf('.s') + 2));
    rows.sort(
      (a, b) =>
        Number(a.created_at) - Number(b.created_at) ||
        Number(a.instance_id) - Number(b.instance_id) ||
        step(a.message_key) - step(b.message_key),
    );
    return rows.map((r) => `${r.node_id}:${r.template ?? r.action}`);
  }
}
