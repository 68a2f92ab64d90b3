import { everyone, type NodeHandler } from '../step-context.ts';
import { insertOutbox } from './outbox.ts';

/** Queues a webhook call; the dispatcher makes it through the guarded outbound client. */
export const webhookHandler: NodeHandler<'webhook'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    await insertOutbox(ctx, {
      action: 'webhook',
      nodeId: node.id,
      channel: 'webhook',
      template: null,
      payload: [
        ['url', 'CAST($1 AS TEXT)'],
        ['body', `CAST($2 AS ${ctx.dialect === 'duckdb' ? 'JSON' : 'JSONB'})`],
      ],
      params: [node.url, JSON.stringify(node.body ?? {})],
    });
    return everyone('next');
  },
};
