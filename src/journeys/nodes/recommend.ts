import {
  Params,
  type RecommendationSpec,
  recommendationSql,
  similarityFor,
  triggerProductsSql,
} from '../../commerce/recommendations/index.ts';
import { jsonArrayAgg } from '../../store/index.ts';
import type { NodeOf } from '../definition.ts';
import { everyone, type NodeHandler } from '../step-context.ts';
import { insertOutbox } from './outbox.ts';

/** The node's strategy and rules as the recommender reads them (`bestsellers` is `popular` by its first name). */
export function nodeSpec(node: NodeOf<'recommend'>): RecommendationSpec {
  const { strategy, count, category, segmentId, level, perCategory, excludePurchased, fallback } = node;
  return {
    strategy: strategy === 'bestsellers' ? 'popular' : strategy,
    count,
    level,
    excludePurchased,
    fallback,
    ...(category === undefined ? {} : { category }),
    ...(segmentId === undefined ? {} : { segmentId }),
    ...(perCategory === undefined ? {} : { perCategory }),
  };
}

/**
 * Recommends products to everyone ready at the node in one statement (commerce/recommendations)
 * and queues them with a template. The trigger's products (an order's lines) anchor `related`
 * and are never recommended back. The row's message key is the recommendation_id the shop
 * should send back on `Product Viewed` (see the `recommendation_viewed` condition).
 */
export const recommendHandler: NodeHandler<'recommend'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    const spec = nodeSpec(node);
    const p = new Params();
    const people = `SELECT r.instance_id AS pk, r.user_key, CAST(${p.get('as-of', ctx.now)} AS BIGINT) AS as_of FROM ready r WHERE NOT r.holdout`;
    const triggers = triggerProductsSql(ctx.dialect, 'ready', 'instance_id', 'trigger_props', 'NOT t.holdout');
    const similarity = await similarityFor(ctx.tx, ctx.workspaceId, ctx.now, spec);
    const lists = recommendationSql({ p, workspaceId: ctx.workspaceId, now: ctx.now, spec, similarity }, { people, triggers });
    await ctx.tx.query('DROP TABLE IF EXISTS recommended');
    await ctx.tx.query(
      `CREATE TEMP TABLE recommended AS
       SELECT pk AS instance_id, ${jsonArrayAgg(ctx.dialect, 'product_id', 'rn')} AS products FROM (${lists}) x GROUP BY pk`,
      p.values,
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
    return everyone('next');
  },
};
