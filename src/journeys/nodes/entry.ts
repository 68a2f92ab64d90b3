import { everyone, type NodeHandler } from '../step-context.ts';

/** Where people come in; enrolment itself is enroll.ts. They go straight on. */
export const entryHandler: NodeHandler<'entry'> = {
  branches: () => ['next'],
  waits: false,
  step: async () => everyone('next'),
};
