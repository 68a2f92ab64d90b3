import type { Progress } from '../../cli/progress.ts';
import type { SqlExecutor, Store } from '../../store/index.ts';
import { CsvSyntaxError, readCsv } from './csv-reader.ts';
import { buildFast, stageFast } from './duckdb-fast.ts';
import { lineNo, loadRawLines, parseProperties, parseTopLevel, parseTraits } from './duckdb-parse.ts';
import type { FileScan } from './file-scan.ts';
import type { ErrorLog, JsStager } from './js-stage.ts';
import { readLines } from './line-reader.ts';
import { checkHeader, csvRow, profileToIdentify, type RowKind } from './row-mapping.ts';

export interface StageInput {
  kind: Exclude<RowKind, 'products'>;
  file: string;
  format: 'ndjson' | 'csv';
}

/** IANA zone names every Intl accepts: the SQL path checks traits.timezone against these. */
const knownTimeZones = (): string[] => [...Intl.supportedValuesOf('timeZone'), 'UTC'];

/**
 * DuckDB reads a plain NDJSON file of events itself; the SQL path stages the lines it is sure
 * of, and the remaining lines (rare shapes, invalid lines) are read back and go through JS.
 */
async function stageNative(
  tx: SqlExecutor,
  input: StageInput,
  scan: FileScan,
  stager: JsStager,
  now: number,
  progress: Progress,
): Promise<boolean> {
  const steps = ['read lines', 'parse JSON', 'parse properties', 'parse traits', 'validate', 'stage'];
  progress.start('import: SQL validation', steps.length);
  const { lines, checksum } = await loadRawLines(tx, input.file, scan.longestLine);
  // Line numbers come from row order: only sound if DuckDB kept every line, in order. If not
  // (never seen), the file is read line by line instead.
  if (lines !== scan.lines || checksum !== scan.lineChecksum) {
    await tx.query('DROP TABLE imp_raw');
    progress.stop();
    return false;
  }
  progress.update(1);
  await parseTopLevel(tx);
  progress.update(2);
  await parseProperties(tx);
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
    `SELECT count(*) AS c FROM imp_raw WHERE line IS NOT NULL AND ${lineNo} NOT IN (SELECT n FROM imp_fast WHERE ok)`,
  );
  const rest = Number(left?.c ?? 0);
  if (rest > 0) await stageOtherLines(tx, lines, rest, stager, progress);
  // Free the memory: what is left to do only needs imp_ev, imp_claim and imp_item.
  for (const t of ['imp_raw', 'imp_p', 'imp_pp', 'imp_pi', 'imp_tr', 'imp_fast']) await tx.query(`DROP TABLE IF EXISTS ${t}`);
  return true;
}

/** The lines the SQL path left: read back a range at a time and given to normalizeEvent. */
async function stageOtherLines(tx: SqlExecutor, lines: number, rest: number, stager: JsStager, progress: Progress): Promise<void> {
  progress.start('import: other lines (JS)', rest);
  let done = 0;
  const span = 200_000;
  for (let from = 1; from <= lines; from += span) {
    // Pages by line range, so memory stays bounded however many lines need JS. A DuckDB
    // connection runs one statement at a time: the stager's writes must be done first.
    await stager.flush();
    const rows = await tx.query<{ n: number; line: string }>(
      `SELECT n, line FROM (SELECT ${lineNo} AS n, line FROM imp_raw) r WHERE n BETWEEN $1 AND $2 AND line IS NOT NULL
         AND n NOT IN (SELECT n FROM imp_fast WHERE ok AND n BETWEEN $1 AND $2) ORDER BY n`,
      [from, from + span - 1],
    );
    for (const r of rows) await stager.addText(Number(r.n), r.line);
    done += rows.length;
    progress.update(done);
  }
  await stager.flush();
  progress.stop();
}

async function stageNdjsonJs(input: StageInput, stager: JsStager, progress: Progress, bytes: number): Promise<void> {
  progress.start('import: read + validate', bytes);
  for await (const batch of readLines(input.file, 5000, (b) => progress.update(b))) {
    for (let i = 0; i < batch.lines.length; i++) {
      const n = batch.first + i;
      const text = batch.lines[i] ?? null;
      if (input.kind === 'events') {
        await stager.addText(n, text);
        continue;
      }
      // Profiles: each line is a person; it becomes the identify call it stands for.
      if (text === null) {
        stager.reject(n, [{ code: 'invalid_json', message: 'not UTF-8 text', path: '' }]);
        continue;
      }
      if (text.trim() === '') continue;
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        stager.reject(n, [{ code: 'invalid_json', message: `not valid JSON: ${(err as Error).message}`, path: '' }]);
        continue;
      }
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        stager.reject(n, [{ code: 'invalid_request', message: 'must be a JSON object (one profile per line)', path: '' }]);
        continue;
      }
      await stager.addObject(n, profileToIdentify(raw as Record<string, unknown>));
    }
  }
  await stager.flush();
  progress.stop();
}

async function stageCsvJs(input: StageInput, stager: JsStager, errors: ErrorLog, progress: Progress, bytes: number): Promise<void> {
  progress.start('import: read + validate', bytes);
  let header: string[] | null = null;
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
            return;
          }
          continue;
        }
        if (rec.cells.every((c) => c.trim() === '')) continue;
        const mapped = csvRow(input.kind, header, rec.cells);
        if (mapped.ok) await stager.addObject(rec.line, mapped.value);
        else stager.reject(rec.line, mapped.errors);
      }
    }
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    stager.rows++;
    errors.add(err.line, [{ code: 'invalid_request', message: err.message, path: '' }]);
  } finally {
    progress.stop();
  }
  await stager.flush();
}

/** Fills imp_ev / imp_claim / imp_item from the file by the fastest path the engine allows. */
export async function stageFile(
  store: Store,
  tx: SqlExecutor,
  input: StageInput,
  scan: FileScan,
  stager: JsStager,
  errors: ErrorLog,
  now: number,
  progress: Progress,
): Promise<void> {
  if (input.format === 'csv') return stageCsvJs(input, stager, errors, progress, scan.bytes);
  if (store.dialect === 'duckdb' && input.kind === 'events' && scan.plain && (await stageNative(tx, input, scan, stager, now, progress)))
    return;
  return stageNdjsonJs(input, stager, progress, scan.bytes);
}
