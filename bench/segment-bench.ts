/**
 * `segments`: audiences on a generated shop (default 1M people / 50M events), per engine in the
 * same run. For each segment: the compiled query (count of members) against a hand-written
 * query for the same question, `estimateSegment`, a full `refreshSegment`, and an incremental
 * refresh after 10,000 new events. A count that differs from the hand-written one (or a
 * membership that differs from a fresh evaluation after the incremental refresh) fails the run.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Progress } from '../src/cli/progress.ts';
import { compileSegment, createSegment, estimateSegment, refreshSegment, segmentInputSchema } from '../src/segments/index.ts';
import type { Store } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { emptyFigures } from './empty-figures.ts';
import type { BenchResult } from './index.ts';
import { appendRecentEvents, generateSegmentData } from './segment-data.ts';
import { segmentCases } from './segment-queries.ts';
import { ProcessSampler, round } from './stats.ts';

export interface SegmentsBenchOptions {
  users: number;
  events: number;
  engines: Engine[];
  seed: number;
  progress: Progress;
  /** Timed runs per query after one warm-up (the median is reported). */
  runs?: number;
  /** New events before the incremental refresh. */
  newEvents?: number;
}

/** The evaluation instant: fixed, so both engines generate the same rows and count the same members. */
export const SEGMENTS_NOW = Date.UTC(2026, 0, 1);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

async function count(store: Store, sql: string, params: readonly unknown[]): Promise<number> {
  const [row] = await store.query<{ n: number }>(sql, params as never);
  return Number(row?.n ?? 0);
}

/** Warm-up, then `runs` alternating runs of both queries (so drift and caching hit both alike). */
async function compare(a: () => Promise<number>, b: () => Promise<number>, runs: number) {
  const counts = [await a(), await b()];
  const ta: number[] = [];
  const tb: number[] = [];
  for (let r = 0; r < runs; r++) {
    ta.push((await timed(a)).ms);
    tb.push((await timed(b)).ms);
  }
  return { countA: counts[0]!, countB: counts[1]!, msA: median(ta), msB: median(tb) };
}

type Row = Record<string, unknown> & { segment: string; error?: string };

async function runEngine(engine: Engine, o: SegmentsBenchOptions): Promise<{ rows: Row[]; common: Record<string, unknown> }> {
  const bs = await benchStore(engine);
  const { store } = bs;
  const runs = o.runs ?? 3;
  const now = SEGMENTS_NOW;
  try {
    const genSampler = new ProcessSampler();
    const ws = (await createWorkspace(store, 'bench-segments', now)).workspaceId;
    const data = await generateSegmentData(store, ws, { users: o.users, events: o.events, now, seed: o.seed, progress: o.progress });
    const genRss = genSampler.stop().peakRssMb;
    process.stderr.write(
      `segments/${engine}: generated ${data.events} events, ${data.items} lines in ${data.generationSeconds.toFixed(1)} s\n`,
    );
    const sampler = new ProcessSampler();
    const rows: Row[] = [];
    const ids: number[] = [];
    for (const c of segmentCases) {
      const compiled = compileSegment(c.definition, { dialect: store.dialect, workspaceId: ws, now });
      const hand = c.hand(store.dialect, ws, now);
      const q = await compare(
        () => count(store, `SELECT count(*) AS n FROM (${compiled.sql}) m`, compiled.params),
        () => count(store, hand.sql, hand.params),
        runs,
      );
      const est: number[] = [];
      let estimated = -1;
      for (let r = 0; r < runs; r++) {
        const e = await timed(() => estimateSegment(store, ws, c.definition, now, 10));
        est.push(e.ms);
        estimated = e.value.size;
      }
      const input = segmentInputSchema.parse({ name: `bench ${c.key}`, definition: c.definition, refresh: { mode: 'manual' } });
      const seg = await createSegment(store, ws, input, now);
      ids.push(seg.segmentId);
      const full = await timed(() => refreshSegment(store, ws, seg.segmentId, now));
      const errors: string[] = [];
      if (q.countA !== q.countB) errors.push(`compiled counts ${q.countA} members, hand-written ${q.countB}`);
      if (estimated !== q.countA) errors.push(`estimate says ${estimated}, compiled count ${q.countA}`);
      if (full.value.entered !== q.countA) errors.push(`full refresh entered ${full.value.entered}, expected ${q.countA}`);
      rows.push({
        segment: c.key,
        members: q.countA,
        handMembers: q.countB,
        compiledMs: round(q.msA, 1),
        handMs: round(q.msB, 1),
        compiledOverHand: round(q.msA / q.msB, 2),
        estimateMs: round(median(est), 1),
        fullRefreshMs: round(full.ms, 1),
        // Other work on the machine while this segment was timed (2 cores: above ~2 the figures are inflated).
        loadAvg1m: round(loadavg()[0] ?? 0),
        ...(errors.length ? { error: errors.join('; ') } : {}),
      });
      process.stderr.write(
        `segments/${engine}: ${c.key} ${q.countA} members, compiled ${q.msA.toFixed(0)} ms, hand ${q.msB.toFixed(0)} ms\n`,
      );
    }
    // Incremental: new events for ~10,000 people, then re-evaluate only them.
    const newEvents = o.newEvents ?? 10_000;
    const appended = await timed(() => appendRecentEvents(store, ws, { count: newEvents, users: o.users, now, seed: o.seed }));
    const keys = appended.value;
    for (const [n, c] of segmentCases.entries()) {
      const row = rows[n]!;
      const inc = await timed(() => refreshSegment(store, ws, ids[n]!, now, { userKeys: keys }));
      const compiled = compileSegment(c.definition, { dialect: store.dialect, workspaceId: ws, now });
      const fresh = await count(store, `SELECT count(*) AS n FROM (${compiled.sql}) m`, compiled.params);
      const hand = c.hand(store.dialect, ws, now);
      const freshHand = await count(store, hand.sql, hand.params);
      Object.assign(row, {
        incrementalMs: round(inc.ms, 1),
        incEntered: inc.value.entered,
        incExited: inc.value.exited,
        membersAfter: inc.value.size,
      });
      const errors: string[] = [];
      if (inc.value.size !== fresh) errors.push(`after the incremental refresh ${inc.value.size} members, a fresh evaluation ${fresh}`);
      if (fresh !== freshHand) errors.push(`after new events compiled counts ${fresh}, hand-written ${freshHand}`);
      if (errors.length) row.error = [row.error, ...errors].filter(Boolean).join('; ');
    }
    const sampled = sampler.stop();
    const common = {
      users: o.users,
      events: o.events,
      items: data.items,
      generationSeconds: round(data.generationSeconds, 1),
      newEvents,
      newEventPeople: keys.length,
      appendMs: round(appended.ms, 1),
      generationPeakRssMb: genRss,
      peakRssMb: sampled.peakRssMb,
    };
    return { rows, common };
  } finally {
    await bs.dispose();
  }
}

/** Runs every engine in turn; rows are per engine and segment. PostgreSQL rows are also compared with DuckDB's hand-written query. */
export async function runSegmentsBenchmark(o: SegmentsBenchOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const engine of o.engines) {
    try {
      const { rows, common } = await runEngine(engine, o);
      for (const r of rows) {
        const compiledMs = r.compiledMs as number;
        const handMs = r.handMs as number;
        results.push({
          benchmark: 'segments',
          engine,
          ...emptyFigures,
          ...common,
          events: o.events,
          ...r,
          seconds: round(compiledMs / 1000, 4),
          baselineSeconds: round(handMs / 1000, 4),
          ratio: round(handMs / compiledMs, 2),
          maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
        });
      }
    } catch (err) {
      results.push({ benchmark: 'segments', engine, events: o.events, ...emptyFigures, error: (err as Error).message ?? String(err) });
    }
  }
  // Same rows on both engines (see segment-data.ts): the member counts must agree too.
  for (const pg of results.filter((r) => r.engine === 'postgres' && r.segment)) {
    const duck = results.find((r) => r.engine === 'duckdb' && r.segment === pg.segment && r.handMs !== undefined);
    if (!duck) continue;
    pg.overDuckHand = round((pg.compiledMs as number) / (duck.handMs as number), 2);
    pg.handOverDuckHand = round((pg.handMs as number) / (duck.handMs as number), 2);
    if (pg.members !== duck.members) {
      pg.error = [pg.error, `PostgreSQL counts ${pg.members} members, DuckDB ${duck.members}`].filter(Boolean).join('; ');
    }
  }
  return results;
}
