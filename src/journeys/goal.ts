import { eventMatchSql, SqlBuilder } from '../segments/index.ts';
import type { EventsTx } from '../store/index.ts';
import type { StepScope } from './advance.ts';
import { eventKeySql, insertJourneyEvents } from './sql.ts';
import type { StepContext } from './step-context.ts';

/**
 * The conversion goal, checked every tick before anyone moves: instances (of this version) whose
 * person performed the goal event since entering — for keyed journeys the same key, e.g. that
 * order paid — leave as converted, with the revenue of the goal events (their `total`). Holdout
 * instances convert too: that is what lift is measured against. With `scope`, only those
 * instances (the fast path's entrants, whose goal may have come in the batch that enrolled them).
 */
export async function convertGoals(tx: EventsTx, ctx: StepContext, scope?: StepScope): Promise<number> {
  const goal = ctx.definition.settings.goal;
  if (!goal) return 0;
  const b = new SqlBuilder(ctx.dialect);
  const ws = b.param(ctx.workspaceId);
  const jid = b.param(ctx.journeyId);
  const sameKey = ctx.keyProperty && goal.sameKey ? ` AND ${eventKeySql(b, ctx.keyProperty)} = r.instance_key` : '';
  const reached = `journey_instances r JOIN events e ON e.workspace_id = ${ws} AND e.user_key = r.user_key
       AND e.received_at > ${b.param(ctx.newEventsSince)} AND e.ts >= r.entered_at AND ${eventMatchSql(b, ws, goal, ctx.now)}${sameKey}
     WHERE r.workspace_id = ${ws} AND r.journey_id = ${jid} AND r.version = ${b.param(ctx.version)} AND r.status = 'active'${
       scope ? ` AND r.instance_id >= ${b.param(scope.from)} AND r.instance_id < ${b.param(scope.to)}` : ''
     }`;
  // Most ticks convert nobody: one probe instead of building (and dropping) the table.
  if ((await tx.query(`SELECT 1 AS hit FROM ${reached} LIMIT 1`, b.params)).length === 0) return 0;
  await tx.query('DROP TABLE IF EXISTS conversions');
  await tx.query(
    `CREATE TEMP TABLE conversions AS
     SELECT r.instance_id, r.user_key, r.node_id, r.holdout, r.instance_key, sum(COALESCE(e.total, 0)) AS revenue, max(e.order_id) AS order_id
     FROM ${reached}
     GROUP BY r.instance_id, r.user_key, r.node_id, r.holdout, r.instance_key`,
    b.params,
  );
  // Every row of `conversions` is an active instance of this transaction's view, so the UPDATE's count is theirs.
  const n = await tx.execute(
    `UPDATE journey_instances SET status = 'converted', exit_reason = 'goal', exited_at = $2, due_at = NULL, revenue = c.revenue
     FROM conversions c WHERE journey_instances.workspace_id = $1 AND journey_instances.instance_id = c.instance_id`,
    [ctx.workspaceId, ctx.now],
  );
  if (n > 0) {
    await insertJourneyEvents(tx, ctx, [
      {
        name: 'Journey Converted',
        from: `(SELECT c.*, 'j' || ${Number(ctx.journeyId)} || '.i' || c.instance_id || '.goal' AS message_id FROM conversions c) x`,
        params: [],
        properties: [
          ['journey_id', String(Number(ctx.journeyId))],
          ['instance_id', 'x.instance_id'],
          ['node_id', 'x.node_id'],
          ['key', "NULLIF(x.instance_key, '')"],
          ['holdout', 'x.holdout'],
          ['revenue', 'x.revenue'],
          ['order_id', 'x.order_id'],
        ],
      },
    ]);
  }
  await tx.query('DROP TABLE conversions');
  return n;
}
