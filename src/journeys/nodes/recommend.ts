import { DAY } from '../../core/clock.ts';
import { SqlBuilder } from '../../segments/index.ts';
import { jsonArrayAgg } from '../../store/index.ts';
import { moveAll, type NodeHandler } from '../step-context.ts';
import { insertOutbox } from './outbox.ts';

/**
 * Recommends products and queues them with a template. A deliberately simple recommender until
 * the commerce module brings a better one, computed set-at-a-time:
 * - same_category: products of the middle categories the person ordered from in the last 30
 *   days (phone → earphones, watch), then the shop's bestsellers;
 * - bestsellers: the shop's bestsellers (units ordered in the last 90 days);
 * never a product the person already bought. The row's message key is the recommendation_id
 * the shop should send back on `Product Viewed` (see the `recommendation_viewed` condition).
 */
export const recommendHandler: NodeHandler<'recommend'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    const b = new SqlBuilder(ctx.dialect);
    const ws = b.param(ctx.workspaceId);
    const since90 = b.param(ctx.now - 90 * DAY);
    // A few more bestsellers than any node asks for, so the ones the person bought can be skipped.
    const bestsellers = `SELECT r.instance_id, r.user_key, top.product_id, 2 AS tier FROM ready r,
      (SELECT product_id FROM event_items WHERE workspace_id = ${ws} AND event = 'Order Completed' AND ts >= ${since90}
       GROUP BY product_id ORDER BY sum(quantity) DESC, product_id LIMIT 60) top WHERE NOT r.holdout`;
    const sameCategory = () => `SELECT r.instance_id, r.user_key, p2.product_id, 1 AS tier FROM ready r
      JOIN event_items i ON i.workspace_id = ${ws} AND i.user_key = r.user_key AND i.event = 'Order Completed' AND i.ts >= ${b.param(ctx.now - 30 * DAY)}
      JOIN products p ON p.workspace_id = ${ws} AND p.product_id = i.product_id
      JOIN products p2 ON p2.workspace_id = ${ws} AND p2.category_mid = p.category_mid AND p2.product_id <> p.product_id
      WHERE NOT r.holdout`;
    // Built only when used: every placeholder made must appear in the statement.
    const candidates = node.strategy === 'same_category' ? `${sameCategory()} UNION ALL ${bestsellers}` : bestsellers;
    const popularity = `SELECT product_id, sum(quantity) AS units FROM event_items
      WHERE workspace_id = ${ws} AND event = 'Order Completed' AND ts >= ${since90} GROUP BY product_id`;
    await ctx.tx.query('DROP TABLE IF EXISTS recommended');
    await ctx.tx.query(
      `CREATE TEMP TABLE recommended AS
       SELECT instance_id, ${jsonArrayAgg(ctx.dialect, 'product_id', 'rn')} AS products FROM (
         SELECT c.instance_id, c.product_id,
           row_number() OVER (PARTITION BY c.instance_id ORDER BY min(c.tier), max(COALESCE(pop.units, 0)) DESC, c.product_id) AS rn
         FROM (${candidates}) c
         LEFT JOIN (${popularity}) pop ON pop.product_id = c.product_id
         WHERE NOT EXISTS (SELECT 1 FROM event_items bought WHERE bought.workspace_id = ${ws} AND bought.user_key = c.user_key
           AND bought.event = 'Order Completed' AND bought.product_id = c.product_id)
         GROUP BY c.instance_id, c.product_id) ranked
       WHERE rn <= ${b.param(node.count)} GROUP BY instance_id`,
      b.params,
    );
    await insertOutbox(ctx, {
      action: 'recommend',
      nodeId: node.id,
      channel: node.channel,
      template: node.template,
      payload: [
        ['strategy', 'CAST($1 AS TEXT)'],
        ['products', 'x.products'],
      ],
      params: [node.strategy],
      join: 'JOIN recommended x ON x.instance_id = r.instance_id',
    });
    await ctx.tx.query('DROP TABLE recommended');
    await moveAll(ctx, 'next');
  },
};
