import type { Progress } from '../../cli/progress.ts';
import type { SqlExecutor, Store } from '../../store/index.ts';
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
 * Events and profiles: stage the file (validated, normalised lines in temporary tables), then
 * in one transaction drop duplicates, resolve people and write everything.
 *
 * On DuckDB the staging runs outside that transaction: DuckDB scans rows written by the running
 * transaction on one thread (measured: a 2M-line staging table took twice as long to read), and
 * staging only fills this connection's temporary tables, which hold nothing of the store. The
 * write phase is still a single transaction; after a failure the staging tables are dropped.
 */
export async function importEvents(
  store: Store,
  workspaceId: number,
  input: StageInput,
  skipInvalid: boolean,
  scan: FileScan,
  now: number,
  progress: Progress,
): Promise<EventsImportResult> {
  const errors = new ErrorLog();
  const autocommitStaging = store.dialect === 'duckdb';
  let merges: [number, number][] = [];
  const result = await store.transaction(async (tx) => {
    if (autocommitStaging) await tx.query('COMMIT');
    let rows: number;
    try {
      await createStaging(tx, store.dialect);
      const stager = new JsStager(tx, workspaceId, now, errors);
      await stageFile(store, tx, input, scan, stager, errors, now, progress);
      rows = stager.rows;
      await fillMessageIds(tx, store.dialect, messageIdPrefix(scan.sha256, input.kind));
    } catch (err) {
      if (autocommitStaging) await restart(tx, false);
      throw err;
    }
    if (autocommitStaging) await tx.query('BEGIN TRANSACTION');
    if (errors.badLines > 0 && !skipInvalid) {
      await dropStaging(tx);
      return { rows, stored: 0, duplicates: 0 };
    }
    try {
      progress.start('import: write', 4);
      // Same lock as the API's writeBatch: one identity resolution at a time per workspace.
      if (store.dialect === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7001, $1)', [workspaceId]);
      const duplicates = await dropDuplicates(tx, store.dialect, workspaceId);
      progress.update(1);
      merges = (await resolveInBulk(tx, store.dialect, workspaceId, now)).merges;
      progress.update(2);
      const stored = await writeEvents(tx, store.dialect, workspaceId, now);
      progress.update(3);
      await dropStaging(tx);
      progress.update(4);
      progress.stop();
      return { rows, stored, duplicates };
    } catch (err) {
      if (autocommitStaging) await restart(tx, true);
      throw err;
    }
  });
  // After the commit, like writeBatch: the DuckDB identity cache must follow people who were
  // merged away (identities the import added are simply looked up on first use).
  for (const [from, into] of merges) store.identityCache?.redirect(from, into);
  return { ...result, errors };
}

/**
 * After a failure on DuckDB: undo the write phase, drop the staging tables (committed by the
 * autocommit staging, so a rollback keeps them) and leave a transaction open for the store's
 * own ROLLBACK to end.
 */
async function restart(tx: SqlExecutor, inTransaction: boolean): Promise<void> {
  if (inTransaction) await tx.query('ROLLBACK').catch(() => {});
  await dropStaging(tx).catch(() => {});
  await tx.query('BEGIN TRANSACTION');
}
