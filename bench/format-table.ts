import { textTable } from '../src/core/text-table.ts';
import type { BenchResult } from './index.ts';

const columns: Column[] = [
  { key: 'benchmark', title: 'benchmark' },
  { key: 'engine', title: 'engine' },
  { key: 'events', title: 'events' },
  { key: 'seconds', title: 'seconds' },
  { key: 'eventsPerSecond', title: 'events/s' },
  { key: 'p50Ms', title: 'p50 ms' },
  { key: 'p95Ms', title: 'p95 ms' },
  { key: 'p99Ms', title: 'p99 ms' },
  { key: 'baselineSeconds', title: 'baseline s' },
  { key: 'ratio', title: 'ratio' },
  { key: 'peakRssMb', title: 'peak RSS MB' },
];

export interface Column {
  key: string;
  title: string;
}

/** A result field as table text: `-` when absent, yes/NO for goals, thousands separated. */
export function resultCell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'NO';
  if (typeof v === 'number') return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
  return String(v);
}

/** Rows as aligned text lines under a header and a rule; `left` columns are left-aligned, the rest right. */
export function resultTable(columns: readonly Column[], rows: readonly Record<string, unknown>[], left: ReadonlySet<string>): string[] {
  return textTable(
    columns.map((c) => c.title),
    rows.map((r) => columns.map((c) => resultCell(r[c.key]))),
    { align: columns.map((c) => (left.has(c.key) ? 'left' : 'right')) },
  );
}

/**
 * A plain-text table of results, one row per benchmark and engine; failed runs show their
 * error under the table. `ratio` = baseline seconds / Shopflow seconds (1 = as fast as plain SQL).
 */
export function formatTable(results: readonly BenchResult[]): string {
  const out = resultTable(columns, results, new Set(['benchmark', 'engine']));
  for (const r of results) if (r.error) out.push(`${r.benchmark} on ${r.engine} FAILED: ${r.error}`);
  return out.join('\n');
}
