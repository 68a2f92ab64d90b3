import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Progress } from '../../cli/progress.ts';
import { storableJson } from '../../core/storable-text.ts';
import type { SqlExecutor, Store } from '../../store/index.ts';
import { CsvSyntaxError, readCsv } from './csv-reader.ts';
import { buildFast, stageFast } from './duckdb-fast.ts';
import { lineNo, loadRawLines, parseProductLines, parseTopLevel, parseTraits } from './duckdb-parse.ts';
import type { FileScan, SliceSpan } from './file-scan.ts';
import type { ErrorLog, JsStager } from './js-stage.ts';
import { readLines } from './line-reader.ts';
import { checkHeader, csvRow, profileToIdentify, type RowKind } from './row-mapping.ts';

export interface StageInput {
  kind: Exclude<RowKind, 'products'>;
  file: string;
  format: 'ndjson' | 'csv';
  /** Lines (CSV: records) staged and written at a time; see events-import.ts. */
  sliceLines: number;
}

/** IANA zone names every Intl accepts: the SQL path checks traits.timezone against these. */
const knownTimeZones = (): string[] => [...Intl.supportedValuesOf('timeZone'), 'UTC'];

/**
 * DuckDB reads a plain NDJSON file of events itself; the SQL path stages the lines it is sure
 * of, and the remaining lines (rare shapes, invalid lines) are read back and go through JS.
 * `file` holds exactly the lines of `slice` (the import's file itself when it is one slice).
 */
async function stageNative(
  tx: SqlExecutor,
  file: string,
  slice: SliceSpan,
  scan: FileScan,
  stager: JsStager,
  now: number,
  progress: Progress,
  label: string,
): Promise<boolean> {
  const steps = ['read lines', 'parse JSON', 'parse order lines', 'parse traits', 'validate', 'stage'];
  progress.start(`import: SQL validation${label}`, steps.length);
  const { lines, checksum } = await loadRawLines(tx, file, scan.longestLine);
  // Line numbers come from row order: only sound if DuckDB kept every line, in order. If not
  // (never seen), the slice is read line by line instead.
  if (lines !== slice.lines || checksum !== slice.checksum) {
    await tx.query('DROP TABLE imp_raw');
    progress.stop();
    return false;
  }
  progress.update(1);
  await parseTopLevel(tx, slice.first);
  progress.update(2);
  await parseProductLines(tx);
  progress.update(3);
  await parseTraits(tx);
  progress.update(4);
  await buildFast(tx, now, knownTimeZones());
  progress.update(5);
  const fast = await stageFast(tx);
  stager.rows += fast;
  progress.update(6);
  progress.stop();

  const [left] = await tx.query<{ c: number }>(
    `SELECT count(*) AS c FROM imp_raw WHERE line IS NOT NULL AND ${lineNo(slice.first)} NOT IN (SELECT n FROM imp_fast WHERE ok)`,
  );
  const rest = Number(left?.c ?? 0);
  if (rest > 0) await stageOtherLines(tx, slice, rest, stager, progress);
  // Free the memory: what is left to do only needs imp_ev, imp_claim and imp_item.
  for (const t of ['imp_raw', 'imp_p', 'imp_pi', 'imp_tr', 'imp_fast']) await tx.query(`DROP TABLE IF EXISTS ${t}`);
  return true;
}

/** The lines the SQL path left: read back a range at a time and given to normalizeEvent. */
async function stageOtherLines(tx: SqlExecutor, slice: SliceSpan, rest: number, stager: JsStager, progress: Progress): Promise<void> {
  progress.start('import: other lines (JS)', rest);
  let done = 0;
  const span = 200_000;
  const last = slice.first + slice.lines - 1;
  for (let from = slice.first; from <= last; from += span) {
    // Pages by line range, so memory stays bounded however many lines need JS. A DuckDB
    // connection runs one statement at a time: the stager's writes must be done first.
    await stager.flush();
    const rows = await tx.query<{ n: number; line: string }>(
      `SELECT n, line FROM (SELECT ${lineNo(slice.first)} AS n, line FROM imp_raw) r WHERE n BETWEEN $1 AND $2 AND line IS NOT NULL
         AND n NOT IN (SELECT n FROM imp_fast WHERE ok AND n BETWEEN $1 AND $2) ORDER BY n`,
      [from, from + span - 1],
    );
    for (const r of rows) await stager.addText(Number(r.n), storableJson(r.line));
    done += rows.length;
    progress.update(done);
  }
  await stager.flush();
  progress.stop();
}

/** Copies bytes [start, end) of `file` to `dest`: one slice as a file of its own for DuckDB's reader. */
async function copyRange(file: string, start: number, end: number, dest: string): Promise<void> {
  const [src, out] = [await open(file, 'r'), await open(dest, 'w')];
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (let pos = start; pos < end; ) {
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) throw new Error(`${file} is shorter than when it was scanned`);
      await out.write(buf, 0, bytesRead);
      pos += bytesRead;
    }
  } finally {
    await src.close();
    await out.close();
  }
}

/**
 * Calls `onSlice` (which writes what is staged) after every `size` lines or records, and once
 * at the end for the rest — at least once, so an empty file still runs the write phase.
 */
class SliceCounter {
  private since = 0;
  private written = 0;
  constructor(
    private readonly size: number,
    private readonly stager: JsStager,
    private readonly onSlice: () => Promise<void>,
  ) {}

  async tick(): Promise<void> {
    if (++this.since < this.size) return;
    await this.cut();
  }

  async end(): Promise<void> {
    if (this.since > 0 || this.written === 0) await this.cut();
  }

  private async cut(): Promise<void> {
    await this.stager.flush();
    await this.onSlice();
    this.since = 0;
    this.written++;
  }
}

async function stageNdjsonJs(input: StageInput, stager: JsStager, progress: Progress, bytes: number, slices: SliceCounter): Promise<void> {
  progress.start('import: read + validate', bytes);
  for await (const batch of readLines(input.file, 5000, (b) => progress.update(b))) {
    for (let i = 0; i < batch.lines.length; i++) {
      await stageNdjsonLine(input, stager, batch.first + i, batch.lines[i] ?? null);
      await slices.tick();
    }
  }
  await slices.end();
  progress.stop();
}

async function stageNdjsonLine(input: StageInput, stager: JsStager, n: number, text: string | null): Promise<void> {
  if (input.kind === 'events') {
    await stager.addText(n, text);
    return;
  }
  // Profiles: each line is a person; it becomes the identify call it stands for.
  if (text === null) {
    stager.reject(n, [{ code: 'invalid_json', message: 'not UTF-8 text', path: '' }]);
    return;
  }
  if (text.trim() === '') return;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    stager.reject(n, [{ code: 'invalid_json', message: `not valid JSON: ${(err as Error).message}`, path: '' }]);
    return;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    stager.reject(n, [{ code: 'invalid_request', message: 'must be a JSON object (one profile per line)', path: '' }]);
    return;
  }
  await stager.addObject(n, profileToIdentify(raw as Record<string, unknown>));
}

async function stageCsvJs(
  input: StageInput,
  stager: JsStager,
  errors: ErrorLog,
  progress: Progress,
  bytes: number,
  slices: SliceCounter,
): Promise<void> {
  progress.start('import: read + validate', bytes);
  let header: string[] | null = null;
  let badHeader = false;
  try {
    for await (const records of readCsv(input.file, (b) => progress.update(b))) {
      for (const rec of records) {
        if (header === null) {
          header = rec.cells.map((c) => c.trim());
          const problems = checkHeader(input.kind, header);
          if (problems.length) {
            errors.add(
              rec.line,
              problems.map((p) => ({ ...p, path: p.path.replace(/^line 1:? ?/, '') })),
            );
            badHeader = true;
            break;
          }
          continue;
        }
        if (!rec.cells.every((c) => c.trim() === '')) {
          const mapped = csvRow(input.kind, header, rec.cells);
          if (mapped.ok) await stager.addObject(rec.line, mapped.value);
          else stager.reject(rec.line, mapped.errors);
        }
        await slices.tick();
      }
      if (badHeader) break;
    }
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    stager.rows++;
    errors.add(err.line, [{ code: 'invalid_request', message: err.message, path: '' }]);
  } finally {
    progress.stop();
  }
  await slices.end();
}

/**
 * Fills imp_ev / imp_claim / imp_item from the file by the fastest path the engine allows, one
 * slice of `input.sliceLines` lines (CSV: records) at a time, calling `onSlice` after each to
 * write it; onSlice leaves the staging tables empty for the next one.
 */
export async function stageFile(
  store: Store,
  tx: SqlExecutor,
  input: StageInput,
  scan: FileScan,
  stager: JsStager,
  errors: ErrorLog,
  now: number,
  progress: Progress,
  onSlice: () => Promise<void>,
): Promise<void> {
  const slices = new SliceCounter(input.sliceLines, stager, onSlice);
  if (input.format === 'csv') return stageCsvJs(input, stager, errors, progress, scan.bytes, slices);
  if (store.dialect !== 'duckdb' || input.kind !== 'events' || !scan.plain)
    return stageNdjsonJs(input, stager, progress, scan.bytes, slices);
  // DuckDB reads each slice itself: the file as is when it is one slice, else a copy of the
  // slice's bytes (its reader cannot start at an offset), deleted once read.
  const dir = scan.slices.length > 1 ? await mkdtemp(join(tmpdir(), 'shopflow-import-')) : null;
  try {
    for (const [i, slice] of scan.slices.entries()) {
      const label = scan.slices.length > 1 ? ` (slice ${i + 1}/${scan.slices.length})` : '';
      let file = input.file;
      if (dir) {
        file = join(dir, 'slice.ndjson');
        await copyRange(input.file, slice.start, slice.end, file);
      }
      const native = await stageNative(tx, file, slice, scan, stager, now, progress, label);
      if (dir) await rm(file, { force: true });
      if (!native) {
        progress.start(`import: read + validate${label}`, slice.end - slice.start);
        for await (const batch of readLines(input.file, 5000, (b) => progress.update(b), slice)) {
          for (const [j, text] of batch.lines.entries()) await stageNdjsonLine(input, stager, batch.first + j, text);
        }
        progress.stop();
      }
      await stager.flush();
      await onSlice();
    }
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
