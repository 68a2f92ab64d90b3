import { moveAll, type NodeHandler } from '../step-context.ts';

/**
 * Sets traits and adds a tag (traits.tags.<tag> = true) on the profile, for everyone who passes,
 * holdout included: it is bookkeeping about the person, not a message to them.
 */
export const updateTraitHandler: NodeHandler<'update_trait'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    const set = JSON.stringify(node.set);
    const tag = JSON.stringify(node.tag ? { [node.tag]: true } : {});
    // DuckDB's json_merge_patch merges nested objects; PostgreSQL's || is shallow, so tags merge on their own.
    const merged =
      ctx.dialect === 'duckdb'
        ? `json_merge_patch(json_merge_patch(users.traits, CAST($3 AS JSON)), json_object('tags', json_merge_patch(COALESCE(users.traits -> 'tags', '{}'), CAST($4 AS JSON))))`
        : `(users.traits || CAST($3 AS JSONB)) || jsonb_build_object('tags', COALESCE(users.traits -> 'tags', '{}'::jsonb) || CAST($4 AS JSONB))`;
    await ctx.tx.query(
      `UPDATE users SET traits = ${merged}, updated_at = $2
       FROM ready r WHERE users.workspace_id = $1 AND users.user_key = r.user_key`,
      [ctx.workspaceId, ctx.now, set, tag],
    );
    await moveAll(ctx, 'next');
  },
};
