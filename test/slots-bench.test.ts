import { describe, expect, it } from 'vitest';
import { formatSlotsTable, runBenchmark } from '../bench/index.ts';

describe('slots benchmark (smoke)', () => {
  it('decides for everyone in process and over HTTP on both engines, agreeing with plain SQL, and reports well-formed rows', async () => {
    const results = await runBenchmark('slots', { users: 3_000, events: 600, concurrency: 4, engines: ['duckdb', 'postgres'] });
    // Every count the benchmark checks itself (variants in process vs SQL, before and after a
    // refresh; HTTP answers; the SQL baseline's answers; changes applied by the sync) sets `error`.
    expect(results.filter((r) => r.error).map((r) => `${r.engine}: ${r.error}`)).toEqual([]);
    expect(results.map((r) => r.engine)).toEqual(['duckdb', 'postgres']);
    for (const r of results) {
      expect(r).toMatchObject({ benchmark: 'slots', events: 600, users: 3_000, concurrency: 4, sqlRequests: 1000 });
      const variants = r.variants as Record<string, number>;
      expect(Object.keys(variants).sort()).toEqual(['default', 'holdout', 'returning', 'women-a', 'women-b']);
      expect(Object.values(variants).reduce((s, n) => s + n, 0)).toBe(3_000);
      expect(Object.values(r.httpVariants as Record<string, number>).reduce((s, n) => s + n, 0)).toBe(600);
      expect(r.syncChanges as number).toBeGreaterThan(0);
      for (const key of ['p50Ms', 'p99Ms', 'inProcessP99Us', 'sqlP99Ms', 'loadSeconds', 'syncMs', 'peakRssMb', 'ratio']) {
        expect(typeof r[key], `${r.engine} ${key}`).toBe('number');
      }
    }
    // The same people and segments on both engines: the same decisions.
    expect(results[1]!.variants).toEqual(results[0]!.variants);
    expect(results[1]!.returningMembers).toBe(results[0]!.returningMembers);
    const table = formatSlotsTable(results);
    expect(table).toContain('postgres');
    expect(table).not.toContain('FAILED');
    expect(JSON.parse(JSON.stringify(results))).toEqual(results);
  }, 180_000);
});
