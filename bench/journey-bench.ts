/**
 * `journeys`: the journey engine on each engine, on one fresh store per engine, three measurements:
 * - `latency`: event → outbox through the real server (journey-latency.ts), first, on the empty store;
 * - `send`: N people through a send node into the outbox in one tick (journey-bulk.ts);
 * - `timers`: N timers due at the same instant drained by one tick (journey-bulk.ts).
 * The bulk measurements run next to a plain hand-written SQL baseline on the same tables.
 */

import type { Progress } from '../src/cli/progress.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { emptyFigures } from './empty-figures.ts';
import type { BenchResult } from './index.ts';
import { runBulk } from './journey-bulk.ts';
import { runLatency } from './journey-latency.ts';

/** People in the bulk measurements when --users is not given. */
export const defaultJourneyUsers: Record<Engine, number> = { duckdb: 1_000_000, postgres: 1_000_000 };
/** Orders in the latency measurement when --events is not given. */
export const defaultLatencyEvents = 2_000;

export interface JourneysBenchOptions {
  /** People in the bulk measurements (default per engine, see defaultJourneyUsers). */
  users?: number;
  /** Orders in the latency measurement (default 2,000). */
  events?: number;
  engines: Engine[];
  progress: Progress;
  traceSql?: boolean;
  /** Latency: orders per second (default 100) and warm-up orders left out (default 50). */
  rate?: number;
  warmup?: number;
}

const rowOf = (engine: Engine, figures: Record<string, unknown>, n: number): BenchResult => ({
  benchmark: 'journeys',
  engine,
  ...emptyFigures,
  ...figures,
  events: n,
  measure: figures.measure,
});

export async function runJourneysBenchmark(o: JourneysBenchOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const engine of o.engines) {
    const users = o.users ?? defaultJourneyUsers[engine];
    const events = o.events ?? defaultLatencyEvents;
    let bs: Awaited<ReturnType<typeof benchStore>>;
    try {
      bs = await benchStore(engine);
    } catch (err) {
      results.push({ ...rowOf(engine, { measure: 'setup' }, users), error: String((err as Error).message ?? err) });
      continue;
    }
    try {
      try {
        const r = await runLatency(bs.store, {
          events,
          warmup: o.warmup ?? 50,
          rate: o.rate ?? 100,
          progress: o.progress,
          traceSql: o.traceSql,
        });
        results.push(rowOf(engine, r, events));
        process.stderr.write(`journeys/${engine}: latency p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms\n`);
      } catch (err) {
        results.push({ ...rowOf(engine, { measure: 'latency' }, events), error: String((err as Error).message ?? err) });
      }
      try {
        const { rows } = await runBulk(bs.store, { users, progress: o.progress, traceSql: o.traceSql });
        for (const r of rows) {
          results.push(rowOf(engine, r, users));
          process.stderr.write(`journeys/${engine}: ${r.measure} ${users} people in ${r.seconds} s (baseline ${r.baselineSeconds} s)\n`);
        }
      } catch (err) {
        results.push({ ...rowOf(engine, { measure: 'send' }, users), error: String((err as Error).message ?? err) });
      }
    } finally {
      await bs.dispose();
    }
  }
  return results;
}
