export { enrollViaApi } from './api-entry.ts';
export * from './definition.ts';
export { defaultEngineOptions, type EngineOptions, JourneyEngine, type TickResult } from './engine.ts';
export type { CommittedEvent } from './fast-path.ts';
export { branchesOf, graphProblems } from './graph.ts';
export { type InstancePath, type JourneyStats, journeyStats, listOutbox, type NodeCounts, type OutboxRow, personPath } from './inspect.ts';
export {
  archiveJourney,
  createJourney,
  definitionsInUse,
  type Journey,
  type JourneyInput,
  journeyInputSchema,
  journeyStatuses,
  journeysReadingSegment,
  journeysWithProblems,
  listJourneys,
  publishJourney,
  requireJourney,
  setJourneyRunning,
  updateJourney,
  validateJourney,
  versionDefinition,
} from './journeys-repo.ts';
export { type Arm, describeLift, type LiftEstimate, liftEstimate } from './lift.ts';
export { messagesOf } from './references.ts';
