import { bucketSql, saltHash } from '../../core/buckets.ts';
import type { NodeHandler } from '../step-context.ts';

/**
 * Random A/B split, stable per person: the person's bucket (0–99, salted by journey and node)
 * picks the variant, so the same person always takes the same branch, in SQL and in JS alike.
 */
export const splitHandler: NodeHandler<'split'> = {
  branches: (node) => node.variants.map((v) => v.branch),
  waits: false,
  async step(ctx, node) {
    const params: (string | number)[] = [saltHash(`journey:${ctx.journeyId}:${node.id}`)];
    let upper = 0;
    const cases = node.variants.map((v) => {
      upper += v.percent;
      params.push(upper, v.branch);
      return `WHEN ${bucketSql('r.user_key', '$1')} < $${params.length - 1} THEN $${params.length}`;
    });
    await ctx.tx.query(`INSERT INTO moves (instance_id, branch) SELECT r.instance_id, CASE ${cases.join(' ')} END FROM ready r`, params);
  },
};
