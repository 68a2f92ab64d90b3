import { consistentRead, type SqlExecutor, type Store } from '../store/index.ts';
import { entryNode } from './enroll.ts';
import { versionDefinition } from './journeys-repo.ts';
import { type LiftEstimate, liftEstimate } from './lift.ts';

export interface NodeCounts {
  /** People at the node now (waiting, or about to move). */
  current: number;
  /** Instances that have left the node, per branch taken. */
  branches: Record<string, number>;
  passed: number;
}

export interface JourneyStats {
  entered: number;
  active: number;
  completed: number;
  exited: number;
  converted: number;
  revenue: number;
  /** The same figures for the holdout (control) group alone. */
  holdout: { entered: number; converted: number; revenue: number };
  /**
   * The test group (everyone but the holdout) against the holdout: conversion rates, their
   * difference with a 95 % interval, and the conversions and revenue the journey added. Null
   * without a holdout. Instances still active count as not converted (yet).
   */
  lift: LiftEstimate | null;
  nodes: Record<string, NodeCounts>;
  outbox: Record<string, number>;
}

/**
 * Live counts of a journey: overall, for the holdout, per node and branch, and what it queued —
 * all of one moment (consistentRead), so a node never shows more passes than the journey entries.
 */
export function journeyStats(store: Store, workspaceId: number, journeyId: number): Promise<JourneyStats> {
  return consistentRead(store, (tx) => countsOf(tx, workspaceId, journeyId));
}

async function countsOf(db: SqlExecutor, workspaceId: number, journeyId: number): Promise<JourneyStats> {
  const p = [workspaceId, journeyId];
  const totals = await db.query<{ status: string; holdout: boolean; n: number; revenue: number | null }>(
    `SELECT status, holdout, count(*) AS n, sum(revenue) AS revenue FROM journey_instances
     WHERE workspace_id = $1 AND journey_id = $2 GROUP BY status, holdout`,
    p,
  );
  const sum = (f: (r: (typeof totals)[number]) => boolean, v: (r: (typeof totals)[number]) => number) =>
    totals.filter(f).reduce((s, r) => s + v(r), 0);
  const count = (r: { n: number }) => Number(r.n);
  const money = (r: { revenue: number | null }) => Number(r.revenue ?? 0);
  const nodes: Record<string, NodeCounts> = {};
  const node = (id: string) => (nodes[id] ??= { current: 0, branches: {}, passed: 0 });
  const current = await db.query<{ node_id: string; n: number }>(
    `SELECT node_id, count(*) AS n FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 AND status = 'active' GROUP BY node_id`,
    p,
  );
  for (const r of current) node(r.node_id).current = Number(r.n);
  const steps = await db.query<{ node_id: string; branch: string; n: number }>(
    `SELECT node_id, branch, count(*) AS n FROM journey_steps WHERE workspace_id = $1 AND journey_id = $2 GROUP BY node_id, branch`,
    p,
  );
  for (const r of steps) {
    node(r.node_id).branches[r.branch] = Number(r.n);
    node(r.node_id).passed += Number(r.n);
  }
  // People start at the node after the entry (enroll.ts), so the entry's passes are the entries.
  const byVersion = await db.query<{ version: number; n: number }>(
    'SELECT version, count(*) AS n FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 GROUP BY version',
    p,
  );
  for (const v of byVersion) {
    const def = await versionDefinition(db, workspaceId, journeyId, Number(v.version));
    const entry = entryNode(def);
    if (!def.edges.some((e) => e.from === entry.id)) continue;
    const counts = node(entry.id);
    counts.passed += Number(v.n);
    counts.branches.next = (counts.branches.next ?? 0) + Number(v.n);
  }
  const outbox = await db.query<{ action: string; n: number }>(
    'SELECT action, count(*) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2 GROUP BY action',
    p,
  );
  const arm = (inHoldout: boolean) => ({
    people: sum((r) => r.holdout === inHoldout, count),
    converted: sum((r) => r.holdout === inHoldout && r.status === 'converted', count),
    revenue: sum((r) => r.holdout === inHoldout && r.status === 'converted', money),
  });
  const holdout = arm(true);
  return {
    entered: sum(() => true, count),
    active: sum((r) => r.status === 'active', count),
    completed: sum((r) => r.status === 'completed', count),
    exited: sum((r) => r.status === 'exited', count),
    converted: sum((r) => r.status === 'converted', count),
    revenue: sum((r) => r.status === 'converted', money),
    holdout: { entered: holdout.people, converted: holdout.converted, revenue: holdout.revenue },
    lift: liftEstimate(arm(false), holdout),
    nodes,
    outbox: Object.fromEntries(outbox.map((r) => [r.action, Number(r.n)])),
  };
}

export interface InstancePath {
  instanceId: number;
  version: number;
  key: string | null;
  holdout: boolean;
  status: string;
  nodeId: string | null;
  enteredAt: number;
  exitedAt: number | null;
  exitReason: string | null;
  revenue: number | null;
  steps: { stepNo: number; nodeId: string; branch: string | null; nextNodeId: string | null; at: number }[];
  outbox: {
    messageKey: string;
    nodeId: string;
    action: string;
    channel: string | null;
    template: string | null;
    payload: unknown;
    at: number;
  }[];
}

/** A person's way through a journey: each instance, its steps and what it queued. */
export async function personPath(db: SqlExecutor, workspaceId: number, journeyId: number, userKey: number): Promise<InstancePath[]> {
  const instances = await db.query<{
    instance_id: number;
    version: number;
    instance_key: string;
    holdout: boolean;
    status: string;
    node_id: string | null;
    entered_at: number;
    exited_at: number | null;
    exit_reason: string | null;
    revenue: number | null;
  }>(
    `SELECT instance_id, version, instance_key, holdout, status, node_id, entered_at, exited_at, exit_reason, revenue FROM journey_instances
     WHERE workspace_id = $1 AND journey_id = $2 AND user_key = $3 ORDER BY entered_at, instance_id`,
    [workspaceId, journeyId, userKey],
  );
  const ids = instances.map((i) => Number(i.instance_id));
  const steps = ids.length
    ? await db.query<{
        instance_id: number;
        step_no: number;
        node_id: string;
        branch: string | null;
        next_node_id: string | null;
        stepped_at: number;
      }>(
        `SELECT instance_id, step_no, node_id, branch, next_node_id, stepped_at FROM journey_steps
         WHERE workspace_id = $1 AND instance_id IN (SELECT unnest($2::BIGINT[])) ORDER BY instance_id, step_no`,
        [workspaceId, ids],
      )
    : [];
  const sent = ids.length
    ? await db.query<{
        instance_id: number;
        message_key: string;
        node_id: string;
        action: string;
        channel: string | null;
        template: string | null;
        payload: unknown;
        created_at: number;
      }>(
        `SELECT instance_id, message_key, node_id, action, channel, template, payload, created_at FROM outbox
         WHERE workspace_id = $1 AND instance_id IN (SELECT unnest($2::BIGINT[])) ORDER BY created_at, message_key`,
        [workspaceId, ids],
      )
    : [];
  return instances.map((i) => ({
    instanceId: Number(i.instance_id),
    version: Number(i.version),
    key: i.instance_key === '' ? null : i.instance_key,
    holdout: Boolean(i.holdout),
    status: i.status,
    nodeId: i.node_id,
    enteredAt: Number(i.entered_at),
    exitedAt: i.exited_at === null ? null : Number(i.exited_at),
    exitReason: i.exit_reason,
    revenue: i.revenue === null ? null : Number(i.revenue),
    steps: steps
      .filter((s) => Number(s.instance_id) === Number(i.instance_id))
      .map((s) => ({
        stepNo: Number(s.step_no),
        nodeId: s.node_id,
        branch: s.branch,
        nextNodeId: s.next_node_id,
        at: Number(s.stepped_at),
      })),
    outbox: sent
      .filter((o) => Number(o.instance_id) === Number(i.instance_id))
      .map((o) => ({
        messageKey: o.message_key,
        nodeId: o.node_id,
        action: o.action,
        channel: o.channel,
        template: o.template,
        payload: typeof o.payload === 'string' ? JSON.parse(o.payload) : o.payload,
        at: Number(o.created_at),
      })),
  }));
}

export interface OutboxRow {
  messageKey: string;
  journeyId: number;
  nodeId: string;
  instanceId: number;
  userKey: number;
  userId: string | null;
  action: string;
  channel: string | null;
  template: string | null;
  payload: unknown;
  /** queued, claimed, sending, sent, delivered, skipped, failed (dead letter), unknown, or issued (coupons). */
  status: string;
  /** Why it was skipped, deferred, retried or failed. */
  reason: string | null;
  attempts: number;
  provider: string | null;
  address: string | null;
  /** The message as rendered and sent (fields, tracked links). */
  content: unknown;
  nextAttemptAt: number | null;
  sentAt: number | null;
  createdAt: number;
  /** Pass as `before` to get the next (older) page. */
  cursor: string;
}

/** What journeys queued, newest first, with the person's user id, a page at a time. */
export async function listOutbox(
  db: SqlExecutor,
  workspaceId: number,
  q: { journeyId?: number; status?: string; before?: string; limit: number },
): Promise<OutboxRow[]> {
  const params: (number | string)[] = [workspaceId, q.limit];
  const where = ['o.workspace_id = $1'];
  if (q.journeyId !== undefined) where.push(`o.journey_id = $${params.push(q.journeyId)}`);
  if (q.status !== undefined) where.push(`o.status = $${params.push(q.status)}`);
  if (q.before !== undefined) {
    const [at, ...key] = q.before.split(':');
    where.push(
      `(o.created_at < $${params.push(Number(at))} OR (o.created_at = $${params.length} AND o.message_key < $${params.push(key.join(':'))}))`,
    );
  }
  const rows = await db.query<{
    message_key: string;
    journey_id: number;
    node_id: string;
    instance_id: number;
    user_key: number;
    user_id: string | null;
    action: string;
    channel: string | null;
    template: string | null;
    payload: unknown;
    status: string;
    reason: string | null;
    attempts: number | null;
    provider: string | null;
    address: string | null;
    content: unknown;
    next_attempt_at: number | null;
    sent_at: number | null;
    created_at: number;
  }>(
    `SELECT o.message_key, o.journey_id, o.node_id, o.instance_id, o.user_key, o.action, o.channel, o.template, o.payload, o.status, o.created_at,
       o.reason, o.attempts, o.provider, o.address, o.content, o.next_attempt_at, o.sent_at,
       (SELECT min(i.value) FROM identities i WHERE i.workspace_id = o.workspace_id AND i.user_key = o.user_key AND i.type = 'user_id') AS user_id
     FROM outbox o WHERE ${where.join(' AND ')} ORDER BY o.created_at DESC, o.message_key DESC LIMIT $2`,
    params,
  );
  return rows.map((r) => ({
    messageKey: r.message_key,
    journeyId: Number(r.journey_id),
    nodeId: r.node_id,
    instanceId: Number(r.instance_id),
    userKey: Number(r.user_key),
    userId: r.user_id,
    action: r.action,
    channel: r.channel,
    template: r.template,
    payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
    status: r.status,
    reason: r.reason,
    attempts: Number(r.attempts ?? 0),
    provider: r.provider,
    address: r.address,
    content: typeof r.content === 'string' ? JSON.parse(r.content) : r.content,
    nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
    createdAt: Number(r.created_at),
    cursor: `${Number(r.created_at)}:${r.message_key}`,
  }));
}
