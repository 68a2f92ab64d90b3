import type { SqlExecutor, Store } from '../../store/index.ts';
import type { ClaimedMessage } from './types.ts';

/**
 * Claiming and recovering outbox rows. Status moves queued → claimed (planning, no provider call
 * yet) → sending (the attempt is recorded, then the provider is called) → an outcome. A process
 * that dies leaves `claimed` or `sending` rows behind; recovery returns `claimed` ones to the
 * queue (nothing was sent) and settles `sending` ones by what the provider guarantees.
 */

const parse = (v: unknown): Record<string, unknown> => (typeof v === 'string' ? JSON.parse(v) : (v ?? {})) as Record<string, unknown>;

/**
 * Claims up to `limit` due messages of a workspace. On PostgreSQL, concurrent dispatchers skip
 * each other's rows (`FOR UPDATE SKIP LOCKED`); on DuckDB this process is the only writer.
 * Integers are inlined: DuckDB cannot prepare parameters in UPDATE … RETURNING.
 */
export async function claimDue(store: Store, workspaceId: number, now: number, limit: number): Promise<ClaimedMessage[]> {
  const ws = Math.trunc(workspaceId);
  const lock = store.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
  const rows = await store.query<Record<string, unknown>>(
    `UPDATE outbox SET status = 'claimed', updated_at = ${Math.trunc(now)}
     WHERE workspace_id = ${ws} AND message_key IN (
       SELECT message_key FROM outbox WHERE workspace_id = ${ws} AND status = 'queued' AND COALESCE(next_attempt_at, created_at) <= ${Math.trunc(now)}
       ORDER BY COALESCE(next_attempt_at, created_at), message_key LIMIT ${Math.trunc(limit)} ${lock})
     RETURNING message_key, journey_id, node_id, instance_id, user_key, action, channel, template, payload, attempts, next_attempt_at, transactional, created_at`,
  );
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
