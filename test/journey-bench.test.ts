import { describe, expect, it } from 'vitest';
import { formatJourneyTable } from '../bench/index.ts';
import { runJourneysBenchmark } from '../bench/journey-bench.ts';

describe('journeys benchmark (smoke)', () => {
  it('moves everyone through send and wait on both engines, one outbox row each, and reports well-formed rows', async () => {
    const people = 2_000;
    const orders = 40;
    const warmup = 10;
    const results = await runJourneysBenchmark({
      users: people,
      events: orders,
      warmup,
      rate: 200,
      engines: ['duckdb', 'postgres'],
      progress: { start() {}, update() {}, stop() {} },
    });
    // Every count the benchmark checks itself (outbox rows, instance states, wake-up times) sets `error` when off.
    expect(results.filter((r) => r.error).map((r) => `${r.engine} ${r.measure}: ${r.error}`)).toEqual([]);
    expect(results.map((r) => `${r.engine}/${r.measure}`)).toEqual(
      ['duckdb', 'postgres'].flatMap((e) => ['latency', 'send', 'timers'].map((m) => `${e}/${m}`)),
    );
    for (const r of results) {
      expect(r.benchmark).toBe('journeys');
      expect(typeof r.seconds, `${r.engine} ${r.measure} seconds`).toBe('number');
      expect(typeof r.peakRssMb, `${r.engine} ${r.measure} peakRssMb`).toBe('number');
      if (r.measure === 'latency') {
        // Every order (warm-up included) reached the outbox exactly once.
        expect(r).toMatchObject({ events: orders, outbox: orders + warmup, warmup });
        for (const key of ['p50Ms', 'p95Ms', 'p99Ms', 'ackP50Ms', 'tickP50Ms'] as const) {
          expect(typeof r[key], `${r.engine} latency ${key}`).toBe('number');
        }
        expect(r.p50Ms!).toBeLessThanOrEqual(r.p99Ms!);
      } else {
        expect(r).toMatchObject({ events: people, people, moved: people });
        for (const key of ['baselineSeconds', 'ratio', 'timesBaseline', 'perSecond'] as const) {
          expect(typeof r[key], `${r.engine} ${r.measure} ${key}`).toBe('number');
        }
      }
      if (r.measure === 'send') expect(r.outbox).toBe(people);
    }
    const table = formatJourneyTable(results);
    for (const m of ['latency', 'send', 'timers']) expect(table).toContain(m);
    expect(table).not.toContain('FAILED');
    expect(JSON.parse(JSON.stringify(results))).toEqual(results);
  }, 180_000);
});
