import type { SqlExecutor, Store } from './port.ts';

/**
 * Runs reads that must agree with each other — counts of one moment, such as a journey's entries
 * and its nodes' passes while the engine moves people — in one transaction that sees a single
 * snapshot: DuckDB's transactions do; on PostgreSQL that takes REPEATABLE READ (under the default
 * READ COMMITTED each statement sees what committed before it, so a count read later could exceed
 * the total read earlier).
 */
export function consistentRead<T>(store: Store, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  return store.transaction(async (tx) => {
    if (store.dialect === 'postgres') await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return fn(tx);
  });
}
