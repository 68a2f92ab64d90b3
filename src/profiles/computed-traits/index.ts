export { type Channel, channels, JOURNEY_CONVERTED_EVENT, MESSAGE_CLICKED_EVENT, MESSAGE_DELIVERED_EVENT } from './definitions.ts';
export {
  defaultLifecycleRules,
  getLifecycleRules,
  LIFECYCLE_SETTINGS_KEY,
  type LifecycleRules,
  type LifecycleStage,
  lifecycleRulesSchema,
  lifecycleStages,
  saveLifecycleRules,
} from './lifecycle-rules.ts';
export { type RefreshOptions, type RefreshResult, reapplyLifecycle, refreshComputedTraits } from './refresh.ts';
export { type RfmBoundaries, rfmBoundaries } from './rfm.ts';
