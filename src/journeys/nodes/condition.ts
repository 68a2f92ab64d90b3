import { compileSegment, SqlBuilder } from '../../segments/index.ts';
import type { JourneyCondition } from '../definition.ts';
import { instanceEventSql } from '../sql.ts';
import type { NodeHandler, StepContext } from '../step-context.ts';

/** Below this many ready people an audience condition is evaluated for them only, else for everyone and joined. */
const RESTRICT_BELOW = 20_000;

/**
 * Yes/no or multi-way split: one INSERT…SELECT gives each ready instance the branch of the first
 * case that holds for it (a CASE over the conditions, in order), or `otherwise`. One statement
 * whatever the number of cases: on DuckDB each statement costs milliseconds however small, and
 * three cases and `otherwise` as a statement each took four.
 */
export const conditionHandler: NodeHandler<'condition'> = {
  branches: (node) => [...new Set([...node.cases.map((c) => c.branch), node.otherwise])],
  waits: false,
  async step(ctx, node) {
    let ready: Promise<readonly number[] | undefined> | null = null;
    // The ready people, read once for all the node's audience cases (undefined: too many to list).
    const readyPeople = () => {
      ready ??= ctx.tx
        .query<{ user_key: number }>(`SELECT user_key FROM ready LIMIT ${RESTRICT_BELOW}`)
        .then((rows) => (rows.length < RESTRICT_BELOW ? rows.map((r) => Number(r.user_key)) : undefined));
      return ready;
    };
    const b = new SqlBuilder(ctx.dialect);
    const branch = (name: string) => `CAST(${b.param(name)} AS TEXT)`;
    const cases: string[] = [];
    for (const c of node.cases) cases.push(`WHEN ${await conditionSql(ctx, b, c.when, readyPeople)} THEN ${branch(c.branch)}`);
    const otherwise = branch(node.otherwise);
    await ctx.tx.query(
      `INSERT INTO moves (instance_id, branch)
       SELECT r.instance_id, ${cases.length > 0 ? `CASE ${cases.join('\n         ')} ELSE ${otherwise} END` : otherwise} FROM ready r`,
      b.params,
    );
  },
};

/** A condition over the ready instance `r`. */
async function conditionSql(
  ctx: StepContext,
  b: SqlBuilder,
  when: JourneyCondition,
  readyPeople: () => Promise<readonly number[] | undefined>,
): Promise<string> {
  const ws = () => b.param(ctx.workspaceId);
  const ofInstance = (action: string, node: string | undefined) =>
    `o.workspace_id = ${ws()} AND o.instance_id = r.instance_id AND o.action = '${action}'${node ? ` AND o.node_id = ${b.param(node)}` : ''}`;
  switch (when.kind) {
    case 'audience': {
      // The segment query inline, for the ready people only (when few): one statement per case.
      const restrictTo = await readyPeople();
      const compiled = compileSegment(when.definition, {
        dialect: ctx.dialect,
        workspaceId: ctx.workspaceId,
        now: ctx.now,
        builder: b,
        ...(restrictTo ? { restrictTo } : {}),
      });
      return `r.user_key IN (${compiled.sql})`;
    }
    case 'since_entry':
      // Not the event that enrolled the instance (its entry time is that event's time).
      return instanceEventSql(b, ctx, when, 'r.entered_at', [`'e.' || e.message_id <> r.entry_key`]);
    case 'coupon_used': {
      // Shops report a used coupon as the `coupon` (or `coupon_id`) property of the order or of Coupon
      // Applied, in any case; a till redemption marks the code itself (read here, so no sync need run first).
      const code = b.jsonText('o.payload', 'code');
      const used = `upper(trim(COALESCE(${b.jsonText('e.properties', 'coupon')}, ${b.jsonText('e.properties', 'coupon_id')})))`;
      return `EXISTS (SELECT 1 FROM outbox o WHERE ${ofInstance('coupon', when.node)} AND ${code} IS NOT NULL AND (
        EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = o.workspace_id AND e.user_key = r.user_key AND e.ts >= o.created_at AND ${used} = ${code})
        OR EXISTS (SELECT 1 FROM coupon_codes c WHERE c.workspace_id = o.workspace_id AND c.code = ${code} AND c.state = 'redeemed')))`;
    }
    case 'message_clicked':
      return `EXISTS (SELECT 1 FROM outbox o JOIN events e ON e.workspace_id = o.workspace_id AND e.user_key = r.user_key
        AND e.event = 'Message Clicked' AND e.ts >= o.created_at AND ${b.jsonText('e.properties', 'message_key')} = o.message_key
        WHERE ${ofInstance('message', when.node)})`;
    case 'recommendation_viewed': {
      const bought = `EXISTS (SELECT 1 FROM event_items i WHERE i.workspace_id = e.workspace_id AND i.user_key = e.user_key
        AND i.event = 'Order Completed' AND i.product_id = e.product_id AND i.ts >= o.created_at)`;
      return `EXISTS (SELECT 1 FROM outbox o JOIN events e ON e.workspace_id = o.workspace_id AND e.user_key = r.user_key
        AND e.event = 'Product Viewed' AND e.ts >= o.created_at AND ${b.jsonText('e.properties', 'recommendation_id')} = o.message_key
        WHERE ${ofInstance('recommend', when.node)} AND ${when.bought ? '' : 'NOT '}${bought})`;
    }
    default: {
      const unknown: never = when;
      throw new Error(`unknown condition ${JSON.stringify(unknown)}`);
    }
  }
}
