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
