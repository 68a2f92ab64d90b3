// PLACEHOLDER: the bulk-import helper replaces this file.
import type { Clock } from '../../core/clock.ts';
import type { ErrorBody } from '../../core/errors.ts';
import type { Progress } from '../../cli/progress.ts';
import type { Store } from '../../store/index.ts';

export interface ImportOptions {
  kind: 'events' | 'profiles' | 'products';
  file: string;
  format: 'ndjson' | 'csv';
  /** Store the valid rows and report the invalid ones, instead of refusing the whole file. */
  skipInvalid: boolean;
}

export interface ImportSummary {
  rows: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** The first problems found, each naming its line and field. */
  errors: ErrorBody[];
  seconds: number;
}

export async function importFile(_store: Store, _clock: Clock, _workspaceId: number, _options: ImportOptions, _progress: Progress): Promise<ImportSummary> {
  throw new Error('not implemented yet');
}
