import { serialQueue } from '../../core/serial-queue.ts';
import { type EventsTx, type SqlExecutor, type Store, writingEvents } from '../../store/index.ts';

/**
 * Everything that moves points or changes member rows runs through here.
 * - DuckDB: one writing process, but several pooled connections whose transactions would abort
 *   each other on the same row; so these transactions run one at a time in this process.
 * - PostgreSQL: many processes; each transaction locks the member rows it changes with
 *   `lockMembers` (in user_key order, so two batches never deadlock) before reading balances.
 * Membership moves write events (`Points Earned`, `Tier Changed`…), so each transaction is one
 * that writes events outside ingest (writingEvents), stamped at `tx.receivedAt`.
 */
const ledgerWrites = serialQueue();

export function ledgerTransaction<T>(store: Store, workspaceId: number, now: number, fn: (tx: EventsTx) => Promise<T>): Promise<T> {
  const transaction = () => writingEvents(store, workspaceId, now, fn);
  return store.dialect === 'duckdb' ? ledgerWrites(store, transaction) : transaction();
}

/**
 * PostgreSQL: row-locks the members' balance rows until the transaction ends, so balances read
 * afterwards are current and nobody else moves them meanwhile. DuckDB: nothing to do (see above).
 */
export async function lockMembers(store: Store, tx: SqlExecutor, workspaceId: number, userKeys: readonly number[]): Promise<void> {
  if (store.dialect !== 'postgres' || userKeys.length === 0) return;
  await tx.query('SELECT user_key FROM members WHERE workspace_id = $1 AND user_key = ANY($2::BIGINT[]) ORDER BY user_key FOR UPDATE', [
    workspaceId,
    [...new Set(userKeys)],
  ]);
}

/**
 * Adds signed point totals to balances, one UPDATE for everyone. The CHECK constraint on
 * `points_balance` makes the whole transaction fail rather than let a balance go below 0.
 */
export async function addToBalances(
  tx: SqlExecutor,
  workspaceId: number,
  moves: readonly { user_key: number; points: number }[],
  now: number,
): Promise<void> {
  const sums = new Map<number, number>();
  for (const m of moves) sums.set(Number(m.user_key), (sums.get(Number(m.user_key)) ?? 0) + Number(m.points));
  if (sums.size === 0) return;
  await tx.query(
    `UPDATE members SET points_balance = members.points_balance + s.points, updated_at = $4
     FROM (SELECT unnest($2::BIGINT[]) AS user_key, unnest($3::BIGINT[]) AS points) s
     WHERE members.workspace_id = $1 AND members.user_key = s.user_key`,
    [workspaceId, [...sums.keys()], [...sums.values()], now],
  );
}
