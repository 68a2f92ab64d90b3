import { describe, expect, it } from 'vitest';
import { formatTable, runBenchmark } from '../bench/index.ts';

describe('benchmark suite (smoke)', () => {
  it('runs ingest-http on DuckDB with tiny numbers and stores exactly the events sent', async () => {
    const results = await runBenchmark('ingest-http', { events: 5_000, users: 1_000, engines: ['duckdb'], concurrency: 4 });
    expect(results).toHaveLength(1);
    const r = results[0]!;
    expect(r.error).toBeUndefined();
    // runBenchmark verifies count(*) = events itself and sets `error` otherwise.
    expect(r).toMatchObject({ benchmark: 'ingest-http', engine: 'duckdb', events: 5_000, batchSize: 500 });
    for (const key of ['seconds', 'eventsPerSecond', 'p50Ms', 'p95Ms', 'p99Ms', 'baselineSeconds', 'ratio', 'peakRssMb'] as const) {
      expect(typeof r[key], key).toBe('number');
      expect(r[key] as number, key).toBeGreaterThan(0);
    }
    expect(r.p50Ms!).toBeLessThanOrEqual(r.p99Ms!);
    expect(formatTable(results)).toContain('ingest-http');
  }, 30_000);

  it('imports the same events from CSV on both engines and stores all of them', async () => {
    const results = await runBenchmark('import', { events: 2_000, users: 500, engines: ['duckdb', 'postgres'], format: 'csv' });
    expect(results.map((r) => [r.engine, r.error, r.format, r.events])).toEqual([
      ['duckdb', undefined, 'csv', 2_000],
      ['postgres', undefined, 'csv', 2_000],
    ]);
    for (const r of results) expect(r.ratio).toBeGreaterThan(0);
  }, 60_000);
});
