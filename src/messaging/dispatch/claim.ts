import { advisoryLock, jsonRecords, type SqlExecutor, type Store } from '../../store/index.ts';
import type { ClaimedMessage } from './types.ts';

/**
 * Claiming and recovering outbox rows. Status moves queued → claimed (planning, no provider call
 * yet; PostgreSQL only, see claimDue) → sending (the attempt is recorded, then the provider is
 * called) → an outcome. A process that dies leaves `claimed` or `sending` rows behind; recovery
 * returns `claimed` ones to the queue (nothing was sent) and settles `sending` ones by what the
 * provider guarantees.
 */

const parse = (v: unknown): Record<string, unknown> => (typeof v === 'string' ? JSON.parse(v) : (v ?? {})) as Record<string, unknown>;

/**
 * The status claimed rows have until their attempt is written (see claimDue): the attempt write
 * moves only rows still in it.
 */
export const claimedStatus = (dialect: Store['dialect']): 'claimed' | 'queued' => (dialect === 'postgres' ? 'claimed' : 'queued');

/**
 * Claims up to `limit` due messages of a workspace. On PostgreSQL it reads and marks them claimed
 * in one transaction; concurrent dispatchers skip each other's rows (`FOR UPDATE SKIP LOCKED`)
 * and each other's people (see onePlannerPerPerson).
 * On DuckDB it only reads them: this process is the only writer, and marking the rows cost an
 * UPDATE per batch — ~9 % of the dispatcher's CPU per message in the benchmark, as each row was
 * then written three times (claimed, sending, outcome). They stay `queued` while the batch is
 * planned; the attempt write moves only rows still `queued` and refuses the whole batch if a
 * planner that raced this one took any (planBatch), so a row is never sent twice.
 */
export async function claimDue(store: Store, workspaceId: number, now: number, limit: number): Promise<ClaimedMessage[]> {
  const due = (db: SqlExecutor, lock: string) =>
    db.query<Record<string, unknown>>(
      `SELECT message_key, journey_id, node_id, instance_id, user_key, action, channel, template, payload, attempts, next_attempt_at, transactional, created_at
       FROM outbox WHERE workspace_id = $1 AND status = 'queued' AND COALESCE(next_attempt_at, created_at) <= $2
       ORDER BY COALESCE(next_attempt_at, created_at), message_key LIMIT ${Math.trunc(limit)} ${lock}`,
      [workspaceId, now],
    );
  const rows =
    store.dialect === 'duckdb'
      ? await due(store, '')
      : await store.transaction(async (tx) => {
          const claimed = await onePlannerPerPerson(tx, workspaceId, await due(tx, 'FOR UPDATE SKIP LOCKED'));
          if (claimed.length > 0) {
            await tx.query(
              `UPDATE outbox SET status = 'claimed', updated_at = $2
               WHERE workspace_id = $1 AND message_key IN (SELECT v.message_key FROM ${jsonRecords(store.dialect, 3, [['message_key', 'text']], 'v')})`,
              [workspaceId, now, JSON.stringify(claimed.map((r) => ({ message_key: r.message_key })))],
            );
          }
          return claimed;
        });
  return rows.map((r) => ({
    message_key: String(r.message_key),
    journey_id: Number(r.journey_id),
    node_id: String(r.node_id),
    instance_id: Number(r.instance_id),
    user_key: Number(r.user_key),
    action: r.action as ClaimedMessage['action'],
    channel: r.channel as ClaimedMessage['channel'],
    template: (r.template as string | null) ?? null,
    payload: parse(r.payload),
    attempts: Number(r.attempts ?? 0),
    next_attempt_at: r.next_attempt_at === null || r.next_attempt_at === undefined ? null : Number(r.next_attempt_at),
    transactional: r.transactional === true,
    created_at: Number(r.created_at),
  }));
}

/**
 * The due rows of people no other dispatcher is planning or sending to (PostgreSQL). Frequency
 * caps count what a person was sent, so two processes planning one person's messages at once
 * would each find the cap free and both send. Each person is locked for the claim transaction
 * (a person another claim holds is left out), then those with a row claimed or being sent — by
 * another process, or by this one's batch still on the wire — are left out too, in a statement
 * of its own so that it sees claims committed while the locks were taken. Their rows stay queued
 * for a later tick. The lock key is the person's key folded into 32 bits: two people sharing one
 * only make each other wait a tick.
 */
async function onePlannerPerPerson(
  tx: SqlExecutor,
  workspaceId: number,
  rows: Record<string, unknown>[],
): Promise<Record<string, unknown>[]> {
  if (rows.length === 0) return rows;
  const keys = [...new Set(rows.map((r) => Number(r.user_key)))];
  const locked = await tx.query<{ user_key: number }>(
    `SELECT k AS user_key FROM unnest($1::BIGINT[]) k WHERE pg_try_advisory_xact_lock(${advisoryLock.dispatchPerson}, CAST(k % 2147483647 AS INTEGER))`,
    [keys],
  );
  const busy = await tx.query<{ user_key: number }>(
    `SELECT DISTINCT user_key FROM outbox WHERE workspace_id = $1 AND user_key = ANY($2::BIGINT[]) AND status IN ('claimed', 'sending')`,
    [workspaceId, locked.map((r) => Number(r.user_key))],
  );
  const free = new Set(locked.map((r) => Number(r.user_key)));
  for (const b of busy) free.delete(Number(b.user_key));
  return rows.filter((r) => free.has(Number(r.user_key)));
}

/** Workspaces with messages due now (cheap: the engine asks every tick). */
export async function workspacesWithDue(db: SqlExecutor, now: number): Promise<number[]> {
  const rows = await db.query<{ workspace_id: number }>(
    `SELECT DISTINCT workspace_id FROM outbox WHERE status = 'queued' AND COALESCE(next_attempt_at, created_at) <= $1`,
    [now],
  );
  return rows.map((r) => Number(r.workspace_id));
}

/**
 * Settles what a dead process left: rows claimed or sending whose lease (`updated_at`) is older
 * than `staleBefore`. Claimed rows go back to the queue. Sending rows were possibly delivered: at
 * a provider that dedupes on our key they are queued again with the same key; anywhere else the
 * outcome cannot be known and they are marked `unknown` (never sent a second time).
 */
export async function recoverStale(
  db: SqlExecutor,
  staleBefore: number,
  idempotentProviders: readonly string[],
): Promise<{ requeued: number; unknown: number }> {
  const list = idempotentProviders.map((p) => `'${p.replace(/'/g, "''")}'`).join(', ') || "''";
  const requeued = await db.query<{ message_key: string }>(
    `UPDATE outbox SET status = 'queued' WHERE (status = 'claimed' OR (status = 'sending' AND provider IN (${list})))
       AND updated_at < ${Math.trunc(staleBefore)} RETURNING message_key`,
  );
  const unknown = await db.query<{ message_key: string }>(
    `UPDATE outbox SET status = 'unknown', reason = 'the process stopped during the provider call; the provider does not dedupe, so it is not sent again'
     WHERE status = 'sending' AND updated_at < ${Math.trunc(staleBefore)} RETURNING message_key`,
  );
  return { requeued: requeued.length, unknown: unknown.length };
}
