export { type CompiledSegment, type CompileOptions, compileSegment, eventMatchSql } from './compile.ts';
export * from './definition.ts';
export { csvField, dmpIdentifiers, type ExportCounts, exportDmpAudience, exportSegmentCsv } from './export.ts';
export { createLookalikeSegment, findLookalikes, type Lookalike, type LookalikeSegment, runLookalike } from './lookalike.ts';
export {
  describePeople,
  type Estimate,
  estimateSegment,
  listChanges,
  listMembers,
  type MemberView,
  type SegmentChange,
} from './members.ts';
export { type RefreshOptions, type RefreshResult, refreshSegment } from './membership.ts';
export { cronSchema, nextCronRun, nextScheduledRefresh, type RefreshSettings, refreshSchema } from './refresh-schedule.ts';
export { defaultRefresherOptions, type RefresherOptions, SegmentRefresher } from './refresher.ts';
export {
  archiveSegment,
  checkReferences,
  createSegment,
  createStaticSegment,
  getSegment,
  listSegments,
  referencedSegments,
  requireSegment,
  type Segment,
  type SegmentInput,
  segmentInputSchema,
  updateSegment,
} from './segments-repo.ts';
export { SqlBuilder } from './sql-builder.ts';
export { dependsOnTime, durationMs, instantMs, windowRange } from './time.ts';
