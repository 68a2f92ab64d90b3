/**
 * `import`: a generated NDJSON file of Segment events through `importFile`, against the plain
 * baseline reading the same file (DuckDB `read_json`; PostgreSQL parse + multi-row INSERT).
 */
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Progress } from '../src/cli/progress.ts';
import { importFile } from '../src/ingest/bulk/index.ts';
import { csvField } from '../src/segments/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { type PlainRows, plainRowsOf, plainWrite } from './baseline.ts';
import { type BenchStore, countEvents } from './bench-store.ts';
import { PhaseProfiler } from './cpu-profile.ts';
import { ProcessSampler, round, secondsSince } from './stats.ts';
import { StoreTrace } from './store-trace.ts';

export interface ImportBenchOptions {
  events: number;
  users: number;
  seed: number;
  progress: Progress;
  cpuProfileDir?: string;
  /** Time every statement importFile runs and print a breakdown to stderr. */
  traceSql?: boolean;
  /** The imported file's format; the baseline always reads the NDJSON form of the same events. */
  format: 'ndjson' | 'csv';
}

const cats = ['Electronics > Phones', 'Home > Kitchen', 'Fashion > Shoes', 'Beauty > Skincare', 'Sports > Outdoor'];

/** Writes `events` NDJSON lines with template strings (no JSON.stringify): ~10 s for 2M lines. */
export function generateNdjson(file: string, events: number, users: number, seed: number, progress: Progress): number {
  const fd = openSync(file, 'w');
  const start = Date.now() - 30 * 86_400_000;
  progress.start('generate ndjson', events);
  let x = seed >>> 0 || 1;
  const rand = (n: number) => {
    // xorshift32: cheap and deterministic
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  try {
    const lines: string[] = [];
    for (let i = 0; i < events; i++) {
      const u = rand(users);
      const ts = new Date(start + i * 1000).toISOString();
      const id = `"messageId":"imp-${seed}-${i}","userId":"u${u}","timestamp":"${ts}"`;
      const p = rand(5000);
      const r = rand(100);
      if (r < 5) {
        lines.push(`{"type":"identify",${id},"traits":{"email":"u${u}@example.com","first_name":"Ann","country":"CN","city":"Shanghai"}}`);
      } else if (r < 15) {
        const q = 1 + rand(3);
        const products = `[{"product_id":"p${p}","category":"${cats[p % 5]}","price":${(p % 200) + 0.99},"quantity":${q}},{"product_id":"p${(p + 7) % 5000}","category":"${cats[(p + 7) % 5]}","price":9.99,"quantity":1}]`;
        const total = ((p % 200) + 0.99) * q + 9.99;
        lines.push(
          `{"type":"track","event":"Order Completed",${id},"properties":{"order_id":"o${seed}-${i}","total":${total.toFixed(2)},"currency":"USD","products":${products}}}`,
        );
      } else {
        const ev = r < 75 ? 'Product Viewed' : 'Product Added';
        lines.push(
          `{"type":"track","event":"${ev}",${id},"properties":{"product_id":"p${p}","category":"${cats[p % 5]}","price":${(p % 200) + 0.99},"currency":"USD"},"context":{"ip":"10.0.${p % 256}.${u % 256}","locale":"en-US"}}`,
        );
      }
      if (lines.length === 10_000 || i === events - 1) {
        writeSync(fd, `${lines.join('\n')}\n`);
        lines.length = 0;
        progress.update(i + 1);
      }
    }
  } finally {
    closeSync(fd);
    progress.stop();
  }
  return statSync(file).size;
}

/** The non-empty lines of a file, read synchronously 8 MB at a time. */
function* linesOf(file: string): Generator<string> {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(8 << 20);
  let rest = '';
  try {
    for (let read = readSync(fd, buf); read > 0; read = readSync(fd, buf)) {
      const lines = (rest + buf.toString('utf8', 0, read)).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line !== '') yield line;
    }
    if (rest !== '') yield rest;
  } finally {
    closeSync(fd);
  }
}

const csvColumns = ['type', 'event', 'messageId', 'userId', 'timestamp', 'properties', 'context', 'traits'];
const csvCell = (v: unknown) => (v === undefined ? '' : csvField(typeof v === 'string' ? v : JSON.stringify(v)));

/** The generated events as CSV: a column per top-level field, objects as JSON cells. Returns its size. */
function ndjsonToCsv(ndjson: string, csv: string): number {
  const fd = openSync(csv, 'w');
  try {
    const rows: string[] = [csvColumns.join(',')];
    for (const line of linesOf(ndjson)) {
      const e = JSON.parse(line) as Record<string, unknown>;
      rows.push(csvColumns.map((c) => csvCell(e[c])).join(','));
      if (rows.length === 10_000) writeSync(fd, `${rows.splice(0).join('\n')}\n`);
    }
    if (rows.length) writeSync(fd, `${rows.join('\n')}\n`);
  } finally {
    closeSync(fd);
  }
  return statSync(csv).size;
}

/** Reads an NDJSON file as plain rows, `chunk` lines at a time, synchronously. */
function* ndjsonChunks(file: string, chunk: number, workspaceId: number): Generator<PlainRows> {
  let out: PlainRows = { events: [], items: [] };
  let n = 0;
  for (const line of linesOf(file)) {
    plainRowsOf(JSON.parse(line) as Record<string, unknown>, n++, workspaceId, Date.now(), out);
    if (out.events.length === chunk) {
      yield out;
      out = { events: [], items: [] };
    }
  }
  if (out.events.length > 0) yield out;
}

/** DuckDB: CREATE TABLE AS SELECT * FROM read_json(file) in a separate database file. */
async function duckdbReadJson(dir: string, file: string): Promise<{ seconds: number; rows: number }> {
  const instance = await DuckDBInstance.create(join(dir, 'baseline-import.duckdb'));
  const conn = await instance.connect();
  try {
    const t = performance.now();
    await conn.run(`CREATE TABLE plain_import AS SELECT * FROM read_json('${file.replace(/'/g, "''")}', format = 'newline_delimited')`);
    const seconds = secondsSince(t);
    const reader = await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM plain_import');
    return { seconds, rows: Number(reader.getRowObjectsJS()[0]?.n ?? 0) };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

export async function importBench(bs: BenchStore, o: ImportBenchOptions): Promise<Record<string, unknown>> {
  const file = join(bs.dir, 'events.ndjson');
  let bytes = generateNdjson(file, o.events, o.users, o.seed, o.progress);
  const imported = o.format === 'csv' ? join(bs.dir, 'events.csv') : file;
  if (o.format === 'csv') bytes = ndjsonToCsv(file, imported);
  const ws = await createWorkspace(bs.store, 'bench-import', bs.clock.now());
  // The baseline first (the file is in the page cache for both), so it is known even if
  // importFile fails.
  let baselineSeconds: number;
  if (bs.engine === 'duckdb') {
    const b = await duckdbReadJson(bs.dir, file);
    if (b.rows !== o.events) throw new Error(`read_json baseline read ${b.rows} rows, expected ${o.events}`);
    baselineSeconds = b.seconds;
  } else {
    const t0 = performance.now();
    await plainWrite(bs.engine, bs, ndjsonChunks(file, 5000, ws.workspaceId));
    baselineSeconds = secondsSince(t0); // end to end: read, parse, insert
  }
  const loadAvg1m = round(loadavg()[0] ?? 0);
  const profiler = o.cpuProfileDir ? await PhaseProfiler.start() : null;
  const trace = o.traceSql ? new StoreTrace() : null;
  const sampler = new ProcessSampler();
  const t = performance.now();
  let summary: Awaited<ReturnType<typeof importFile>>;
  try {
    summary = await importFile(
      trace ? trace.wrap(bs.store) : bs.store,
      bs.clock,
      ws.workspaceId,
      { kind: 'events', file: imported, format: o.format, skipInvalid: false },
      o.progress,
    );
  } catch (err) {
    const base = `baseline: ${o.events} events in ${baselineSeconds.toFixed(2)} s`;
    throw new Error(`importFile failed: ${(err as Error).message ?? String(err)} (${base})`);
  } finally {
    o.progress.stop();
  }
  const seconds = secondsSince(t);
  const sampled = sampler.stop();
  if (trace) process.stderr.write(`${trace.summary()}\n`);
  if (profiler && o.cpuProfileDir) process.stderr.write(`${await profiler.stop(o.cpuProfileDir, `import-${bs.engine}`)}\n`);
  const stored = await countEvents(bs.store, ws.workspaceId);
  if (stored !== o.events || summary.stored !== o.events) {
    throw new Error(
      `store holds ${stored} events (import summary: ${JSON.stringify({ ...summary, errors: summary.errors.slice(0, 3) })}), expected exactly ${o.events}`,
    );
  }
  return {
    events: o.events,
    seconds: round(seconds, 3),
    eventsPerSecond: Math.round(o.events / seconds),
    mbPerSecond: round(bytes / 2 ** 20 / seconds, 1),
    p50Ms: null,
    p95Ms: null,
    p99Ms: null,
    baselineSeconds: round(baselineSeconds, 3),
    baselineEventsPerSecond: Math.round(o.events / baselineSeconds),
    ratio: round(baselineSeconds / seconds, 3),
    peakRssMb: sampled.peakRssMb,
    serverCpuPct: sampled.cpuPct,
    eventLoopUtilization: sampled.eventLoopUtilization,
    loopDelayP99Ms: sampled.loopDelayP99Ms,
    loadAvg1m,
    users: o.users,
    format: o.format,
    fileMb: round(bytes / 2 ** 20, 1),
    bytesPerEvent: Math.round(bytes / o.events),
  };
}
