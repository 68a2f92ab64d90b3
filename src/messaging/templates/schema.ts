import { z } from 'zod';

/**
 * Message templates: one schema per concept, which is the TypeScript type, the validator and the
 * OpenAPI component. A template belongs to one channel and has that channel's fields, each a
 * Liquid template (rendered by `sandbox.ts`). Partials are workspace-wide snippets that any
 * template (or partial) may `{% render %}` or `{% include %}` by name.
 */

/** Channels a template can be written for. Journeys may also send to `sandbox`, which takes any template. */
export const templateChannels = ['sms', 'push', 'email', 'wechat', 'webhook', 'voice'] as const;
export type TemplateChannel = (typeof templateChannels)[number];

/** Names travel in URLs and in journey definitions, so they stay URL- and shell-friendly. */
export const templateNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'letters, digits, ".", "_" or "-" (starting with a letter or digit), at most 200')
  .describe('Unique in the workspace; journeys refer to templates by it');

const liquid = (max: number, what: string) => z.string().max(max).describe(`${what} (Liquid)`);

export const smsCardSchema = z
  .strictObject({
    title: liquid(200, 'Card title').min(1),
    body: liquid(1_000, 'Card body').min(1),
    imageUrl: liquid(2_000, 'Card image URL').optional(),
    buttonText: liquid(100, 'Button label').optional(),
    url: liquid(2_000, 'Where the button leads').optional(),
  })
  .describe('Rich (card) SMS: sent as a card where the provider supports it; phones without card support get `text`');
export const smsFieldsSchema = z.strictObject({
  text: liquid(5_000, 'Message text').min(1),
  card: smsCardSchema.optional(),
});
export const pushFieldsSchema = z.strictObject({
  title: liquid(1_000, 'Notification title').min(1),
  body: liquid(5_000, 'Notification body').min(1),
  deepLink: liquid(2_000, 'Where a tap leads (URL or app route)').optional(),
});
export const emailFieldsSchema = z
  .strictObject({
    subject: liquid(2_000, 'Subject line').min(1),
    html: liquid(200_000, 'HTML body; output is HTML-escaped unless `| raw`').min(1).optional(),
    mjml: liquid(200_000, 'Body in MJML, compiled to `html` when the template is saved (Liquid inside <mj-text> or <mj-raw>)')
      .min(1)
      .optional(),
    text: liquid(100_000, 'Plain-text body').optional(),
  })
  .refine((f) => f.html !== undefined || f.mjml !== undefined, { message: 'give the body as `html` or `mjml`', path: ['html'] });
export const wechatFieldsSchema = z.strictObject({
  kind: z
    .enum(['template', 'subscribe'])
    .default('template')
    .describe('`template`: official-account template message; `subscribe`: mini-program subscription message'),
  templateId: liquid(200, 'Template id (official account or mini-program)').min(1),
  data: z
    .record(z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits or "_", at most 64'), liquid(2_000, 'Value of the field'))
    .refine((d) => Object.keys(d).length <= 50, 'at most 50 fields')
    .describe('The template message fields, e.g. {"first": "...", "keyword1": "..."}'),
  url: liquid(2_000, 'Where a tap leads (official account)').optional(),
  page: liquid(2_000, 'Mini-program page a tap opens (subscription messages)').optional(),
});
export const webhookFieldsSchema = z.strictObject({
  body: liquid(100_000, 'Request body: must render to JSON; every output is JSON-encoded unless `| raw`').min(1),
});
export const voiceFieldsSchema = z.strictObject({ script: liquid(10_000, 'What the call says').min(1) });

const base = {
  name: templateNameSchema,
  description: z.string().max(2_000).optional(),
};

export const templateSchema = z
  .discriminatedUnion('channel', [
    z.strictObject({ ...base, channel: z.literal('sms'), fields: smsFieldsSchema }),
    z.strictObject({ ...base, channel: z.literal('push'), fields: pushFieldsSchema }),
    z.strictObject({ ...base, channel: z.literal('email'), fields: emailFieldsSchema }),
    z.strictObject({ ...base, channel: z.literal('wechat'), fields: wechatFieldsSchema }),
    z.strictObject({ ...base, channel: z.literal('webhook'), fields: webhookFieldsSchema }),
    z.strictObject({ ...base, channel: z.literal('voice'), fields: voiceFieldsSchema }),
  ])
  .describe('A message template: a channel and its fields, each a Liquid template');
export type TemplateDefinition = z.infer<typeof templateSchema>;

export const partialSchema = z
  .strictObject({
    name: templateNameSchema.describe("Used as {% render 'name' %} or {% include 'name' %}"),
    source: z.string().max(100_000).describe('Liquid source'),
  })
  .describe('A snippet shared by the templates of a workspace');
export type PartialDefinition = z.infer<typeof partialSchema>;

/** How the output of a field's `{{ … }}` is escaped: HTML for email bodies, JSON for webhook bodies, none for plain text. */
export type FieldEscape = 'html' | 'json' | 'none';

export interface TemplateField {
  /** Where the field is in the template, for errors: `fields.html`, `fields.data.keyword1`. */
  path: string;
  /** Where the rendered value goes in the output (`['data', 'keyword1']`). */
  key: readonly string[];
  source: string;
  escape: FieldEscape;
}

/** Every Liquid field of a template, with how its output is escaped. */
export function templateFields(t: TemplateDefinition): TemplateField[] {
  const field = (key: string, source: string | undefined, mode: FieldEscape = 'none'): TemplateField[] =>
    source === undefined ? [] : [{ path: `fields.${key}`, key: [key], source, escape: mode }];
  switch (t.channel) {
    case 'sms': {
      const card = t.fields.card;
      const cardField = (k: string, source: string | undefined): TemplateField[] =>
        source === undefined ? [] : [{ path: `fields.card.${k}`, key: ['card', k], source, escape: 'none' }];
      return [
        ...field('text', t.fields.text),
        ...(card
          ? [
              ...cardField('title', card.title),
              ...cardField('body', card.body),
              ...cardField('imageUrl', card.imageUrl),
              ...cardField('buttonText', card.buttonText),
              ...cardField('url', card.url),
            ]
          : []),
      ];
    }
    case 'push':
      return [...field('title', t.fields.title), ...field('body', t.fields.body), ...field('deepLink', t.fields.deepLink)];
    case 'email':
      // An MJML body is compiled into `html` when saved; `html` is what renders.
      return [...field('subject', t.fields.subject), ...field('html', t.fields.html, 'html'), ...field('text', t.fields.text)];
    case 'wechat':
      return [
        ...field('templateId', t.fields.templateId),
        ...Object.entries(t.fields.data).map(([k, source]) => ({
          path: `fields.data.${k}`,
          key: ['data', k],
          source,
          escape: 'none' as const,
        })),
        ...field('url', t.fields.url),
        ...field('page', t.fields.page),
      ];
    case 'webhook':
      return field('body', t.fields.body, 'json');
    case 'voice':
      return field('script', t.fields.script);
    default: {
      const never: never = t;
      throw new Error(`unknown channel ${(never as { channel: string }).channel}`);
    }
  }
}

/** A rendered message: the template's fields with every Liquid field replaced by its output. */
export const renderedMessageSchema = z
  .object({
    template: z.string(),
    channel: z.enum(templateChannels),
    fields: z
      .record(z.string(), z.unknown())
      .describe('The channel fields, rendered (wechat `data` is an object of strings; webhook `body` is the parsed JSON)'),
  })
  .describe('A rendered message');
export type RenderedMessage = z.infer<typeof renderedMessageSchema>;
