import { z } from 'zod';

/**
 * A content slot: a place on the shop's pages (home banner, pop-up, product-page strip) whose
 * content is chosen per person. One schema is the TypeScript type, the validator and the OpenAPI
 * component; it is stored whole as the slot's definition.
 */

export const slotPlacements = ['home_banner', 'popup', 'product_strip', 'other'] as const;
export type SlotPlacement = (typeof slotPlacements)[number];

/** Variant ids the decision itself uses: a variant may not be called so. */
export const DEFAULT_VARIANT = 'default';
export const HOLDOUT_VARIANT = 'holdout';

/** What the shop renders: any JSON object (title, image, link, colours, a coupon code…). */
export const slotContentSchema = z
  .record(z.string(), z.unknown())
  .refine((c) => JSON.stringify(c).length <= 16_384, 'content is over 16 KB of JSON')
  .describe('What the shop renders, e.g. {"title": "…", "image": "https://…", "link": "/sale"}: any JSON object up to 16 KB');
export type SlotContent = z.infer<typeof slotContentSchema>;

const slug = (what: string) =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, `a ${what}: lower-case letters, digits, "_" or "-" (starting with a letter or digit), at most 64`);

const instant = z.iso.datetime({ offset: true }).describe('An ISO 8601 date-time with offset');

export const slotVariantSchema = z
  .strictObject({
    id: slug('variant id')
      .refine((id) => id !== DEFAULT_VARIANT && id !== HOLDOUT_VARIANT, `"${DEFAULT_VARIANT}" and "${HOLDOUT_VARIANT}" are reserved`)
      .describe('Stable id of the variant; it comes back in decisions, events and reports'),
    description: z.string().max(2000).optional(),
    segmentId: z.number().int().positive().optional().describe('Shown only to members of this segment (absent: to everyone)'),
    excludeSegmentId: z.number().int().positive().optional().describe('Never shown to members of this segment'),
    priority: z
      .number()
      .int()
      .min(-1000)
      .max(1000)
      .default(0)
      .describe('Higher first: a person gets the highest-priority variant they are eligible for'),
    weight: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(1)
      .describe('A/B split among eligible variants of the same priority, in proportion to weight (stable per person); 0 turns it off'),
    startAt: instant.optional().describe('Shown from this instant (e.g. the burst day)'),
    endAt: instant.optional().describe('Shown until this instant (exclusive)'),
    content: slotContentSchema,
  })
  .refine((v) => !v.startAt || !v.endAt || Date.parse(v.startAt) < Date.parse(v.endAt), {
    message: '`endAt` must be after `startAt`',
    path: ['endAt'],
  });
export type SlotVariant = z.infer<typeof slotVariantSchema>;

export const slotInputSchema = z
  .strictObject({
    name: slug('slot name').describe('What the shop asks for: GET /v1/decide?slot=<name>'),
    placement: z.enum(slotPlacements).describe('Where it shows (informational: the shop renders it)'),
    description: z.string().max(2000).optional(),
    status: z.enum(['active', 'paused']).default('active').describe('paused: everyone gets the default content'),
    holdoutPercent: z
      .number()
      .int()
      .min(0)
      .max(50)
      .default(0)
      .describe('Share of people (stable per person) who get the default content instead of a targeted variant: the control group'),
    defaultContent: slotContentSchema
      .nullable()
      .default(null)
      .describe('For people no variant targets, the holdout and a paused slot; null: show nothing'),
    variants: z.array(slotVariantSchema).max(50).default([]),
  })
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.variants.forEach((v, i) => {
      if (seen.has(v.id)) ctx.addIssue({ code: 'custom', message: `variant id "${v.id}" is used twice`, path: ['variants', i, 'id'] });
      seen.add(v.id);
    });
  });
export type SlotInput = z.input<typeof slotInputSchema>;
export type SlotDefinition = z.infer<typeof slotInputSchema>;

export interface Slot extends SlotDefinition {
  createdAt: number;
  updatedAt: number;
}

/** Who is asking: the shop's own user id, or the browser's anonymous id (as on the tracking API). */
export const decideQuerySchema = z
  .object({
    slot: slug('slot name').describe('The slot to fill'),
    userId: z.string().trim().min(1).max(500).optional(),
    anonymousId: z.string().trim().min(1).max(500).optional(),
  })
  .refine((q) => q.userId !== undefined || q.anonymousId !== undefined, {
    message: 'send userId or anonymousId',
    path: ['userId'],
  });
export type DecideQuery = z.infer<typeof decideQuerySchema>;

/** Why the decision is what it is. */
export type DecisionSource = 'variant' | 'holdout' | 'default' | 'paused' | 'none';

export interface Decision {
  slot: string;
  /** The variant id, `default`, `holdout`, or null when there is nothing to show. */
  variant: string | null;
  content: SlotContent | null;
  source: DecisionSource;
  /** Unique per decision: send it back with the impression and click events. */
  decisionId: string;
  /** The properties to send with `Content Viewed` / `Content Clicked`. */
  track: { slot: string; variant: string | null; decision_id: string };
  /** When the content has an absolute `link`: a redirect to it that records the click (click-links.ts). */
  clickUrl?: string;
}

export const reportQuerySchema = z.object({
  from: z.iso.datetime({ offset: true }).optional().describe('Events at or after (default: 30 days ago)'),
  to: z.iso.datetime({ offset: true }).optional().describe('Events before (default: now)'),
  conversionEvent: z.string().min(1).max(200).default('Order Completed').describe('What counts as a conversion'),
  windowDays: z.coerce.number().int().min(1).max(90).default(7).describe('A conversion counts within this many days after the first view'),
});
export type ReportQuery = z.infer<typeof reportQuerySchema>;

/** The event names the shop sends back (documented in docs/slots.md). */
export const VIEWED_EVENT = 'Content Viewed';
export const CLICKED_EVENT = 'Content Clicked';
