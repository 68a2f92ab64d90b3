import type { Clock } from '../core/clock.ts';
import { serialQueue } from '../core/serial-queue.ts';
import { startTicker, type Ticker } from '../core/ticker.ts';
import { advisoryLock, SettledEvents, type SqlExecutor, type Store, whileLocked } from '../store/index.ts';
import { refreshComputedTraits } from './computed-traits/index.ts';
import { refreshPredictions, refreshRepurchaseCycles } from './predictions/index.ts';
import { touchedPeople } from './touched.ts';

export interface ProfileJobOptions {
  /** Whole recomputation of computed traits: recency, RFM quintiles and lifecycle move with time. */
  traitsEveryMs: number;
  /** Refit the purchase model, recompute every prediction and the repurchase cycles. */
  predictionsEveryMs: number;
  /** Overlap when looking for new events (see the segment refresher). */
  overlapMs: number;
  /** PostgreSQL: how long a tick waits for an event write in progress to learn what is committed (SettledEvents; default 5 s). */
  settleWaitMs?: number;
  /** Above this many touched people a whole recomputation is done instead. */
  maxIncremental: number;
}

export const defaultProfileJobOptions: ProfileJobOptions = {
  traitsEveryMs: 6 * 3_600_000,
  predictionsEveryMs: 24 * 3_600_000,
  overlapMs: 10_000,
  maxIncremental: 200_000,
};

export interface ProfileTick {
  workspaceId: number;
  traits: 'full' | 'incremental' | 'none';
  people: number;
  predictions: 'refitted' | 'incremental' | 'none' | 'insufficient_data';
}

const ticks = serialQueue();

const jobs = { traitsFull: 'computed_traits_full', traitsIncremental: 'computed_traits', predictions: 'predictions' } as const;
type Job = (typeof jobs)[keyof typeof jobs];

/**
 * Keeps computed traits and predictions current, per workspace:
 * - people touched by events since the last run: their traits and predictions (stored model);
 * - every `traitsEveryMs`: everyone's traits (time moves recency, quintiles and stages);
 * - every `predictionsEveryMs`: refit the model, everyone's predictions, repurchase cycles.
 * Cursors live in `job_state`, so a restart continues where it stopped.
 */
export class ProfileJobs {
  private ticker: Ticker | null = null;
  private readonly settled: SettledEvents;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: ProfileJobOptions = defaultProfileJobOptions,
  ) {
    this.settled = new SettledEvents(store, clock, options.overlapMs, options.settleWaitMs);
  }

  async tick(): Promise<ProfileTick[]> {
    const workspaces = await this.store.query<{ workspace_id: number }>('SELECT workspace_id FROM workspaces ORDER BY workspace_id');
    const out: ProfileTick[] = [];
    for (const w of workspaces) out.push(await this.tickWorkspace(Number(w.workspace_id)));
    return out;
  }

  /**
   * One workspace's turn. One at a time per store in this process, and on PostgreSQL in one process
   * at a time: two would both refit the model, and the second's predictions would collide with the
   * first's. Who waited reads the job state after the other's run, so it only does what is still due.
   */
  tickWorkspace(workspaceId: number): Promise<ProfileTick> {
    return ticks(this.store, () => whileLocked(this.store, advisoryLock.profileJobs, workspaceId, () => this.run(workspaceId)));
  }

  private async run(workspaceId: number): Promise<ProfileTick> {
    const now = this.clock.now();
    // How far the incremental cursor may move: events received up to here are surely committed (SettledEvents).
    const settled = await this.settled.at(workspaceId, now);
    const state = await jobState(this.store, workspaceId);
    const result: ProfileTick = { workspaceId, traits: 'none', people: 0, predictions: 'none' };

    const predictionsDue = due(state.get(jobs.predictions)?.ranAt, this.options.predictionsEveryMs, now);
    const lastFull = state.get(jobs.traitsFull)?.ranAt;
    let touched: number[] = [];
    if (!due(lastFull, this.options.traitsEveryMs, now)) {
      const since = (state.get(jobs.traitsIncremental)?.watermark ?? now) - this.options.overlapMs;
      touched = await touchedPeople(this.store, workspaceId, since);
    }
    if (due(lastFull, this.options.traitsEveryMs, now) || touched.length > this.options.maxIncremental) {
      result.people = (await refreshComputedTraits(this.store, workspaceId, now)).people;
      result.traits = 'full';
      await saveJob(this.store, workspaceId, jobs.traitsFull, null, now);
    } else if (touched.length > 0) {
      result.people = (await refreshComputedTraits(this.store, workspaceId, now, { userKeys: touched })).people;
      result.traits = 'incremental';
      if (!predictionsDue) {
        const p = await refreshPredictions(this.store, workspaceId, now, { userKeys: touched });
        // Without a stored model yet, the call fits one on everybody.
        result.predictions = p.status !== 'ok' ? 'insufficient_data' : p.refitted ? 'refitted' : 'incremental';
      }
    }
    await saveJob(this.store, workspaceId, jobs.traitsIncremental, settled, now);

    if (predictionsDue) {
      const p = await refreshPredictions(this.store, workspaceId, now);
      await refreshRepurchaseCycles(this.store, workspaceId, now);
      result.predictions = p.status === 'ok' ? 'refitted' : 'insufficient_data';
      await saveJob(this.store, workspaceId, jobs.predictions, null, now);
    }
    return result;
  }

  start(intervalMs: number, log: (err: unknown) => void): void {
    this.ticker = startTicker(() => this.tick(), intervalMs, log);
  }

  async stop(): Promise<void> {
    await this.ticker?.stop();
    this.ticker = null;
  }
}

function due(ranAt: number | undefined, everyMs: number, now: number): boolean {
  return ranAt === undefined || ranAt + everyMs <= now;
}

async function jobState(db: SqlExecutor, workspaceId: number): Promise<Map<string, { watermark: number | null; ranAt: number }>> {
  const rows = await db.query<{ job: string; watermark: number | null; ran_at: number }>(
    'SELECT job, watermark, ran_at FROM job_state WHERE workspace_id = $1',
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
