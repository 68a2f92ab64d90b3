import { type Column, resultCell, resultTable } from './format-table.ts';
import type { BenchResult } from './index.ts';

const columns: Column[] = [
  { key: 'engine', title: 'engine' },
  { key: 'measure', title: 'measure' },
  { key: 'events', title: 'n' },
  { key: 'seconds', title: 'seconds' },
  { key: 'ticks', title: 'ticks' },
  { key: 'perSecond', title: 'per s' },
  { key: 'p50Ms', title: 'p50 ms' },
  { key: 'p95Ms', title: 'p95 ms' },
  { key: 'p99Ms', title: 'p99 ms' },
  { key: 'baselineSeconds', title: 'baseline s' },
  { key: 'timesBaseline', title: '× baseline' },
  { key: 'goal', title: 'goal' },
  { key: 'goalMet', title: 'met' },
  { key: 'peakRssMb', title: 'peak RSS MB' },
  { key: 'loadAvg1m', title: 'load' },
];

const cell = resultCell;

/**
 * The `journeys` rows as a table, one line per engine and measurement: `n` is people (send,
 * timers) or orders (latency); `× baseline` = seconds / the plain-SQL baseline's seconds (above 1:
 * slower than the hand-written statements); latency rows have p50/p95/p99 from the event request
 * to its outbox row; `ticks`: engine ticks the bulk measurements took (one, unless a tick leaves
 * work for the next). `met` is blank where the goal is not defined for that size or engine.
 */
export function formatJourneyTable(results: readonly BenchResult[]): string {
  const rows = results.filter((r) => r.benchmark === 'journeys');
  const out = resultTable(columns, rows, new Set(['engine', 'measure', 'goal']));
  for (const r of rows) {
    if (r.measure === 'latency' && r.ackP50Ms !== undefined) {
      out.push(
        `${r.engine} latency: ${cell(r.events)} orders at ${cell(r.rate)}/s; request answered (event committed) p50 ${cell(r.ackP50Ms)} ms / p99 ${cell(r.ackP99Ms)} ms; ` +
          `${cell(r.ticks)} ticks, p50 ${cell(r.tickP50Ms)} ms, max ${cell(r.tickMaxMs)} ms`,
      );
    }
    if (r.measure === 'send' && r.enrolSeconds !== undefined) {
      out.push(
        `${r.engine} setup: ${cell(r.events)} people enrolled by the engine's admission in ${cell(r.enrolSeconds)} s (not timed above)`,
      );
    }
  }
  for (const r of rows) if (r.error) out.push(`journeys ${String(r.measure ?? '')} on ${r.engine} FAILED: ${r.error}`);
  return out.join('\n');
}
