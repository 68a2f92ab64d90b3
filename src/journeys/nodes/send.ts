import { everyone, type NodeHandler } from '../step-context.ts';
import { insertOutbox } from './outbox.ts';

/** Queues a message (channel + template) for each ready person outside the holdout. */
export const sendHandler: NodeHandler<'send'> = {
  branches: () => ['next'],
  waits: false,
  async step(ctx, node) {
    await insertOutbox(ctx, {
      action: 'message',
      nodeId: node.id,
      channel: node.channel,
      template: node.template,
      transactional: node.transactional,
      payload: [
        ['topic', 'CAST($1 AS TEXT)'],
        ['fallback', `CAST($2 AS ${ctx.dialect === 'duckdb' ? 'JSON' : 'JSONB'})`],
        ['preferred_channel', node.preferredChannel ? 'TRUE' : 'FALSE'],
      ],
      params: [node.topic, JSON.stringify(node.fallback)],
    });
    return everyone('next');
  },
};
