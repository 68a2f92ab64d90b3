import { type Dialect, type EventsTx, jsonObject } from '../../store/index.ts';
import type { LedgerKind } from './schema.ts';

/**
 * Membership moves as events in the event store, written in the transaction that made them, so
 * journeys trigger on them ("Points Earned" → thank-you message, "Tier Changed" → welcome to
 * gold) and segments count them like any behaviour. Message ids are deterministic per move, and
 * PostgreSQL's unique index on message ids makes a racing duplicate a no-op.
 */
export const ledgerEventNames: Record<LedgerKind, string> = {
  earn: 'Points Earned',
  spend: 'Points Spent',
  expire: 'Points Expired',
  adjust: 'Points Adjusted',
  refund: 'Points Reversed',
  forfeit: 'Points Forfeited',
};

interface EventContext {
  dialect: Dialect;
  workspaceId: number;
  now: number;
}

const onConflict = (d: Dialect) => (d === 'postgres' ? ' ON CONFLICT DO NOTHING' : '');
const text = (d: Dialect) => (d === 'postgres' ? 'TEXT' : 'VARCHAR');

/** One event per ledger entry among `entryIds` (named by its kind, message id `points.<entry>`). */
export async function recordLedgerEvents(tx: EventsTx, ctx: EventContext, entryIds: readonly number[]): Promise<void> {
  if (entryIds.length === 0) return;
  const name = `CASE l.kind ${Object.entries(ledgerEventNames)
    .map(([kind, event]) => `WHEN '${kind}' THEN '${event}'`)
    .join(' ')} END`;
  const properties = jsonObject(ctx.dialect, [
    ['kind', 'l.kind'],
    ['points', 'l.points'],
    ['balance', 'l.balance_after'],
    ['order_id', 'l.order_id'],
    ['multiplier', 'l.multiplier'],
    ['campaign_id', 'l.campaign_id'],
    ['reason', 'l.reason'],
    ['reference', 'l.reference'],
  ]);
  await tx.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     SELECT $1, 'points.' || CAST(l.entry_id AS ${text(ctx.dialect)}), l.user_key, 'track', ${name}, l.created_at, $3, 'members',
       ${properties}
     FROM points_ledger l WHERE l.workspace_id = $1 AND l.entry_id IN (SELECT unnest($2::BIGINT[]))${onConflict(ctx.dialect)}`,
    [ctx.workspaceId, [...entryIds], tx.receivedAt],
  );
}

/** One `Tier Changed` event per change (`from_tier`/`to_tier`; null is "no tier"). */
export async function recordTierEvents(
  tx: EventsTx,
  ctx: EventContext,
  changes: readonly { userKey: number; from: string | null; to: string | null }[],
): Promise<void> {
  if (changes.length === 0) return;
  const properties = jsonObject(ctx.dialect, [
    ['from_tier', "NULLIF(c.from_tier, '')"],
    ['to_tier', "NULLIF(c.to_tier, '')"],
  ]);
  const now = Math.trunc(ctx.now);
  await tx.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     SELECT $1, 'tier.' || CAST(c.user_key AS ${text(ctx.dialect)}) || '.${now}', c.user_key, 'track', 'Tier Changed', ${now}, ${Math.trunc(tx.receivedAt)},
       'members', ${properties}
     FROM (SELECT unnest($2::BIGINT[]) AS user_key, unnest($3::TEXT[]) AS from_tier, unnest($4::TEXT[]) AS to_tier) c${onConflict(ctx.dialect)}`,
    [ctx.workspaceId, changes.map((c) => c.userKey), changes.map((c) => c.from ?? ''), changes.map((c) => c.to ?? '')],
  );
}

/** One `Member Left` event per person (message id `member.<key>.left.<at>`). */
export async function recordLeftEvents(
  tx: EventsTx,
  ctx: EventContext,
  left: readonly { userKey: number; reason: string }[],
): Promise<void> {
  if (left.length === 0) return;
  const now = Math.trunc(ctx.now);
  await tx.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     SELECT $1, 'member.' || CAST(c.user_key AS ${text(ctx.dialect)}) || '.left.${now}', c.user_key, 'track', 'Member Left', ${now}, ${Math.trunc(tx.receivedAt)},
       'members', ${jsonObject(ctx.dialect, [['reason', 'c.reason']])}
     FROM (SELECT unnest($2::BIGINT[]) AS user_key, unnest($3::TEXT[]) AS reason) c${onConflict(ctx.dialect)}`,
    [ctx.workspaceId, left.map((l) => l.userKey), left.map((l) => l.reason)],
  );
}
