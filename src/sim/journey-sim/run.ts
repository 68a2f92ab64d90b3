import type { Progress } from '../../cli/progress.ts';
import { upsertProducts } from '../../commerce/index.ts';
import { DAY, HOUR, VirtualClock } from '../../core/clock.ts';
import { JourneyEngine } from '../../journeys/index.ts';
import { defaultProfileJobOptions, ProfileJobs } from '../../profiles/index.ts';
import { defaultRefresherOptions, listSegments, SegmentRefresher } from '../../segments/index.ts';
import { createWorkspace } from '../../workspaces/index.ts';
import type { SimProduct } from '../catalog.ts';
import { parseSimUserId } from '../member.ts';
import { buildShopContext } from '../shop-context.ts';
import { StoreSink } from '../sinks.ts';
import { readsComputedTraits, readsOnlyComputedTraits } from './cadence.ts';
import { EventFeed } from './event-feed.ts';
import type { JourneyFile } from './journey-file.ts';
import { OrganicCouponUse } from './organic-coupons.ts';
import { type OutboxRow, readOutbox } from './outbox.ts';
import { PersonIndex } from './people.ts';
import { generatePopulation, type Population } from './population.ts';
import { journeyReport, type SimulationReport } from './report.ts';
import { type ResponseContext, respond } from './responses.ts';
import { publishSimJourneys } from './setup.ts';
import { Tally } from './tally.ts';
import { openTempStore, type SimEngine } from './temp-store.ts';
import { CouponWallet } from './wallet.ts';

export interface SimulationOptions {
  journeys: readonly JourneyFile[];
  users: number;
  /** Days the journeys run. */
  days: number;
  /** Days of shop history before the journeys start (lifecycle, RFM and segments need some). */
  historyDays: number;
  seed: number;
  /** Clock step: events, segments and journeys advance this much at a time. */
  stepMs: number;
  /** When the journeys start (virtual time, epoch ms). */
  start: number;
  engine: SimEngine;
  /** PostgreSQL server URL (engine postgres): a temporary database is created there. */
  storeUrl?: string;
  /** Keep the temporary store afterwards (to look at it with `shopflow serve`). */
  keep: boolean;
}

export interface SimulationResult {
  report: SimulationReport;
  /** The store and the simulated workspace's admin key, when kept. */
  kept: { store: string; workspace: string; adminKey: string } | null;
}

/**
 * Computed traits (lifecycle, RFM, preferred channel…) are brought up to date once a virtual day
 * (as `shopflow serve` does in the background): for the people with new events since the last
 * run, with RFM scores and lifecycle stages rescored for everybody; everybody's traits are
 * recomputed whole once a week, and predictions refitted weekly. Not at every step: it is the
 * costliest job. And not whole every day (as before): the whole recomputation differs from the
 * incremental one only in the time-decayed figures of people without new events (category
 * affinity scores, active hour), and cost a third of a run on PostgreSQL. When no journey or
 * segment reads a computed trait, the daily run is left out altogether (cadence.ts).
 */
const PROFILE_EVERY = DAY;
const profileOptions = { ...defaultProfileJobOptions, traitsEveryMs: 7 * DAY, predictionsEveryMs: 7 * DAY };

/**
 * Realtime segments whose answer changes with time alone ("last order before 45 days ago") are
 * re-evaluated whole once a virtual day, right after the daily computed traits they usually read
 * (`serve` does it every minute). People touched by new events are still re-evaluated at every
 * step. A product decision for speed (docs/simulate.md, "Speed"): re-evaluated at every step,
 * such a segment lets people in a few at a time, hour after hour, and each small group costs the
 * journey engine a transaction per node it passes — most of a run's time. Once a day, they enter
 * together, as they would with a daily audience.
 */
const SEGMENT_TIME_REFRESH = DAY;
const refresherOptions = { ...defaultRefresherOptions, timeRefreshMs: SEGMENT_TIME_REFRESH };

const durationLabel = (ms: number) => (ms % DAY === 0 ? `${ms / DAY}d` : ms % HOUR === 0 ? `${ms / HOUR}h` : `${ms / 60_000}m`);

/**
 * Runs journeys on the shop simulator in virtual time. In a temporary store: a simulated shop
 * with its history, computed traits, the journeys published; then, step by step, the shoppers'
 * organic events, segment refresh, a journey tick, and each new outbox row answered by the
 * response model — with the response events (delivery, click, views, orders) written when the
 * clock reaches them. Returns the report; the store is deleted unless kept.
 */
export async function runJourneySimulation(o: SimulationOptions, progress: Progress): Promise<SimulationResult> {
  const timing = new Stopwatch();
  const end = o.start + o.days * DAY;
  // History is received an hour before the journeys start: event triggers never read it.
  const clock = new VirtualClock(o.start - HOUR);
  const temp = await openTempStore(o.engine, o.storeUrl, o.keep, clock, o.users);
  const { store } = temp;
  try {
    const workspace = await createWorkspace(store, 'simulation', clock.now());
    const ws = workspace.workspaceId;
    const shop = buildShopContext(o.seed, o.start - o.historyDays * DAY, end);
    // Products first, so events are read against their catalog from the start (as runDemo does).
    await upsertProducts(
      store,
      ws,
      shop.catalog.products.map((p) => p.product),
      clock.now(),
    );
    const history = new StoreSink(store, clock, ws);
    const pop = await generatePopulation(shop, o, (events) => history.write(events), progress);
    await history.close();
    timing.lap('shop');

    clock.set(o.start);
    const warnings: string[] = [];
    const profiles = new ProfileJobs(store, clock, profileOptions);
    // As in `serve`, a failed background job is reported and retried, not fatal.
    const profileTick = () =>
      profiles.tickWorkspace(ws).catch((err: unknown) => {
        warnings.push(`${new Date(clock.now()).toISOString()}: computed traits / predictions failed: ${(err as Error).message ?? err}`);
      });
    await profileTick();
    const refresher = new SegmentRefresher(store, clock, refresherOptions);
    const journeys = await publishSimJourneys(store, ws, o.journeys, refresher, clock.now());
    const engine = new JourneyEngine(store, clock);
    // Segments that read only computed traits can change only when the traits do (daily): the
    // refresher need not look at them in between (cadence.ts).
    const segments = await listSegments(store, ws);
    const segmentsEveryStep = segments.some((s) => s.definition === null || !readsOnlyComputedTraits(s.definition));
    const traitsRead = readsComputedTraits([...segments.map((s) => s.definition), ...journeys.map((j) => j.definition)]);

    const wallet = new CouponWallet();
    const tally = new Tally();
    const index = new PersonIndex(store, ws, o.seed);
    const organicCoupons = new OrganicCouponUse(o.seed, wallet, pop.people);
    const feed = new EventFeed(store, ws, pop.future, (e, organic) => {
      const raw = organic ? organicCoupons.apply(e) : e.raw;
      const id = raw.event === 'Order Completed' && raw.userId ? parseSimUserId(raw.userId) : null;
      const person = id ? pop.people[id.index] : undefined;
      if (person && (person.lastOrderAt ?? 0) < e.ts) person.lastOrderAt = e.ts;
      return raw;
    });
    const ctx: ResponseContext = { seed: o.seed, shop: pop.shop, productsById: productsById(pop), wallet };

    const steps = Math.ceil((end - o.start) / o.stepMs);
    timing.lap('setup');
    progress.start(`Journeys, ${o.days} days`, steps);
    let lastProfiles = o.start;
    // Outbox rows are read up to the last step that moved anyone (only moves queue rows).
    let outboxRead = clock.now();
    for (let step = 1; step <= steps; step++) {
      const now = Math.min(end, o.start + step * o.stepMs);
      clock.set(now);
      await feed.writeUntil(now);
      timing.lap('events');
      let traitsRan = false;
      if (traitsRead && now - lastProfiles >= PROFILE_EVERY) {
        await profileTick();
        lastProfiles = now;
        traitsRan = true;
        timing.lap('traits');
      }
      if (segmentsEveryStep || traitsRan) {
        await refresher.tickWorkspace(ws);
        timing.lap('segments');
      }
      const ticked = await engine.tickWorkspace(ws);
      timing.lap('journeys');
      if (ticked.some((r) => r.moved > 0)) {
        const rows = await readOutbox(store, ws, outboxRead, now);
        outboxRead = now;
        if (rows.length > 0) await answer(rows, index, pop, ctx, tally, feed);
      }
      timing.lap('responses');
      progress.update(step);
    }
    progress.stop();

    const reports = [];
    for (const j of journeys) reports.push(await journeyReport(store, ws, j, tally, wallet, { start: o.start, days: o.days }));
    const report: SimulationReport = {
      settings: {
        journeys: journeys.map((j) => j.file),
        users: o.users,
        days: o.days,
        historyDays: o.historyDays,
        seed: o.seed,
        step: durationLabel(o.stepMs),
        start: new Date(o.start).toISOString(),
        end: new Date(end).toISOString(),
        engine: store.dialect,
      },
      shop: {
        people: o.users,
        historyEvents: pop.historyEvents,
        organicEvents: feed.organicWritten,
        responseEvents: feed.responsesWritten,
        pendingResponses: feed.pending,
      },
      journeys: reports,
      warnings,
      steps,
      seconds: timing.total(),
      timing: timing.laps(),
    };
    return { report, kept: o.keep ? { store: temp.location, workspace: workspace.workspace, adminKey: workspace.adminKey } : null };
  } finally {
    await temp.dispose();
  }
}

/** Coupons go into the wallet; messages and recommendations get a response, whose events are queued. */
async function answer(rows: OutboxRow[], index: PersonIndex, pop: Population, ctx: ResponseContext, tally: Tally, feed: EventFeed) {
  const people = await index.resolve(rows.map((r) => r.userKey));
  for (const row of rows) {
    const i = people.get(row.userKey);
    const person = i === undefined ? undefined : pop.people[i];
    switch (row.action) {
      case 'coupon': {
        const value = Number(row.payload.value ?? 0);
        ctx.wallet.issue({
          code: String(row.payload.code),
          value,
          journeyId: row.journeyId,
          instanceId: row.instanceId,
          person: i ?? -1,
          issuedAt: row.createdAt,
          expiresAt: Number(row.payload.expires_at ?? Number.MAX_SAFE_INTEGER),
          usedBy: null,
          discount: 0,
        });
        tally.coupon(row.journeyId, value);
        break;
      }
      case 'message':
      case 'recommend': {
        const response = person ? respond(row, person, ctx) : null;
        if (response) feed.queue(response.events);
        tally.message(row, response);
        break;
      }
      case 'webhook':
        break;
      default: {
        const unknown: never = row.action;
        throw new Error(`unknown outbox action ${String(unknown)}`);
      }
    }
  }
}

/** Where the wall time went (elapsed durations for the report, not business instants). */
class Stopwatch {
  private readonly started = performance.now();
  private last = this.started;
  private readonly sums: Record<string, number> = {};

  lap(phase: string): void {
    const t = performance.now();
    this.sums[phase] = (this.sums[phase] ?? 0) + (t - this.last);
    this.last = t;
  }

  laps(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.sums).map(([k, ms]) => [k, Math.round(ms / 100) / 10]));
  }

  total(): number {
    return Math.round((performance.now() - this.started) / 100) / 10;
  }
}

function productsById(pop: Population): Map<string, SimProduct> {
  return new Map(pop.shop.catalog.products.map((p) => [p.product.product_id, p]));
}
