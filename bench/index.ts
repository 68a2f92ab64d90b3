/**
 * The benchmark suite: named benchmarks run on fresh stores of either engine, each compared with
 * a plain hand-written SQL baseline in the same run (DESIGN.md "Benchmarks"). See
 * docs/benchmarks.md.
 */

import { type Progress, silentProgress } from '../src/cli/progress.ts';
import { AppError } from '../src/core/errors.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { emptyFigures } from './empty-figures.ts';
import { importBench } from './import-bench.ts';
import { ingestHttp } from './ingest-http.ts';
import { runJourneysBenchmark } from './journey-bench.ts';
import { runMessagingBenchmark } from './messaging-bench.ts';
import { runSegmentsBenchmark } from './segment-bench.ts';
import { defaultSlotsConcurrency, defaultSlotsRequests, defaultSlotsUsers, runSlotsBenchmark } from './slots-bench.ts';

export type { Engine } from './bench-store.ts';
export { formatTable } from './format-table.ts';
export { formatJourneyTable } from './journey-table.ts';
export { formatMessagingTable } from './messaging-bench.ts';
export { formatSegmentTable } from './segment-table.ts';
export { formatSlotsTable } from './slots-bench.ts';

export interface BenchOptions {
  /** Pool of returning users (default 100,000); segments and journeys: people (default 1,000,000); messaging: people, one message each (default 20,000). */
  users?: number;
  /** messaging: people in the store when more than the messages (default: one message each). */
  population?: number;
  /** Events per run; the default depends on the benchmark and engine (see `defaultEvents`); journeys: latency orders. */
  events?: number;
  engines: Engine[];
  /** ingest-http: events per `/v1/batch` request (default 500); messaging: messages per dispatcher batch (default: the dispatcher's, 4,000). */
  batchSize?: number;
  /** ingest-http: concurrent keep-alive clients (default 16); messaging: provider calls in flight (default 64). */
  concurrency?: number;
  seed?: number;
  /** Progress of long phases (generation, sending); silent by default. */
  progress?: Progress;
  /** Write a CPU profile of each measured phase into this folder; a summary goes to stderr. */
  cpuProfileDir?: string;
  /** Time every statement of the measured phase; a breakdown goes to stderr. */
  traceSql?: boolean;
  /** import: the file's format (default ndjson; csv holds the same events, JSON columns for objects). */
  format?: 'ndjson' | 'csv';
}

/**
 * One flat row per benchmark and engine. Absent figures are null; `error` is set (and the
 * figures null) when the run failed, e.g. a count mismatch.
 */
export interface BenchResult {
  benchmark: string;
  engine: Engine;
  events: number;
  seconds: number | null;
  eventsPerSecond: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  baselineSeconds: number | null;
  /** baselineSeconds / seconds: the share of the plain-SQL speed Shopflow reaches (1 = as fast). */
  ratio: number | null;
  peakRssMb: number | null;
  error?: string;
  [extra: string]: unknown;
}

export const benchmarkNames: string[] = ['ingest-http', 'import', 'segments', 'journeys', 'messaging', 'slots'];

/** Events per run when --events is not given: PostgreSQL runs are smaller to stay in minutes. */
export const defaultEvents: Record<string, Record<Engine, number>> = {
  'ingest-http': { duckdb: 1_000_000, postgres: 200_000 },
  import: { duckdb: 2_000_000, postgres: 200_000 },
  segments: { duckdb: 50_000_000, postgres: 50_000_000 },
};

async function runOne(name: string, engine: Engine, options: BenchOptions, events: number): Promise<Record<string, unknown>> {
  // The import runs on a store opened as `shopflow import` opens it; ingest-http serves the API.
  const bs = await benchStore(engine, { warmCaches: name !== 'import' });
  const progress = options.progress ?? silentProgress;
  // What both benchmarks of this kind take.
  const common = {
    events,
    users: options.users ?? 100_000,
    seed: options.seed ?? 42,
    progress,
    cpuProfileDir: options.cpuProfileDir,
    traceSql: options.traceSql,
  };
  try {
    if (name === 'ingest-http') {
      return await ingestHttp(bs, { ...common, batchSize: options.batchSize ?? 500, concurrency: options.concurrency ?? 16 });
    }
    return await importBench(bs, { ...common, format: options.format ?? 'ndjson' });
  } finally {
    await bs.dispose();
  }
}

/** Runs one named benchmark on each engine in turn; a failure becomes a row with `error`. */
export async function runBenchmark(name: string, options: BenchOptions): Promise<BenchResult[]> {
  if (!benchmarkNames.includes(name)) {
    throw new AppError('invalid_request', `unknown benchmark "${name}" (known: ${benchmarkNames.join(', ')})`, 'name');
  }
  if (name === 'segments') {
    // Rows per engine and segment, and PostgreSQL compared with DuckDB's run: its own loop.
    return runSegmentsBenchmark({
      users: options.users ?? 1_000_000,
      events: options.events ?? defaultEvents.segments!.duckdb,
      engines: options.engines,
      seed: options.seed ?? 42,
      progress: options.progress ?? silentProgress,
    });
  }
  if (name === 'journeys') {
    // Three measurements per engine (latency, send, timers), each its own row: its own loop too.
    return runJourneysBenchmark({
      users: options.users,
      events: options.events,
      engines: options.engines,
      progress: options.progress ?? silentProgress,
      traceSql: options.traceSql,
    });
  }
  if (name === 'slots') {
    // Decide latency in process and over HTTP, with a per-request SQL baseline: its own loop too.
    // --events is the number of measured HTTP decides; --concurrency their keep-alive connections.
    return runSlotsBenchmark({
      users: options.users ?? defaultSlotsUsers,
      engines: options.engines,
      requests: options.events ?? defaultSlotsRequests,
      concurrency: options.concurrency ?? defaultSlotsConcurrency,
      baselineRequests: 1000,
      seed: options.seed ?? 42,
      progress: options.progress ?? silentProgress,
    });
  }
  if (name === 'messaging') {
    // Dispatcher against a local mock provider, with its own plain-HTTP baseline: its own loop too.
    return runMessagingBenchmark({
      users: options.users,
      population: options.population,
      engines: options.engines,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      progress: options.progress ?? silentProgress,
      cpuProfileDir: options.cpuProfileDir,
      traceSql: options.traceSql,
    });
  }
  const results: BenchResult[] = [];
  for (const engine of options.engines) {
    const events = options.events ?? defaultEvents[name]?.[engine] ?? 100_000;
    try {
      const figures = await runOne(name, engine, options, events);
      results.push({ benchmark: name, engine, ...emptyFigures, ...figures, events });
    } catch (err) {
      results.push({ benchmark: name, engine, events, ...emptyFigures, error: (err as Error).message ?? String(err) });
    }
  }
  return results;
}
