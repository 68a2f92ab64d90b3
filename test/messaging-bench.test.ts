import { describe, expect, it } from 'vitest';
import { formatMessagingTable, runBenchmark } from '../bench/index.ts';
import { expectedCounts, recipientKey } from '../bench/messaging-bench.ts';

describe('messaging benchmark (smoke)', () => {
  it('dispatches one SMS per person under governance on both engines, and reports well-formed rows', async () => {
    // 600 people: every 50th at the day's cap (12), every 100th from 1 unsubscribed (6), keys 2 and 502 opted out (2).
    const results = await runBenchmark('messaging', { users: 600, batchSize: 200, concurrency: 8, engines: ['duckdb', 'postgres'] });
    // Every count the benchmark checks itself (outcomes by reason, provider requests, idempotency
    // tokens, Message Sent events, the opt-out line and tracked link) sets `error` when off.
    expect(results.filter((r) => r.error).map((r) => `${r.engine}: ${r.error}`)).toEqual([]);
    expect(results.map((r) => r.engine)).toEqual(['duckdb', 'postgres']);
    for (const r of results) {
      expect(r).toMatchObject({
        benchmark: 'messaging',
        events: 600,
        people: 600,
        sent: 580,
        skipped: 20,
        deferred: 0,
        failed: 0,
        skippedBy: { frequencyCap: 12, unsubscribed: 6, optedOut: 2, other: 0 },
        ticks: 1,
        batchSize: 200,
        concurrency: 8,
        goalMet: null,
      });
      for (const key of ['seconds', 'messagesPerSecond', 'baselineSeconds', 'baselinePerSecond', 'ratio', 'peakRssMb'] as const) {
        expect(typeof r[key], `${r.engine} ${key}`).toBe('number');
        expect(r[key] as number, `${r.engine} ${key}`).toBeGreaterThan(0);
      }
      expect(r.sampleText).toMatch(
        /^Hi \w+, 20% off everything in .+ this week: https:\/\/go\.shopflow\.test\/c\/\S+ Reply STOP to opt out$/,
      );
    }
    const table = formatMessagingTable(results);
    expect(table).toContain('postgres');
    expect(table).not.toContain('FAILED');
    expect(JSON.parse(JSON.stringify(results))).toEqual(results);
  }, 180_000);

  it('with a larger population, messages go to people spread over the whole table, and the counts follow them', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => recipientKey(i, 2_999));
    expect(new Set(keys).size).toBe(300);
    expect(Math.max(...keys)).toBeGreaterThan(2_500);
    const expected = expectedCounts(300, 2_999);
    expect(expected.skipped).toBeGreaterThan(0);
    const results = await runBenchmark('messaging', {
      users: 300,
      population: 2_999,
      batchSize: 100,
      concurrency: 8,
      engines: ['duckdb', 'postgres'],
    });
    expect(results.filter((r) => r.error).map((r) => `${r.engine}: ${r.error}`)).toEqual([]);
    for (const r of results) {
      expect(r).toMatchObject({
        events: 300,
        people: 2_999,
        sent: expected.sent,
        skippedBy: { ...expected.skippedBy, other: 0 },
        deferred: 0,
        failed: 0,
      });
    }
  }, 180_000);
});
