import type { BenchResult } from './index.ts';

const columns: { key: string; title: string }[] = [
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

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) >= 1000 ? v.toLocaleString('en-US') : String(v);
  return String(v);
}

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
export function textTable(columns: readonly Column[], rows: readonly Record<string, unknown>[], left: ReadonlySet<string>): string[] {
  const cells = rows.map((r) => columns.map((c) => resultCell(r[c.key])));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (cs: string[]) =>
    cs.map((s, i) => (left.has((columns[i] as Column).key) ? s.padEnd(widths[i] as number) : s.padStart(widths[i] as number))).join('  ');
  return [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
}

/**
 * A plain-text table of results, one row per benchmark and engine; failed runs show their
 * error under the table. `ratio` = baseline seconds / Shopflow seconds (1 = as fast as plain SQL).
 */
export function formatTable(results: readonly BenchResult[]): string {
  const rows = results.map((r) => columns.map((c) => cell(r[c.key])));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((s, i) => (i < 2 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ');
  const out = [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  for (const r of results) if (r.error) out.push(`${r.benchmark} on ${r.engine} FAILED: ${r.error}`);
  return out.join('\n');
}
