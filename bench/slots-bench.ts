/**
 * `slots`: `GET /v1/decide` for a targeted home banner on N people, on each engine (one fresh
 * store per engine):
 * - setup (not timed): N people with a user id, two segments (~30 % and ~55 %) written straight
 *   into segment_members, and the Double-11 banner (returning first, a women's A/B split, a 10 %
 *   holdout); the real server (buildServer) listening on loopback;
 * - timed: the decider's cold load (slots + segment bitmaps) and identity warm-up; one in-process
 *   decide per person (whose counts per variant must equal the plain-SQL answer); decides over
 *   HTTP from a client in a child process (a share of unknown visitors); an incremental sync
 *   after a refresh of ~1 % entries and exits (after which the counts must match again);
 * - baseline, in the same run: the same decision answered by one SQL query per request.
 * Every count is checked; a wrong one sets `error`.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildServer, type Server } from '../src/api/server.ts';
import { slotDecider } from '../src/api/slot-routes.ts';
import type { Progress } from '../src/cli/progress.ts';
import { createSlot, type SlotDecider, slotInputSchema } from '../src/commerce/slots/index.ts';
import { textTable } from '../src/core/text-table.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { emptyFigures } from './empty-figures.ts';
import type { BenchResult } from './index.ts';
import type { DecideChildMessage, DecideLoadOptions, DecideLoadResult } from './slots-client.ts';
import { bannerSlot, expectedCounts, generateSlotData, type SlotSegments, settle, simulateRefresh, sqlDecides } from './slots-data.ts';
import { ProcessSampler, quantile, round, secondsSince } from './stats.ts';

export const defaultSlotsUsers = 1_000_000;
export const defaultSlotsRequests = 50_000;
/** Keep-alive connections of the HTTP client: a latency measurement below saturation (2 connections per core of a small box). */
export const defaultSlotsConcurrency = 4;
/** The goal: p99 of a decide ≤ 10 ms. */
export const GOAL_P99_MS = 10;

export interface SlotsBenchOptions {
  users: number;
  engines: Engine[];
  /** Measured HTTP requests. */
  requests: number;
  concurrency: number;
  /** Requests answered by one SQL query each (the baseline). */
  baselineRequests: number;
  seed: number;
  progress: Progress;
}

/** Starts the load generator in a child process running TypeScript through tsx. */
function runClient(options: DecideLoadOptions, progress: Progress): Promise<DecideLoadResult> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const file = fileURLToPath(new URL('./slots-client.ts', import.meta.url));
  const child: ChildProcess = fork(file, [], { execArgv: ['--import', tsx], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  progress.start('decide over HTTP', options.warmup + options.requests);
  const run = new Promise<DecideLoadResult>((resolve, reject) => {
    child.on('message', (m: DecideChildMessage) => {
      if (m.type === 'progress') return progress.update(m.done);
      progress.stop();
      if (m.type === 'done') resolve(m.result);
      else reject(new Error(`load generator failed: ${m.message}`));
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`load generator exited with code ${code}`)));
    child.send({ type: 'start', options });
  });
  return run.catch((err: unknown) => {
    child.kill();
    throw err;
  });
}

/** One decide per person u1..uN, in process: counts per variant and each call's milliseconds. */
async function decideEveryone(decider: SlotDecider, ws: number, users: number, progress: Progress, label: string) {
  const counts: Record<string, number> = {};
  const ms = new Float64Array(users);
  const step = Math.max(1, Math.floor(users / 100));
  progress.start(label, users);
  const started = performance.now();
  for (let k = 1; k <= users; k++) {
    const t = performance.now();
    const d = await decider.decide(ws, 'home_banner', { userId: `u${k}` });
    ms[k - 1] = performance.now() - t;
    const v = String(d.variant);
    counts[v] = (counts[v] ?? 0) + 1;
    if (k % step === 0) progress.update(k);
  }
  const seconds = secondsSince(started);
  progress.stop();
  ms.sort();
  return { counts, seconds, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), max: quantile(ms, 1) };
}

const sameCounts = (a: Record<string, number>, b: Record<string, number>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

async function runEngine(engine: Engine, o: SlotsBenchOptions): Promise<Record<string, unknown>> {
  const bs = await benchStore(engine);
  let server: Server | null = null;
  try {
    const store = bs.store;
    const now = bs.clock.now();
    const keys = await createWorkspace(store, 'bench', now);
    const ws = keys.workspaceId;
    const gen = performance.now();
    const seg: SlotSegments = await generateSlotData(store, ws, o.users, now, o.progress);
    await settle(store);
    // Identities were written behind the store's identity cache: reload it, as an import does.
    await store.identityCache?.reload(store);
    const generationSeconds = secondsSince(gen);
    await createSlot(store, ws, slotInputSchema.parse(bannerSlot(seg)), now);
    const [members] = await store.query<{ a: number; b: number }>(
      'SELECT sum(CASE WHEN segment_id = $2 THEN 1 ELSE 0 END) AS a, sum(CASE WHEN segment_id = $3 THEN 1 ELSE 0 END) AS b FROM segment_members WHERE workspace_id = $1',
      [ws, seg.returning, seg.women],
    );
    const expected = await expectedCounts(store, ws, seg);

    server = await buildServer({ store, clock: bs.clock, ingest: { maxEvents: 5000, maxDelayMs: 2 }, logLevel: 'warn' });
    const decider = slotDecider(server.app);
    let t = performance.now();
    await decider.load(ws);
    const loadSeconds = secondsSince(t);
    t = performance.now();
    await decider.warmPersons(ws);
    const warmSeconds = secondsSince(t);
    const url = await server.app.listen({ port: 0, host: '127.0.0.1' });

    const errors: string[] = [];
    const inProcess = await decideEveryone(decider, ws, o.users, o.progress, 'decide in-process');
    if (!sameCounts(inProcess.counts, expected))
      errors.push(`in-process counts ${JSON.stringify(inProcess.counts)} ≠ SQL ${JSON.stringify(expected)}`);

    // Other work on the machine shows in the latencies: the load average goes into the result.
    const loadAvg1m = round(loadavg()[0] ?? 0);
    const sampler = new ProcessSampler();
    const http = await runClient(
      {
        url,
        writeKey: keys.writeKey,
        slot: 'home_banner',
        users: o.users,
        requests: o.requests,
        warmup: Math.min(2000, o.requests),
        concurrency: o.concurrency,
        unknownPerMille: 50,
        seed: o.seed,
      },
      o.progress,
    );
    const sampled = sampler.stop();
    if (http.failed > 0) errors.push(`${http.failed} HTTP requests failed, first: ${http.firstError}`);
    const answered = Object.values(http.variants).reduce((s, n) => s + n, 0);
    if (answered !== o.requests) errors.push(`${answered} HTTP answers for ${o.requests} requests`);

    // The baseline, on people spread over the whole key range; its answers must agree with the decider's.
    const sample = Array.from({ length: o.baselineRequests }, (_, i) => `u${1 + Math.floor(((i + 0.5) * o.users) / o.baselineRequests)}`);
    o.progress.start('SQL baseline', 1);
    const baseline = await sqlDecides(store, ws, seg, sample);
    o.progress.stop();
    for (const [i, userId] of sample.entries()) {
      const d = await decider.decide(ws, 'home_banner', { userId });
      if (String(d.variant) !== baseline.variants[i]) {
        errors.push(`${userId}: decider ${d.variant}, SQL ${baseline.variants[i]}`);
        break;
      }
    }
    const sqlMs = Float64Array.from(baseline.ms).sort();

    // Incremental: a refresh with ~1 % entries and exits, then one sync. The server's background
    // sync (every second) stops first: it could take the refresh's changes before the timed one.
    await decider.stop();
    const changes = await simulateRefresh(store, ws, seg.returning, o.users, now);
    t = performance.now();
    const [sync] = await decider.sync();
    const syncMs = performance.now() - t;
    if (sync?.changes !== changes) errors.push(`sync applied ${sync?.changes} changes, the refresh wrote ${changes}`);
    const after = await decideEveryone(decider, ws, o.users, o.progress, 'decide after refresh');
    const expectedAfter = await expectedCounts(store, ws, seg);
    if (!sameCounts(after.counts, expectedAfter))
      errors.push(`counts after the refresh ${JSON.stringify(after.counts)} ≠ SQL ${JSON.stringify(expectedAfter)}`);

    const stats = decider.stats();
    const inProcMean = inProcess.seconds / o.users;
    const sqlSeconds = baseline.ms.reduce((s, x) => s + x, 0) / 1000;
    return {
      ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
      events: o.requests,
      seconds: round(http.seconds, 3),
      eventsPerSecond: round(o.requests / http.seconds, 0),
      p50Ms: round(http.p50Ms, 3),
      p95Ms: round(http.p95Ms, 3),
      p99Ms: round(http.p99Ms, 3),
      maxMs: round(http.maxMs, 2),
      baselineSeconds: round(sqlSeconds, 3),
      ratio: round(sqlSeconds / o.baselineRequests / inProcMean, 0),
      peakRssMb: sampled.peakRssMb,
      users: o.users,
      returningMembers: Number(members?.a ?? 0),
      womenMembers: Number(members?.b ?? 0),
      variants: inProcess.counts,
      httpVariants: http.variants,
      concurrency: o.concurrency,
      generationSeconds: round(generationSeconds, 1),
      loadSeconds: round(loadSeconds, 3),
      warmSeconds: round(warmSeconds, 3),
      inProcessP50Us: round((inProcess.p50 ?? 0) * 1000, 1),
      inProcessP99Us: round((inProcess.p99 ?? 0) * 1000, 1),
      inProcessMaxMs: round(inProcess.max, 2),
      inProcessPerSecond: round(o.users / inProcess.seconds, 0),
      sqlRequests: o.baselineRequests,
      sqlP50Ms: round(quantile(sqlMs, 0.5), 3),
      sqlP99Ms: round(quantile(sqlMs, 0.99), 3),
      syncChanges: changes,
      syncMs: round(syncMs, 1),
      bitmapKb: Math.round(stats.bitmapBytes / 1024),
      identitiesInIndex: stats.identities,
      cpuPct: sampled.cpuPct,
      loopDelayP99Ms: sampled.loopDelayP99Ms,
      loadAvg1m,
      goalMet: http.p99Ms !== null && http.p99Ms <= GOAL_P99_MS && (inProcess.p99 ?? 0) <= GOAL_P99_MS,
    };
  } finally {
    await server?.close();
    await bs.dispose();
  }
}

/** Runs on each engine in turn; a failure becomes a row with `error`. */
export async function runSlotsBenchmark(o: SlotsBenchOptions): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const engine of o.engines) {
    try {
      const figures = await runEngine(engine, o);
      results.push({ benchmark: 'slots', engine, ...emptyFigures, ...figures, events: o.requests });
    } catch (err) {
      results.push({ benchmark: 'slots', engine, ...emptyFigures, events: o.requests, error: (err as Error).message ?? String(err) });
    }
  }
  return results;
}

const columns: { key: string; title: string }[] = [
  { key: 'engine', title: 'engine' },
  { key: 'users', title: 'people' },
  { key: 'inProcessP50Us', title: 'in-proc p50 µs' },
  { key: 'inProcessP99Us', title: 'in-proc p99 µs' },
  { key: 'p50Ms', title: 'HTTP p50 ms' },
  { key: 'p95Ms', title: 'HTTP p95 ms' },
  { key: 'p99Ms', title: 'HTTP p99 ms' },
  { key: 'eventsPerSecond', title: 'HTTP req/s' },
  { key: 'sqlP50Ms', title: 'SQL p50 ms' },
  { key: 'sqlP99Ms', title: 'SQL p99 ms' },
  { key: 'ratio', title: 'SQL/memory' },
  { key: 'loadSeconds', title: 'load s' },
  { key: 'syncMs', title: 'sync ms' },
  { key: 'peakRssMb', title: 'peak RSS MB' },
  { key: 'goalMet', title: 'p99≤10ms' },
];

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
  return String(v);
}

/**
 * The `slots` rows: decide latency in process and over HTTP (client in a child process, a
 * `concurrency` of keep-alive connections), the per-request SQL baseline, `SQL/memory` = mean SQL
 * decide / mean in-process decide, the cold load and the incremental sync.
 */
export function formatSlotsTable(results: readonly BenchResult[]): string {
  const rows = results.filter((r) => r.benchmark === 'slots');
  const out = textTable(
    columns.map((c) => c.title),
    rows.map((r) => columns.map((c) => cell(r[c.key]))),
    { align: columns.map((_, i) => (i < 1 ? 'left' : 'right')) },
  );
  for (const r of rows) {
    if (r.error) {
      out.push(`slots on ${r.engine} FAILED: ${r.error}`);
      continue;
    }
    out.push(
      `${r.engine}: ${cell(r.events)} HTTP decides at concurrency ${cell(r.concurrency)}; segments of ${cell(r.returningMembers)} and ` +
        `${cell(r.womenMembers)} members; generated in ${cell(r.generationSeconds)} s; identities warmed in ${cell(r.warmSeconds)} s; ` +
        `sync of ${cell(r.syncChanges)} changes in ${cell(r.syncMs)} ms; bitmaps ${cell(r.bitmapKb)} KB; machine load ${cell(r.loadAvg1m)}`,
    );
  }
  return out.join('\n');
}
