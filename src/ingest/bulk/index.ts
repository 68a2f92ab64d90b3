import { existsSync, statSync } from 'node:fs';
import type { Progress } from '../../cli/progress.ts';
import type { Clock } from '../../core/clock.ts';
import { AppError, type ErrorBody } from '../../core/errors.ts';
import type { Store } from '../../store/index.ts';
import { importEvents } from './events-import.ts';
import { scanFile } from './file-scan.ts';
import { importProducts } from './products.ts';

export interface ImportOptions {
  kind: 'events' | 'profiles' | 'products';
  file: string;
  format: 'ndjson' | 'csv';
  /** Store the valid rows and report the invalid ones, instead of refusing the whole file. */
  skipInvalid: boolean;
  /**
   * Events and profiles: lines (CSV: records) staged and written per transaction, which bounds
   * memory (default `defaultSliceLines`). A file of at most this many lines is one transaction.
   */
  sliceLines?: number;
}

/** About 280 MB of typical NDJSON; the DuckDB import of one slice peaks at ~2 GB. */
export const defaultSliceLines = 1_000_000;

export interface ImportSummary {
  rows: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** The first problems found, each naming its line and field. */
  errors: ErrorBody[];
  seconds: number;
}

/**
 * `shopflow import`: a file of events, profiles (identify calls) or products, with the API's
 * validation, dedupe and identity rules. Events and profiles are written one slice of
 * `sliceLines` lines per transaction (a smaller file: one transaction, nothing half-imported);
 * because lines without a messageId get one derived from the file, running it again after a
 * crash or by mistake stores nothing twice. See docs/import.md.
 *
 * Events are staged (validated and normalised) into temporary tables, then deduplicated,
 * resolved to people and written with a handful of set-at-a-time statements (events-import.ts).
 */
export async function importFile(
  store: Store,
  clock: Clock,
  workspaceId: number,
  options: ImportOptions,
  progress: Progress,
): Promise<ImportSummary> {
  const started = performance.now();
  const now = clock.now();
  const seconds = () => Math.round((performance.now() - started) / 10) / 100;
  if (!existsSync(options.file)) throw new AppError('not_found', `import file not found: ${options.file}`, 'file');
  progress.start('import: scan file', statSync(options.file).size);
  const sliceLines = options.sliceLines ?? defaultSliceLines;
  if (!Number.isSafeInteger(sliceLines) || sliceLines < 1)
    throw new AppError('invalid_request', 'sliceLines must be a positive whole number', 'sliceLines');
  const scan = await scanFile(options.file, (b) => progress.update(b), sliceLines);
  progress.stop();

  if (options.kind === 'products') {
    const r = await importProducts(store, workspaceId, options.file, options.format, options.skipInvalid, now, progress, scan.bytes);
    return { rows: r.rows, stored: r.stored, duplicates: r.duplicates, rejected: r.rejected, errors: r.errors.list, seconds: seconds() };
  }

  const input = { kind: options.kind, file: options.file, format: options.format, sliceLines };
  const r = await importEvents(store, workspaceId, input, options.skipInvalid, scan, clock, progress);
  return {
    rows: r.rows,
    stored: r.stored,
    duplicates: r.duplicates,
    rejected: r.errors.badLines,
    errors: r.errors.list,
    seconds: seconds(),
  };
}
