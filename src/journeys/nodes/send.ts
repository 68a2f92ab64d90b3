import { moveAll, type NodeHandler } from '../step-context.ts';
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
      payload: [['transactional', node.transactional ? 'TRUE' : 'FALSE']],
    });
    await moveAll(ctx, 'next');
  },
};
