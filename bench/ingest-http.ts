/**
 * `ingest-http`: the real server (buildServer + listen on loopback) on a fresh store, driven by
 * concurrent keep-alive clients posting `/v1/batch` requests; then the same events written by
 * the plain SQL baseline. Fails loudly unless the store holds exactly the events sent.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildServer } from '../src/api/server.ts';
import type { Progress } from '../src/cli/progress.ts';
import { parseConfig } from '../src/core/config.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { type PlainRows, plainRowsOf, plainWrite } from './baseline.ts';
import { type BenchStore, countEvents } from './bench-store.ts';
import { PhaseProfiler } from './cpu-profile.ts';
import { EventGenerator, type GenOptions } from './gen-events.ts';
import type { ChildMessage, LoadOptions, LoadResult, ParentMessage } from './load-client.ts';
import { ProcessSampler, round } from './stats.ts';
import { StoreTrace } from './store-trace.ts';

export interface IngestHttpOptions {
  events: number;
  users: number;
  batchSize: number;
  concurrency: number;
  seed: number;
  progress: Progress;
  /** Write a CPU profile of the sending phase into this folder (and a summary to stderr). */
  cpuProfileDir?: string;
  /** Time every statement of the write path and print a breakdown to stderr. */
  traceSql?: boolean;
}

/** Starts the load generator in a child process running TypeScript through tsx. */
function startClient(): ChildProcess {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const file = fileURLToPath(new URL('./load-client.ts', import.meta.url));
  return fork(file, [], { execArgv: ['--import', tsx], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Runs the client through generate → ready → go → done, relaying its progress. */
function runClient(options: LoadOptions, progress: Progress, onReady: () => Promise<void>): Promise<LoadResult> {
  const child = startClient();
  let phase = '';
  const tell = (m: ParentMessage) => child.send(m);
  const run = new Promise<LoadResult>((resolve, reject) => {
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') {
        if (m.phase !== phase) {
          if (phase) progress.stop();
          phase = m.phase;
          progress.start(m.phase === 'generate' ? 'generate requests' : 'send requests', m.total);
        }
        progress.update(m.done);
      } else if (m.type === 'ready') {
        progress.stop();
        phase = '';
        onReady().then(() => tell({ type: 'go' }), reject);
      } else if (m.type === 'done') {
        progress.stop();
        resolve(m.result);
      } else {
        progress.stop();
        reject(new Error(`load generator failed: ${m.message}`));
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`load generator exited with code ${code}`)));
    tell({ type: 'start', options });
  });
  // A failed run must not leave the client waiting for 'go' (it would keep this process alive).
  return run.catch((err: unknown) => {
    child.kill();
    throw err;
  });
}

/** Replays the generator into plain rows, `chunk` events at a time. */
function* plainChunks(gen: GenOptions, events: number, chunk: number, workspaceId: number, receivedAt: number): Generator<PlainRows> {
  const g = new EventGenerator(gen);
  for (let done = 0; done < events; ) {
    const out: PlainRows = { events: [], items: [] };
    const n = Math.min(chunk, events - done);
    for (let i = 0; i < n; i++) {
      const e = g.next();
      plainRowsOf(e.raw, e.personKey, workspaceId, receivedAt, out);
    }
    done += n;
    yield out;
  }
}

export async function ingestHttp(bs: BenchStore, o: IngestHttpOptions): Promise<Record<string, unknown>> {
  const config = parseConfig({ logLevel: 'silent' }, {});
  const ingest = { maxEvents: config.ingestMaxEvents, maxDelayMs: config.ingestMaxDelayMs };
  const ws = await createWorkspace(bs.store, 'bench', bs.clock.now());
  const trace = o.traceSql ? new StoreTrace() : null;
  const server = await buildServer({ store: trace ? trace.wrap(bs.store) : bs.store, clock: bs.clock, ingest, logLevel: 'silent' });
  let load: LoadResult;
  let sampled: ReturnType<ProcessSampler['stop']>;
  let stored: number;
  let loadAvg: number | null = null;
  const gen: GenOptions = { seed: o.seed, users: o.users, startAt: bs.clock.now() - 3_600_000 };
  try {
    const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
    let sampler: ProcessSampler | null = null;
    let profiler: PhaseProfiler | null = null;
    load = await runClient(
      { url, writeKey: ws.writeKey, events: o.events, batchSize: o.batchSize, concurrency: o.concurrency, gen },
      o.progress,
      async () => {
        loadAvg = round(loadavg()[0] ?? 0);
        if (o.cpuProfileDir) profiler = await PhaseProfiler.start();
        sampler = new ProcessSampler();
        trace?.begin();
      },
    );
    if (trace) process.stderr.write(`${trace.summary()}\n`);
    sampled = (sampler as ProcessSampler | null)?.stop() ?? { peakRssMb: 0, cpuPct: 0, eventLoopUtilization: 0, loopDelayP99Ms: 0 };
    const p = profiler as PhaseProfiler | null;
    if (p && o.cpuProfileDir) process.stderr.write(`${await p.stop(o.cpuProfileDir, `ingest-http-${bs.engine}`)}\n`);
    await server.ingest.flush();
    stored = await countEvents(bs.store, ws.workspaceId);
  } finally {
    await server.close();
  }
  if (load.failedRequests > 0) throw new Error(`${load.failedRequests} of ${load.requests} requests failed; first: ${load.firstError}`);
  if (stored !== o.events || load.stored !== o.events) {
    throw new Error(
      `store holds ${stored} events (acknowledged as stored: ${load.stored}, duplicates: ${load.duplicates}), expected exactly ${o.events}`,
    );
  }
  const [merges] = await bs.store.query<{ n: number }>('SELECT count(*) AS n FROM identity_merges');
  const [people] = await bs.store.query<{ n: number }>('SELECT count(*) AS n FROM users WHERE merged_into IS NULL');

  const baselineSeconds = await plainWrite(bs.engine, bs, plainChunks(gen, o.events, ingest.maxEvents, ws.workspaceId, bs.clock.now()));
  return {
    events: o.events,
    seconds: round(load.seconds, 3),
    eventsPerSecond: Math.round(o.events / load.seconds),
    requestsPerSecond: round(load.requests / load.seconds, 1),
    p50Ms: round(load.p50Ms),
    p95Ms: round(load.p95Ms),
    p99Ms: round(load.p99Ms),
    maxMs: round(load.maxMs),
    baselineSeconds: round(baselineSeconds, 3),
    baselineEventsPerSecond: Math.round(o.events / baselineSeconds),
    ratio: round(baselineSeconds / load.seconds, 3),
    peakRssMb: sampled.peakRssMb,
    serverCpuPct: sampled.cpuPct,
    eventLoopUtilization: sampled.eventLoopUtilization,
    loopDelayP99Ms: sampled.loopDelayP99Ms,
    loadAvg1m: loadAvg,
    users: o.users,
    people: Number(people?.n ?? 0),
    merges: Number(merges?.n ?? 0),
    batchSize: o.batchSize,
    concurrency: o.concurrency,
    bytesPerEvent: Math.round(load.bytes / o.events),
  };
}
