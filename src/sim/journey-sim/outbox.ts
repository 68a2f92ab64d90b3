import type { Store } from '../../store/index.ts';

/** One row journeys queued in the outbox (what a dispatcher would deliver). */
export interface OutboxRow {
  messageKey: string;
  journeyId: number;
  instanceId: number;
  nodeId: string;
  userKey: number;
  action: 'message' | 'coupon' | 'recommend' | 'webhook';
  channel: string | null;
  template: string | null;
  payload: Record<string, unknown>;
  createdAt: number;
}

/**
 * Rows queued after `since` up to `now`, coupons first (a message sent in the same step
 * carries the coupon the journey just issued), then in queue order.
 */
export async function readOutbox(store: Store, workspaceId: number, since: number, now: number): Promise<OutboxRow[]> {
  const rows = await store.query<{
    message_key: string;
    journey_id: number;
    instance_id: number;
    node_id: string;
    user_key: number;
    action: OutboxRow['action'];
    channel: string | null;
    template: string | null;
    payload: unknown;
    created_at: number;
  }>(
    `SELECT message_key, journey_id, instance_id, node_id, user_key, action, channel, template, payload, created_at FROM outbox
     WHERE workspace_id = $1 AND created_at > $2 AND created_at <= $3
     ORDER BY created_at, CASE WHEN action = 'coupon' THEN 0 ELSE 1 END, message_key`,
    [workspaceId, since, now],
  );
  return rows.map((r) => ({
    messageKey: r.message_key,
    journeyId: Number(r.journey_id),
    instanceId: Number(r.instance_id),
    nodeId: r.node_id,
    userKey: Number(r.user_key),
    action: r.action,
    channel: r.channel,
    template: r.template,
    payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : (r.payload ?? {})) as Record<string, unknown>,
    createdAt: Number(r.created_at),
  }));
}

/** Queued rows per journey, action and channel (the report's "messages by channel"). */
export async function outboxCounts(
  store: Store,
  workspaceId: number,
): Promise<{ journeyId: number; action: string; channel: string | null; n: number }[]> {
  const rows = await store.query<{ journey_id: number; action: string; channel: string | null; n: number }>(
    `SELECT journey_id, action, channel, count(*) AS n FROM outbox WHERE workspace_id = $1 GROUP BY journey_id, action, channel
     ORDER BY journey_id, action, channel`,
    [workspaceId],
  );
  return rows.map((r) => ({ journeyId: Number(r.journey_id), action: r.action, channel: r.channel, n: Number(r.n) }));
}
