import { describe, expect, it } from 'vitest';
import { formatSegmentTable } from '../bench/index.ts';
import { runSegmentsBenchmark } from '../bench/segment-bench.ts';
import { segmentCases } from '../bench/segment-queries.ts';

describe('segments benchmark (smoke)', () => {
  it('counts the same members compiled and hand-written, on both engines, and reports well-formed rows', async () => {
    const results = await runSegmentsBenchmark({
      users: 2_000,
      events: 50_000,
      engines: ['duckdb', 'postgres'],
      seed: 42,
      runs: 1,
      newEvents: 1_000,
      progress: { start() {}, update() {}, stop() {} },
    });
    // Any count mismatch (compiled vs hand-written, estimate, refreshes, across engines) sets `error`.
    expect(results.filter((r) => r.error).map((r) => `${r.engine} ${r.segment}: ${r.error}`)).toEqual([]);
    expect(results.map((r) => `${r.engine}/${r.segment}`)).toEqual(
      ['duckdb', 'postgres'].flatMap((e) => segmentCases.map((c) => `${e}/${c.key}`)),
    );
    for (const r of results) {
      expect(r).toMatchObject({ benchmark: 'segments', users: 2_000, events: 50_000, newEvents: 1_000 });
      expect(r.members as number, `${r.engine} ${r.segment}`).toBeGreaterThan(0);
      expect(r.handMembers).toBe(r.members);
      for (const key of [
        'compiledMs',
        'handMs',
        'compiledOverHand',
        'estimateMs',
        'fullRefreshMs',
        'incrementalMs',
        'peakRssMb',
        'items',
      ]) {
        expect(typeof r[key], `${r.engine} ${r.segment} ${key}`).toBe('number');
      }
      expect((r.incEntered as number) + (r.incExited as number), `${r.segment} changes after new events`).toBeGreaterThan(0);
      if (r.engine === 'postgres') expect(typeof r.overDuckHand).toBe('number');
    }
    const duck = results.filter((r) => r.engine === 'duckdb').map((r) => r.members);
    expect(results.filter((r) => r.engine === 'postgres').map((r) => r.members)).toEqual(duck);
    const table = formatSegmentTable(results);
    expect(table).toContain('compiled/hand');
    for (const c of segmentCases) expect(table).toContain(c.key);
    expect(table).not.toContain('FAILED');
    expect(JSON.parse(JSON.stringify(results))).toEqual(results);
  }, 60_000);
});
