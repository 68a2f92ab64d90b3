/**
 * The `latency` measurement of the `journeys` benchmark alone (no 1M-people bulk phases), for
 * iterating on event → outbox latency:
 *
 *   node --import tsx bench/journey-latency-run.ts [--engine duckdb|postgres] [--events 2000] [--rate 100] [--population N] [--trace-sql]
 *
 * Same store, server and sender as `npm run bench -- --only journeys` (journey-latency.ts);
 * prints one JSON row per engine.
 */
import { parseArgs } from 'node:util';
import { terminalProgress } from '../src/cli/progress.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { defaultLatencyEvents } from './journey-bench.ts';
import { runLatency } from './journey-latency.ts';

const { values } = parseArgs({
  options: {
    engine: { type: 'string' },
    events: { type: 'string' },
    rate: { type: 'string' },
    population: { type: 'string' },
    'trace-sql': { type: 'boolean', default: false },
  },
});
const engines: Engine[] = values.engine === 'duckdb' || values.engine === 'postgres' ? [values.engine] : ['duckdb', 'postgres'];
const count = (v: string | undefined, fallback: number) => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`not a positive whole number: ${v}`);
  return n;
};
const rows: Record<string, unknown>[] = [];
for (const engine of engines) {
  const bs = await benchStore(engine);
  try {
    const r = await runLatency(bs.store, {
      events: count(values.events, defaultLatencyEvents),
      warmup: 50,
      rate: count(values.rate, 100),
      population: values.population === undefined ? 0 : count(values.population, 0),
      progress: terminalProgress(),
      traceSql: values['trace-sql'],
    });
    rows.push({ engine, ...r });
    process.stderr.write(`journeys/${engine}: latency p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms, p99 ${r.p99Ms} ms (load ${r.loadAvg1m})\n`);
  } finally {
    await bs.dispose();
  }
}
process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
if (rows.some((r) => r.error)) process.exitCode = 1;
