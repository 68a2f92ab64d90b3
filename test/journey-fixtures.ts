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
import { Dispatcher } from '../src/messaging/index.ts';
import { createSegment, defaultRefresherOptions, type SegmentDefinition, SegmentRefresher } from '../src/segments/index.ts';
import type { Row, SqlParam, Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { type Engine, freshStore } from './engines.ts';
import { addMissingTemplates } from './template-fixtures.ts';

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
  dispatcher!: Dispatcher;
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
    // Local mock providers listen on loopback; a real deployment keeps the guard on.
    shop.dispatcher = new Dispatcher(fresh.store, shop.clock, {
      publicUrl: 'https://shop.test',
      outbound: { allowPrivateNetworks: true, timeoutMs: 1_000 },
    });
    return shop;
  }

  async dispose(): Promise<void> {
    await this.dispatcher.stop();
    await this.disposeStore();
  }

  /** Delivers what is due now (the dispatcher's background tick, by hand). */
  dispatch(): Promise<number> {
    return this.dispatcher.tick();
  }

  /** Outbox rows of a person, oldest first, with their delivery state. */
  async messages(userId: string): Promise<
    {
      message_key: string;
      node_id: string;
      status: string;
      channel: string | null;
      reason: string | null;
      attempts: number;
      content: Record<string, unknown> | null;
      address: string | null;
      provider: string | null;
    }[]
  > {
    const rows = await this.store.query<Record<string, unknown>>(
      `SELECT message_key, node_id, status, channel, reason, attempts, content, address, provider FROM outbox
       WHERE workspace_id = $1 AND user_key = $2 AND action <> 'coupon' ORDER BY created_at, instance_id, message_key`,
      [this.ws, this.key(userId)],
    );
    return rows.map((r) => ({
      message_key: String(r.message_key),
      node_id: String(r.node_id),
      status: String(r.status),
      channel: (r.channel as string | null) ?? null,
      reason: (r.reason as string | null) ?? null,
      attempts: Number(r.attempts ?? 0),
      content: typeof r.content === 'string' ? JSON.parse(r.content) : ((r.content as Record<string, unknown> | null) ?? null),
      address: (r.address as string | null) ?? null,
      provider: (r.provider as string | null) ?? null,
    }));
  }

  /** Events of a kind a person has, with their properties. */
  async eventsOf(userId: string, event: string): Promise<Record<string, unknown>[]> {
    const rows = await this.store.query<{ properties: unknown }>(
      'SELECT properties FROM events WHERE workspace_id = $1 AND user_key = $2 AND event = $3 ORDER BY ts, message_id',
      [this.ws, this.key(userId), event],
    );
    return rows.map((r) => (typeof r.properties === 'string' ? JSON.parse(r.properties) : r.properties) as Record<string, unknown>);
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

  /**
   * Creates and publishes a journey (the definition goes through the schema, as from the API),
   * with a plain template for each one it sends that the test did not create.
   */
  async journey(name: string, definition: unknown): Promise<number> {
    await addMissingTemplates(this.store, this.ws, definition, this.clock.now());
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

/**
 * A process dying half-way through a journey step: the first transaction that writes the
 * `Journey Step` events of a step after node "again" queued its outbox rows throws, once, as a
 * killed process would (the transaction rolls back). `restore()` puts the store back and says how
 * many transactions were killed.
 */
export function killAtSecondStepEvents(store: Store): { restore(): number } {
  const original = store.session.bind(store);
  let failures = 0;
  store.session = ((fn: Parameters<typeof original>[0]) =>
    original((session) => {
      const transaction = session.transaction.bind(session);
      session.transaction = (body) =>
        transaction((tx) =>
          body({
            append: tx.append.bind(tx),
            execute: tx.execute.bind(tx),
            async query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
              if (failures === 0 && sql.startsWith('INSERT INTO events') && params?.includes('Journey Step')) {
                const [again] = await tx.query<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE node_id = 'again'");
                if (Number(again!.n) > 0) {
                  failures++;
                  throw new Error('process killed');
                }
              }
              return tx.query<T>(sql, params);
            },
          }),
        );
      return fn(session);
    })) as typeof original;
  return {
    restore() {
      store.session = original;
      return failures;
    },
  };
}
