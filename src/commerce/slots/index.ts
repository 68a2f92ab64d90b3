export { type Asker, type Choice, type CompiledSlot, choose, compileSlot, holdoutSalt, splitSalt, visitorBucketKey } from './choose.ts';
export {
  absoluteLink,
  type SlotClickRef,
  slotClickTarget,
  slotClickToken,
  slotClickWorkspace,
  verifySlotClickToken,
} from './click-links.ts';
export { type DeciderOptions, SlotDecider, type Who } from './decider.ts';
export { KeyBits } from './key-bits.ts';
export { defaultPersonIndexOptions, type PersonIndexOptions } from './person-index.ts';
export { type SlotReport, slotReport, type VariantReport } from './report.ts';
export {
  CLICKED_EVENT,
  DEFAULT_VARIANT,
  type DecideQuery,
  type Decision,
  type DecisionSource,
  decideQuerySchema,
  HOLDOUT_VARIANT,
  type ReportQuery,
  reportQuerySchema,
  type Slot,
  type SlotContent,
  type SlotDefinition,
  type SlotInput,
  type SlotPlacement,
  type SlotVariant,
  slotContentSchema,
  slotInputSchema,
  slotPlacements,
  slotVariantSchema,
  VIEWED_EVENT,
} from './schema.ts';
export { createSlot, deleteSlot, getSlot, listSlots, requireSlot, updateSlot, workspacesWithSlots } from './slots-repo.ts';
export type { SyncResult } from './workspace-slots.ts';
