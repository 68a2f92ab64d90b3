export {
  type ChannelSettings,
  channelSettingsSchema,
  listChannelSettings,
  putChannelSettings,
  redactConfig,
} from './channels/channel-settings.ts';
export { providersOf } from './channels/registry.ts';
export { Dispatcher, type DispatcherOptions, defaultDispatcherOptions, retryDelay } from './dispatch/index.ts';
export { applyCallback, clickByToken, unsubscribeByToken } from './feedback.ts';
export { activeHourTime, allowedTime, brokenCap, inQuietHours } from './governance/rules.ts';
export {
  getMessagingSettings,
  type MessagingSettings,
  messagingSettingsSchema,
  putMessagingSettings,
} from './governance/settings.ts';
export { type Subscription, setSubscription, subscriptionSchema, subscriptionsOf } from './subscriptions.ts';
export {
  type CouponContext,
  type PersonContext,
  type ProductContext,
  type RenderContext,
  UNSUBSCRIBE_URL_PLACEHOLDER,
} from './templates/context.ts';
export { type OutboxMessageLike, type PreviewInput, renderForPerson, renderMessage, renderTemplate } from './templates/render.ts';
export { defaultRenderLimits, type RenderLimits } from './templates/sandbox.ts';
export {
  type PartialDefinition,
  partialSchema,
  type RenderedMessage,
  renderedMessageSchema,
  type TemplateChannel,
  type TemplateDefinition,
  templateChannels,
  templateFields,
  templateNameSchema,
  templateSchema,
} from './templates/schema.ts';
export {
  createPartial,
  createTemplate,
  deletePartial,
  deleteTemplate,
  getTemplate,
  listPartials,
  listTemplates,
  requirePartial,
  requireTemplate,
  type StoredPartial,
  type StoredTemplate,
  updatePartial,
  updateTemplate,
} from './templates/templates-repo.ts';
