import { textTable } from '../src/core/text-table.ts';
import type { BenchResult } from './index.ts';

const columns: { key: string; title: string }[] = [
  { key: 'engine', title: 'engine' },
  { key: 'segment', title: 'segment' },
  { key: 'users', title: 'users' },
  { key: 'events', title: 'events' },
  { key: 'members', title: 'members' },
  { key: 'compiledMs', title: 'compiled ms' },
  { key: 'handMs', title: 'hand ms' },
  { key: 'compiledOverHand', title: 'compiled/hand' },
  { key: 'overDuckHand', title: 'vs DuckDB hand' },
  { key: 'estimateMs', title: 'estimate ms' },
  { key: 'fullRefreshMs', title: 'full refresh ms' },
  { key: 'incrementalMs', title: 'incremental ms' },
  { key: 'incEntered', title: 'inc +' },
  { key: 'incExited', title: 'inc -' },
  { key: 'peakRssMb', title: 'peak RSS MB' },
  { key: 'loadAvg1m', title: 'load' },
];

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
  return String(v);
}

/**
 * The `segments` rows as a table: one line per engine and segment, `compiled/hand` = compiled ms /
 * hand-written ms (1 = as fast, above 1 = slower); `vs DuckDB hand` = PostgreSQL compiled ms /
 * DuckDB hand-written ms. Generation time and failures are listed under it.
 */
export function formatSegmentTable(results: readonly BenchResult[]): string {
  const seg = results.filter((r) => r.benchmark === 'segments');
  const withSegment = seg.filter((r) => r.segment !== undefined);
  const out = textTable(
    columns.map((c) => c.title),
    withSegment.map((r) => columns.map((c) => cell(r[c.key]))),
    { align: columns.map((_, i) => (i < 2 ? 'left' : 'right')) },
  );
  for (const engine of new Set(withSegment.map((r) => r.engine))) {
    const r = withSegment.find((x) => x.engine === engine)!;
    out.push(
      `${engine}: generated ${cell(r.users)} people, ${cell(r.events)} events, ${cell(r.items)} product lines in ${cell(r.generationSeconds)} s ` +
        `(peak RSS ${cell(r.generationPeakRssMb)} MB); ${cell(r.newEvents)} new events for ${cell(r.newEventPeople)} people appended in ${cell(r.appendMs)} ms`,
    );
  }
  for (const r of seg) if (r.error) out.push(`segments ${r.segment ?? ''} on ${r.engine} FAILED: ${r.error}`);
  return out.join('\n');
}
