import type { Dialect, SqlExecutor } from '../../store/index.ts';
import { columnTypes } from '../../store/index.ts';
import { analyze } from './staging.ts';

/** Lines without a messageId get `prefix || line number` (prefix: from the file's hash). */
export async function fillMessageIds(tx: SqlExecutor, dialect: Dialect, prefix: string): Promise<void> {
  await tx.query(`UPDATE imp_ev SET message_id = $1 || CAST(n AS ${columnTypes[dialect].text}) WHERE message_id IS NULL`, [prefix]);
}

/**
 * Drops the staged events whose messageId is already stored in the workspace, from any source,
 * or appeared on an earlier line of the file (the first occurrence wins, as within an API
 * batch). An anti-join against `events` — not the DuckDB dedupe window, which only covers API
 * events — so importing the same file again stores nothing.
 */
export async function dropDuplicates(tx: SqlExecutor, dialect: Dialect, workspaceId: number): Promise<number> {
  await analyze(tx, dialect, 'imp_ev');
  await tx.query(
    `CREATE TEMP TABLE imp_dup AS
     SELECT e.n FROM imp_ev e WHERE EXISTS (SELECT 1 FROM events x WHERE x.workspace_id = $1 AND x.message_id = e.message_id)
     UNION
     SELECT e.n FROM imp_ev e JOIN (SELECT message_id, min(n) AS first FROM imp_ev GROUP BY message_id HAVING count(*) > 1) d
       ON d.message_id = e.message_id AND e.n <> d.first`,
    [workspaceId],
  );
  const [row] = await tx.query<{ c: number }>('SELECT count(*) AS c FROM imp_dup');
  const duplicates = Number(row?.c ?? 0);
  if (duplicates > 0) {
    await tx.query('DELETE FROM imp_ev WHERE n IN (SELECT n FROM imp_dup)');
    await tx.query('DELETE FROM imp_claim WHERE n IN (SELECT n FROM imp_dup)');
    await tx.query('DELETE FROM imp_item WHERE n IN (SELECT n FROM imp_dup)');
  }
  return duplicates;
}
