import { everyone, type NodeHandler } from '../step-context.ts';

/**
 * Sets traits (null removes one) and adds a tag (traits.tags.<tag> = true) on the profile, for
 * everyone who passes, holdout included: it is bookkeeping about the person, not contact.
 */
export const updateTraitHandler: NodeHandler<'update_trait'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    const tags = node.tag ? { tags: { [node.tag]: true } } : {};
    const params: (string | number | readonly string[])[] = [ctx.workspaceId, ctx.now];
    let merged: string;
    if (ctx.dialect === 'duckdb') {
      // json_merge_patch (RFC 7396) merges nested objects and removes keys set to null.
      params.push(JSON.stringify({ ...node.set, ...tags }));
      merged = 'json_merge_patch(users.traits, CAST($3 AS JSON))';
    } else {
      // PostgreSQL's || is shallow: removals first, then the values, then the tag into the tags object.
      const removed = Object.keys(node.set).filter((k) => node.set[k] === null);
      const values = Object.fromEntries(Object.entries(node.set).filter(([, v]) => v !== null));
      params.push(JSON.stringify(values), removed);
      merged = '(users.traits - CAST($4 AS TEXT[])) || CAST($3 AS JSONB)';
      if (node.tag) {
        params.push(JSON.stringify(tags.tags));
        merged = `jsonb_set(${merged}, '{tags}', COALESCE(users.traits -> 'tags', '{}'::jsonb) || CAST($5 AS JSONB))`;
      }
    }
    await ctx.tx.query(
      `UPDATE users SET traits = ${merged}, updated_at = $2 FROM ready r WHERE users.workspace_id = $1 AND users.user_key = r.user_key`,
      params,
    );
    return everyone('next');
  },
};
