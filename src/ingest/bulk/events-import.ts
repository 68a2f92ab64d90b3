import type { Progress } from '../../cli/progress.ts';
import type { Clock } from '../../core/clock.ts';
import { advisoryLock, type Store } from '../../store/index.ts';
import { dropDuplicates, fillMessageIds } from './dedupe.ts';
import { type FileScan, messageIdPrefix } from './file-scan.ts';
import { resolveInBulk } from './identities.ts';
import { ErrorLog, JsStager } from './js-stage.ts';
import { type StageInput, stageFile } from './stage-file.ts';
import { createStaging, dropStaging } from './staging.ts';
import { writeEvents } from './write-events.ts';

export interface EventsImportResult {
  rows: number;
  stored: number;
  duplicates: number;
  errors: ErrorLog;
}

/**
 * Events and profiles, one slice of `input.sliceLines` lines at a time: stage the slice
 * (validated, normalised lines in temporary tables of one session), then in one transaction per
 * slice drop duplicates, resolve people and write everything. Each slice sees what the earlier
 * ones stored (their message ids, identities and people), exactly as consecutive API batches
 * do, and memory is bounded by the slice, not the file.
 *
 * Staging runs outside the write transactions: it only fills the session's temporary tables,
 * which hold nothing of the store, and DuckDB scans rows written by a running transaction on one
 * thread (measured: a 2M-line staging table took twice as long to read). The temporary tables
 * are dropped after each slice and whatever happens; a failed slice rolls back whole, and the
 * slices before it stay stored (re-running the same file stores only what is missing, as the
 * message ids of lines without one derive from the file).
 *
 * Without skipInvalid, the first slice holding an invalid line and every later one are not
 * written, but still validated, so the summary reports every invalid line of the file.
 */
export async function importEvents(
  store: Store,
  workspaceId: number,
  input: StageInput,
  skipInvalid: boolean,
  scan: FileScan,
  clock: Clock,
  progress: Progress,
): Promise<EventsImportResult> {
  const now = clock.now();
  const errors = new ErrorLog();
  let stored = 0;
  let duplicates = 0;
  const prefix = messageIdPrefix(scan.sha256, input.kind);
  const run = store.session(async (session) => {
    const stager = new JsStager(session, workspaceId, now, errors);
    const writeSlice = async () => {
      if (errors.badLines > 0 && !skipInvalid) return createStaging(session, store.dialect);
      await fillMessageIds(session, store.dialect, prefix);
      const r = await session.transaction(async (tx) => {
        progress.start('import: write', 4);
        // Same lock as the API's writeBatch: one identity resolution at a time per workspace.
        if (store.dialect === 'postgres') await tx.query(`SELECT pg_advisory_xact_lock(${advisoryLock.identities}, $1)`, [workspaceId]);
        // Written (and received) when the slice's turn comes, not when the import began: readers of
        // new events (journey engine, segments) find them by receive time, and a later slice commits
        // minutes after the import began (writeBatch, SettledEvents, docs/operations.md).
        const writtenAt = clock.now();
        const duplicates = await dropDuplicates(tx, store.dialect, workspaceId);
        progress.update(1);
        await resolveInBulk(tx, store.dialect, workspaceId, writtenAt);
        progress.update(2);
        const stored = await writeEvents(tx, store.dialect, workspaceId, writtenAt);
        progress.update(3);
        progress.stop();
        return { stored, duplicates };
      });
      stored += r.stored;
      duplicates += r.duplicates;
      // The API's dedupe must see these ids too (on DuckDB it keeps them in memory).
      if (r.stored > 0) await store.messageIds.rememberStored(session, workspaceId, 'SELECT message_id, ts FROM imp_ev', now);
      // Empty staging tables (and none of the slice's working tables) for the next slice.
      await createStaging(session, store.dialect);
    };
    try {
      await createStaging(session, store.dialect);
      await stageFile(store, session, input, scan, stager, errors, now, progress, writeSlice);
      return stager.rows;
    } finally {
      await dropStaging(session).catch(() => {});
    }
  });
  let rows: number;
  try {
    rows = await run;
  } finally {
    // After the commits (also those of the slices before a failure), like writeBatch: the DuckDB
    // identity cache must know the identities and merges the import wrote set-at-a-time.
    if (stored > 0) await store.identityCache?.reload(store);
  }
  return { rows, stored, duplicates, errors };
}
