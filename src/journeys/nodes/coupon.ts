import { durationMs } from '../../segments/index.ts';
import { moveAll, type NodeHandler } from '../step-context.ts';
import { insertOutbox, messageKeySql } from './outbox.ts';

/**
 * Issues a coupon: a code derived from the step's idempotency key, and a value that may depend
 * on the triggering order total (the highest tier it reaches). The code is what `coupon_used`
 * looks for in the `coupon` property of later orders.
 */
export const couponHandler: NodeHandler<'coupon'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    const params: (string | number)[] = [node.campaign, ctx.now + durationMs(node.validFor)];
    const p = (v: string | number) => {
      params.push(v);
      return `$${params.length}`;
    };
    const tiers = [...(node.tiers ?? [])].sort((a, b) => b.minTotal - a.minTotal);
    const fallback = node.value !== undefined ? p(node.value) : 'NULL';
    const value =
      tiers.length === 0
        ? fallback
        : `CASE ${tiers.map((t) => `WHEN r.trigger_total >= CAST(${p(t.minTotal)} AS DOUBLE PRECISION) THEN CAST(${p(t.value)} AS DOUBLE PRECISION)`).join(' ')} ELSE ${fallback} END`;
    const nodeParam = p(node.id);
    await insertOutbox(ctx, {
      action: 'coupon',
      nodeId: node.id,
      channel: null,
      template: null,
      payload: [
        ['code', `upper(substr(md5(${messageKeySql(ctx, `CAST(${nodeParam} AS TEXT)`)}), 1, 10))`],
        ['campaign', 'CAST($1 AS TEXT)'],
        ['value', `CAST(${value} AS DOUBLE PRECISION)`],
        ['expires_at', 'CAST($2 AS BIGINT)'],
      ],
      params,
    });
    await moveAll(ctx, 'next');
  },
};
