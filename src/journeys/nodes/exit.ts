import { everyone, type NodeHandler } from '../step-context.ts';

/** Leaves the journey: a branch with no edge ends the instance (reason `exit_node`). */
export const exitHandler: NodeHandler<'exit'> = {
  branches: () => [],
  waits: false,
  step: async () => everyone('exit'),
};
