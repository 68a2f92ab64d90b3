/**
 * The bulk measurements of the `journeys` benchmark, on a virtual clock:
 * - `send`: N people enrolled into entry → send → wait 1d (admission starts them at the send
 *   node); one engine tick moves them through send (N outbox rows) into the wait. Baseline: one INSERT INTO outbox … SELECT
 *   plus one UPDATE of journey_instances.
 * - `timers`: the same N people, all due at the same instant at the wait (the end of the path);
 *   the clock moves past it and one tick lets them all go on. Baseline: one UPDATE.
 * The baseline runs on its own N instances in the same tables, just before the engine.
 */
import { loadavg } from 'node:os';
import type { Progress } from '../src/cli/progress.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { JourneyEngine, type TickResult } from '../src/journeys/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import {
  baselineSend,
  baselineTimers,
  enrolEveryone,
  generatePeople,
  insertBaselineInstances,
  instanceStates,
  outboxRows,
  publishSendJourney,
  settle,
  WAIT_MS,
} from './journey-data.ts';
import { ProcessSampler, round, secondsSince } from './stats.ts';
import { StoreTrace } from './store-trace.ts';

/** Journeys start here (a Monday, 10:00 UTC); the bulk phases run on a virtual clock. */
export const BULK_START = Date.UTC(2026, 2, 2, 10);

export interface BulkOptions {
  users: number;
  progress: Progress;
  traceSql?: boolean;
}

export type Row = Record<string, unknown> & { measure: string };

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { seconds: secondsSince(t), value };
}

const expectEqual = (errors: string[], what: string, got: unknown, want: unknown) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) errors.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
};

/** Instances of the workspace's journeys that are due now (ready to move or to get a wake-up time). */
async function dueNow(store: Store, ws: number, now: number): Promise<number> {
  const [row] = await store.query<{ n: number }>(
    `SELECT count(*) AS n FROM journey_instances j JOIN journeys p ON p.workspace_id = j.workspace_id AND p.journey_id = j.journey_id
     WHERE j.workspace_id = $1 AND j.status = 'active' AND j.due_at <= $2`,
    [ws, now],
  );
  return Number(row?.n ?? 0);
}

/**
 * Engine ticks of the workspace, at one instant, until nobody of its journeys is due: one tick
 * when a tick finishes its work (as it should), more if it leaves some for the next tick. Only
 * the ticks are timed; `ticks` says how many it took.
 */
async function tickPhase(store: Store, trace: StoreTrace | null, clock: VirtualClock, ws: number, label: string, progress: Progress) {
  const engine = new JourneyEngine(trace ? trace.wrap(store) : store, clock);
  const loadAvg1m = round(loadavg()[0] ?? 0);
  progress.start(label, 1);
  trace?.begin();
  const sampler = new ProcessSampler();
  let seconds = 0;
  let ticks = 0;
  const result: TickResult[] = [];
  do {
    const t = await timed(() => engine.tickWorkspace(ws));
    seconds += t.seconds;
    result.push(...t.value);
    ticks++;
  } while (ticks < 10 && (await dueNow(store, ws, clock.now())) > 0);
  const sampled = sampler.stop();
  progress.update(1);
  progress.stop();
  if (trace) process.stderr.write(`${trace.summary(label)}\n`);
  return { seconds, ticks, result, sampled, loadAvg1m };
}

/** Runs `send` then `timers` on a fresh store; returns their rows (with `error` when a count is off). */
export async function runBulk(store: Store, o: BulkOptions): Promise<{ rows: Row[]; setup: Record<string, unknown> }> {
  const n = o.users;
  const clock = new VirtualClock(BULK_START);
  const trace = o.traceSql ? new StoreTrace() : null;
  const setupStart = performance.now();
  const ws = (await createWorkspace(store, 'bench-journeys', clock.now())).workspaceId;
  await generatePeople(store, ws, n, clock.now(), o.progress);
  const journeyId = await publishSendJourney(store, ws, clock.now());
  // Everyone is enrolled through the engine's own admission, which starts them at the send node.
  o.progress.start('enrol (engine admit)', n);
  const enrol = await timed(() => enrolEveryone(store, ws, journeyId, clock.now()));
  o.progress.update(n);
  o.progress.stop();
  const baselineJourney = await insertBaselineInstances(store, ws, n, clock.now());
  await settle(store);
  const setupSeconds = secondsSince(setupStart);
  process.stderr.write(
    `journeys/${store.dialect}: ${n} people, ${enrol.value} enrolled by admit in ${enrol.seconds.toFixed(1)} s (setup ${setupSeconds.toFixed(0)} s)\n`,
  );
  const setupErrors: string[] = [];
  expectEqual(setupErrors, 'enrolled', enrol.value, n);

  // 1. Everyone through the send node into the outbox.
  clock.advance(1_000);
  const sendAt = clock.now();
  const base1 = await timed(() => baselineSend(store, ws, baselineJourney, sendAt));
  await settle(store);
  const send = await tickPhase(store, trace, clock, ws, 'tick: send → wait', o.progress);
  const sendErrors = [...setupErrors];
  expectEqual(sendErrors, 'outbox rows (engine)', await outboxRows(store, ws, journeyId), n);
  expectEqual(sendErrors, 'outbox rows (baseline)', await outboxRows(store, ws, baselineJourney), n);
  expectEqual(sendErrors, 'instances after the tick', await instanceStates(store, ws, journeyId), { 'active@wait': n });
  expectEqual(sendErrors, 'instances after the baseline', await instanceStates(store, ws, baselineJourney), { 'active@wait': n });
  const [due] = await store.query<{ lo: number; hi: number }>(
    `SELECT min(due_at) AS lo, max(due_at) AS hi FROM journey_instances WHERE workspace_id = $1 AND journey_id IN ($2, $3)`,
    [ws, journeyId, baselineJourney],
  );
  expectEqual(sendErrors, 'wake-up times', [Number(due?.lo), Number(due?.hi)], [sendAt + WAIT_MS, sendAt + WAIT_MS]);
  const sendRow: Row = {
    measure: 'send',
    people: n,
    seconds: round(send.seconds, 3),
    perSecond: Math.round(n / send.seconds),
    baselineSeconds: round(base1.seconds, 3),
    ratio: round(base1.seconds / send.seconds, 3),
    timesBaseline: round(send.seconds / base1.seconds, 1),
    moved: send.result.reduce((s, r) => s + r.moved, 0),
    ticks: send.ticks,
    outbox: n,
    enrolSeconds: round(enrol.seconds, 3),
    setupSeconds: round(setupSeconds, 1),
    peakRssMb: send.sampled.peakRssMb,
    cpuPct: send.sampled.cpuPct,
    loadAvg1m: send.loadAvg1m,
    goal: 'DuckDB ≤ 10 s',
    goalMet: store.dialect === 'duckdb' && n >= 1_000_000 ? send.seconds <= 10 : null,
    ...(sendErrors.length ? { error: sendErrors.join('; ') } : {}),
  };

  // 3. Everyone's timer due at the same instant: the clock moves past it, one tick drains them.
  clock.set(sendAt + WAIT_MS + 1_000);
  const drainAt = clock.now();
  const base3 = await timed(() => baselineTimers(store, ws, baselineJourney, drainAt));
  await settle(store);
  const timers = await tickPhase(store, trace, clock, ws, `tick: ${n} timers due`, o.progress);
  const timerErrors: string[] = [];
  expectEqual(timerErrors, 'instances after the tick', await instanceStates(store, ws, journeyId), { 'completed@wait': n });
  expectEqual(timerErrors, 'instances after the baseline', await instanceStates(store, ws, baselineJourney), { 'completed@wait': n });
  expectEqual(timerErrors, 'outbox rows (engine)', await outboxRows(store, ws, journeyId), n);
  const timersRow: Row = {
    measure: 'timers',
    people: n,
    seconds: round(timers.seconds, 3),
    perSecond: Math.round(n / timers.seconds),
    baselineSeconds: round(base3.seconds, 3),
    ratio: round(base3.seconds / timers.seconds, 3),
    timesBaseline: round(timers.seconds / base3.seconds, 1),
    moved: timers.result.reduce((s, r) => s + r.moved, 0),
    ticks: timers.ticks,
    peakRssMb: timers.sampled.peakRssMb,
    cpuPct: timers.sampled.cpuPct,
    loadAvg1m: timers.loadAvg1m,
    goal: '≤ 20 s',
    goalMet: n >= 1_000_000 ? timers.seconds <= 20 : null,
    ...(timerErrors.length ? { error: timerErrors.join('; ') } : {}),
  };
  return {
    rows: [sendRow, timersRow],
    setup: { setupSeconds: round(setupSeconds, 1), enrolSeconds: round(enrol.seconds, 3) },
  };
}
