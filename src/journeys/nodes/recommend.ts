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
 * Recommends products to everyone ready at the node and queues them with a template, in one
 * statement: the lists (commerce/recommendations) are a derived table of the outbox insert. The
 * trigger's products (an order's lines) anchor `related` and are never recommended back. The
 * row's message key is the recommendation_id the shop should send back on `Product Viewed` (see
 * the `recommendation_viewed` condition).
 */
export const recommendHandler: NodeHandler<'recommend'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    const spec = nodeSpec(node);
    const p = new Params();
    const strategy = p.get('strategy', node.strategy);
    const people = `SELECT r.instance_id AS pk, r.user_key, CAST(${p.get('as-of', ctx.now)} AS BIGINT) AS as_of FROM ready r WHERE NOT r.holdout`;
    const triggers = triggerProductsSql(ctx.dialect, 'ready', 'instance_id', 'trigger_props', 'NOT t.holdout');
    const similarity = await similarityFor(ctx.tx, ctx.workspaceId, ctx.now, spec);
    const lists = recommendationSql({ p, workspaceId: ctx.workspaceId, now: ctx.now, spec, similarity }, { people, triggers });
    await insertOutbox(ctx, {
      action: 'recommend',
      nodeId: node.id,
      channel: node.channel,
      template: node.template,
      payload: [
        ['strategy', `CAST(${strategy} AS TEXT)`],
        ['products', 'x.products'],
      ],
      params: p.values,
      // A derived table, not a temporary one created and dropped each step: three statements fewer
      // and no catalog churn on PostgreSQL; on DuckDB the time is the same (it is the lists' query).
      join: `JOIN (SELECT pk AS instance_id, ${jsonArrayAgg(ctx.dialect, 'product_id', 'rn')} AS products FROM (${lists}) l GROUP BY pk) x
        ON x.instance_id = r.instance_id`,
    });
    return everyone('next');
  },
};
