import type { Clock } from '../../core/clock.ts';
import { serialQueue } from '../../core/serial-queue.ts';
import { startTicker, type Ticker } from '../../core/ticker.ts';
import { advisoryLock, SettledEvents, type SqlExecutor, type Store, whileLocked } from '../../store/index.ts';
import { earnFromOrders } from './earn.ts';
import { expireFallenDue } from './expiry.ts';
import { joinFromEvents } from './join.ts';
import { leaveFromEvents } from './leave.ts';
import { followMerges } from './merges.ts';
import { clawBackRefunds } from './refunds.ts';
import { getMembershipSettings } from './settings.ts';
import { evaluateTiers } from './tiers.ts';
import { syncMemberTraits } from './traits-sync.ts';

export interface MemberJobOptions {
  /**
   * New events are read by `received_at` after the last watermark minus this overlap, so an
   * event whose batch committed just after a read (with a slightly earlier received_at) is still
   * seen. Reading an event twice is harmless: joins and order credits are idempotent.
   */
  overlapMs: number;
  /** Every member's tier is re-evaluated this often (periods slide, so tiers also fall). */
  tiersEveryMs: number;
  /**
   * A safety net for points: this often, joins and orders are re-read over `reconcileWindowMs`
   * instead of since the watermark, so an event stored late (a stalled batch, a restored backup)
   * still earns. Cheap: whatever already earned is skipped by its ledger key.
   */
  reconcileEveryMs: number;
  reconcileWindowMs: number;
  /**
   * DuckDB (this process is the only writer): the receive time of the oldest event accepted but
   * not yet committed (`IngestBuffer.oldestPending`); the watermark never passes it.
   */
  pendingSince?: () => number | null;
  /** PostgreSQL: how long a tick waits for an event write in progress to learn what is committed (SettledEvents; default 5 s). */
  settleWaitMs?: number;
}

export const defaultMemberJobOptions: MemberJobOptions = {
  overlapMs: 10_000,
  tiersEveryMs: 3_600_000,
  reconcileEveryMs: 24 * 3_600_000,
  reconcileWindowMs: 7 * 24 * 3_600_000,
};

export interface MemberTick {
  workspaceId: number;
  /** Merged-away people whose membership moved to their survivor. */
  merged: number;
  joined: number;
  left: number;
  earned: { orders: number; people: number; points: number };
  /** Points taken back by `Order Refunded` events. */
  refunded: { refunds: number; points: number };
  expired: { lots: number; people: number; points: number };
  tiers: { mode: 'full' | 'incremental' | 'none'; changed: number };
  traitsSynced: number;
}

const jobs = { events: 'members_events', expiry: 'members_expiry', tiers: 'members_tiers', reconcile: 'members_reconcile' } as const;
type Job = (typeof jobs)[keyof typeof jobs];

/** Ticks of one store in this process run one at a time (an API "refresh now" and the background loop). */
const ticks = serialQueue();

/**
 * The membership programme's background work, per workspace, in this order:
 * 1. membership of people merged away moves to their survivor;
 * 2. `Member Joined` events make members, `Member Left` events end memberships;
 * 3. `Order Completed` events of members earn points (with tier and campaign multipliers), and
 *    `Order Refunded` events take them back;
 * 4. points whose expiry fell due expire (FIFO);
 * 5. tiers: the people touched above, and everyone every `tiersEveryMs`;
 * 6. member traits are mirrored onto profiles for segments and templates.
 * Cursors live in `job_state`, so a restart continues where it stopped. On PostgreSQL a session
 * advisory lock per workspace lets one process at a time tick it.
 */
export class MemberJobs {
  private ticker: Ticker | null = null;
  private readonly options: MemberJobOptions;
  private readonly settled: SettledEvents;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    options: Partial<MemberJobOptions> = {},
  ) {
    this.options = { ...defaultMemberJobOptions, ...options };
    this.settled = new SettledEvents(store, clock, this.options.overlapMs, this.options.settleWaitMs);
  }

  async tick(): Promise<MemberTick[]> {
    const workspaces = await this.store.query<{ workspace_id: number }>('SELECT workspace_id FROM workspaces ORDER BY workspace_id');
    const out: MemberTick[] = [];
    for (const w of workspaces) out.push(await this.tickWorkspace(Number(w.workspace_id)));
    return out;
  }

  tickWorkspace(workspaceId: number): Promise<MemberTick> {
    return ticks(this.store, () => this.withWorkspaceLock(workspaceId, () => this.run(workspaceId)));
  }

  private async run(workspaceId: number): Promise<MemberTick> {
    const now = this.clock.now();
    const state = await jobState(this.store, workspaceId);
    const settings = await getMembershipSettings(this.store, workspaceId);
    const watermark = state.get(jobs.events)?.watermark;
    let since = watermark === undefined || watermark === null ? null : watermark - this.options.overlapMs;
    const lastReconcile = state.get(jobs.reconcile)?.ranAt;
    const reconcile = since !== null && (lastReconcile === undefined || lastReconcile + this.options.reconcileEveryMs <= now);
    if (reconcile && since !== null) since = Math.min(since, now - this.options.reconcileWindowMs);
    // Where the cursor moves: before what this process's buffer has not written (DuckDB), or as far
    // as writes are known committed (PostgreSQL, SettledEvents).
    const pending = this.options.pendingSince?.() ?? null;
    const nextWatermark =
      pending !== null ? this.store.eventsInFlight.horizon(workspaceId, Math.min(now, pending)) : await this.settled.at(workspaceId, now);
    const lastFull = state.get(jobs.tiers)?.ranAt;
    const fullTiers = lastFull === undefined || lastFull + this.options.tiersEveryMs <= now;
    const expirySince = state.get(jobs.expiry)?.watermark ?? null;
    // Nothing to do: the watermarks stay where they are, so the next tick looks at the same window.
    if (since !== null && !reconcile && !fullTiers && !(await anythingNew(this.store, workspaceId, since, expirySince, now))) {
      return idleTick(workspaceId);
    }

    const merged = await followMerges(this.store, workspaceId, since, now);
    const joined = await joinFromEvents(this.store, workspaceId, since, now);
    const left = await leaveFromEvents(this.store, workspaceId, since, now);
    const earned = await earnFromOrders(this.store, workspaceId, settings, since, now);
    const refunded = await clawBackRefunds(this.store, workspaceId, since, now);
    await saveJob(this.store, workspaceId, jobs.events, nextWatermark, now);
    if (reconcile || since === null) await saveJob(this.store, workspaceId, jobs.reconcile, null, now);

    const expired = await expireFallenDue(this.store, workspaceId, expirySince, now);
    await saveJob(this.store, workspaceId, jobs.expiry, now, now);

    let tiers: MemberTick['tiers'] = { mode: 'none', changed: 0 };
    if (fullTiers) {
      tiers = { mode: 'full', changed: (await evaluateTiers(this.store, workspaceId, settings, now, null)).changed };
      await saveJob(this.store, workspaceId, jobs.tiers, null, now);
    } else {
      // Expiry lowers balances, not points earned in a period: it cannot change a tier.
      const touched = [...new Set([...merged, ...joined, ...earned.userKeys, ...refunded.userKeys])];
      if (touched.length > 0) {
        tiers = { mode: 'incremental', changed: (await evaluateTiers(this.store, workspaceId, settings, now, touched)).changed };
      }
    }
    const traitsSynced = await syncMemberTraits(this.store, workspaceId, now);
    return {
      workspaceId,
      merged: merged.length,
      joined: joined.length,
      left: left.length,
      earned: { orders: earned.orders, people: earned.people, points: earned.points },
      refunded: { refunds: refunded.refunds, points: refunded.points },
      expired,
      tiers,
      traitsSynced,
    };
  }

  /** PostgreSQL: one process at a time per workspace (the lock goes with the session if the process dies). */
  private withWorkspaceLock<T>(workspaceId: number, fn: () => Promise<T>): Promise<T> {
    return whileLocked(this.store, advisoryLock.memberJobs, workspaceId, fn);
  }

  start(intervalMs: number, log: (err: unknown) => void): void {
    this.ticker = startTicker(() => this.tick(), intervalMs, log);
  }

  /** Runs a tick soon (e.g. after an ingest commit), without waiting for the interval. */
  nudge(): void {
    this.ticker?.nudge();
  }

  async stop(): Promise<void> {
    await this.ticker?.stop();
    this.ticker = null;
  }
}

/**
 * Whether a run could change anything, in one read: member or order events received since the
 * watermark, merges since, members who joined since (their earlier orders earn) or whose traits
 * are not mirrored yet, points falling due. An idle server used to run every step and write three
 * watermarks every two seconds. Keep this in step with what the steps of `run` read.
 */
async function anythingNew(db: SqlExecutor, workspaceId: number, since: number, expirySince: number | null, now: number): Promise<boolean> {
  const [row] = await db.query<{ hit: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM events WHERE workspace_id = $1 AND received_at > $2
                      AND event IN ('Member Joined', 'Member Left', 'Order Completed', 'Order Refunded'))
         OR EXISTS (SELECT 1 FROM identity_merges WHERE workspace_id = $1 AND merged_at > $2)
         OR EXISTS (SELECT 1 FROM members WHERE workspace_id = $1
                      AND (created_at > $2 OR traits_synced_at IS NULL OR traits_synced_at < updated_at))
         OR EXISTS (SELECT 1 FROM points_ledger WHERE workspace_id = $1 AND points > 0 AND expires_at > $3 AND expires_at <= $4) AS hit`,
    [workspaceId, since, expirySince ?? -1, now],
  );
  return Boolean(row?.hit);
}

const idleTick = (workspaceId: number): MemberTick => ({
  workspaceId,
  merged: 0,
  joined: 0,
  left: 0,
  earned: { orders: 0, people: 0, points: 0 },
  refunded: { refunds: 0, points: 0 },
  expired: { lots: 0, people: 0, points: 0 },
  tiers: { mode: 'none', changed: 0 },
  traitsSynced: 0,
});

async function jobState(db: SqlExecutor, workspaceId: number): Promise<Map<string, { watermark: number | null; ranAt: number }>> {
  const rows = await db.query<{ job: string; watermark: number | null; ran_at: number }>(
    `SELECT job, watermark, ran_at FROM job_state WHERE workspace_id = $1 AND job LIKE 'members_%'`,
    [workspaceId],
  );
  return new Map(rows.map((r) => [r.job, { watermark: r.watermark === null ? null : Number(r.watermark), ranAt: Number(r.ran_at) }]));
}

async function saveJob(db: SqlExecutor, workspaceId: number, job: Job, watermark: number | null, ranAt: number): Promise<void> {
  await db.query(
    `INSERT INTO job_state (workspace_id, job, watermark, ran_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (workspace_id, job) DO UPDATE SET watermark = excluded.watermark, ran_at = excluded.ran_at`,
    [workspaceId, job, watermark, ranAt],
  );
}
