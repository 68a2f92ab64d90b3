import { durationMs, SqlBuilder } from '../../segments/index.ts';
import { instanceEventSql } from '../sql.ts';
import { moveAll, type NodeHandler } from '../step-context.ts';

/**
 * Waits until the person (for keyed journeys: the same key) performs a matching event, or the
 * timeout passes. Arrivals get due_at = arrival + timeout; each tick, `wake` looks for matching
 * events among those received since the previous tick and makes their instances ready (state 2).
 */
export const waitForEventHandler: NodeHandler<'wait_for_event'> = {
  branches: () => ['event', 'timeout'],
  waits: true,
  waitOnArrival: (node) => durationMs(node.timeout),
  async wake(ctx, node) {
    const b = new SqlBuilder(ctx.dialect);
    const ws = b.param(ctx.workspaceId);
    const journey = b.param(ctx.journeyId);
    const version = b.param(ctx.version);
    const nodeId = b.param(node.id);
    const now = b.param(ctx.now);
    const since = b.param(ctx.newEventsSince);
    // `r` is the instance row here (the alias instanceEventSql expects).
    const happened = instanceEventSql(b, ctx, node, 'r.node_entered_at', [`e.received_at > ${since}`]);
    await ctx.tx.query(
      `UPDATE journey_instances SET node_state = 2, due_at = ${now}
       WHERE workspace_id = ${ws} AND journey_id = ${journey} AND version = ${version} AND node_id = ${nodeId}
         AND status = 'active' AND node_state = 1
         AND instance_id IN (SELECT r.instance_id FROM journey_instances r
           WHERE r.workspace_id = ${ws} AND r.journey_id = ${journey} AND r.version = ${version} AND r.node_id = ${nodeId}
             AND r.status = 'active' AND r.node_state = 1 AND ${happened})`,
      b.params,
    );
  },
  async step(ctx, node) {
    await ctx.tx.query(
      `UPDATE journey_instances SET node_state = 1, due_at = r.node_entered_at + $1
       FROM ready r WHERE journey_instances.instance_id = r.instance_id AND r.node_state = 0 AND journey_instances.workspace_id = $2`,
      [durationMs(node.timeout), ctx.workspaceId],
    );
    await moveAll(ctx, 'event', 'r.node_state = 2');
    await moveAll(ctx, 'timeout', 'r.node_state = 1');
  },
};
