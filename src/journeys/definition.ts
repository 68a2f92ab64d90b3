import { z } from 'zod';
import { recommendationRulesShape, segmentRequired, strategies } from '../commerce/recommendations/schema.ts';
import { isValidTimeZone } from '../core/identities.ts';
import { cronSchema, durationSchema, eventMatchFields, segmentDefinitionSchema } from '../segments/index.ts';

/**
 * A journey definition: the graph drawn on the canvas, as data. One schema is the TypeScript
 * type, the runtime validator and the OpenAPI component. `nodes` carry canvas positions; `edges`
 * connect a node's named branch to the next node. Graph rules (one entry, everything reachable,
 * every branch connected, cycles only through a wait) are checked on publish by `graph.ts`.
 */

const nodeId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" or "-", at most 64')
  .describe('Unique within the journey; steps, counts and idempotency keys refer to it');
const branchName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, "_" or "-", at most 40')
  .describe('A branch of a node, e.g. "yes", "timeout", "A"');
const propertyName = z
  .string()
  .regex(/^[^'"\\.]+(\.[^'"\\.]+)*$/, 'a property name without quotes or backslashes')
  .max(200);
const timeZone = z.string().refine(isValidTimeZone, 'an IANA time zone like Asia/Shanghai');

const nodeBase = {
  id: nodeId,
  label: z.string().max(200).optional().describe('What the canvas shows'),
  position: z.strictObject({ x: z.number(), y: z.number() }).default({ x: 0, y: 0 }).describe('Canvas position'),
};

export const triggerSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({
        kind: z.literal('segment'),
        segmentId: z.number().int().positive(),
        existing: z.boolean().default(true).describe('Also enrol the people already in the segment when the journey is published'),
      })
      .describe('When a person enters the segment'),
    z
      .strictObject({
        kind: z.literal('event'),
        ...eventMatchFields,
        key: propertyName
          .optional()
          .describe(
            'Keyed instances: one instance per value of this property (e.g. order_id), so "this order is still unpaid" is answerable',
          ),
      })
      .describe('On every matching event'),
    z
      .strictObject({
        kind: z.literal('schedule'),
        cron: cronSchema.describe(
          'A cron expression ("0 10 * * 1" = Mondays 10:00), or a local date-time ("2026-11-11T10:00:00") to run once',
        ),
        timezone: timeZone
          .or(z.literal('user'))
          .default('UTC')
          .describe('Time zone of the schedule; "user": each person at that local time in their own zone'),
        segmentId: z.number().int().positive().optional().describe('Whom to enrol each time (omit for everyone)'),
      })
      .describe('Once or recurring on a cron schedule, over an audience'),
    z
      .strictObject({
        kind: z.literal('api'),
        key: propertyName.optional().describe('Keyed instances: one instance per value of this property of the request'),
      })
      .describe('POST /api/journeys/{id}/enroll'),
  ])
  .describe('What enrols people');
export type Trigger = z.infer<typeof triggerSchema>;

const hhmm = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time like "10:00"')
  .describe('Local wall-clock time, 24-hour');
export const weekdayNames = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export const waitSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('duration'), duration: durationSchema }).describe('A fixed time'),
    z
      .strictObject({
        kind: z.literal('local_time'),
        at: hhmm,
        weekdays: z.array(z.enum(weekdayNames)).max(7).optional().describe('Only on these days (default any day)'),
      })
      .describe("Until the next time of day in the person's time zone (trait `timezone`, else the journey's)"),
    z
      .strictObject({
        kind: z.literal('trait'),
        trait: propertyName.describe('A date trait, or a computed one such as expected_next_order_at'),
        offset: z
          .string()
          .regex(/^[+-]?\d{1,5}[mhdw]$/, 'a signed duration like "-3d"')
          .default('0d')
          .describe('e.g. "-3d" = three days before'),
      })
      .describe('Until a date trait ± offset; people without the trait (or whose time has passed) go on at once'),
  ])
  .describe('How long to wait');
export type WaitSpec = z.infer<typeof waitSchema>;

const sinceEntry = z.strictObject({
  kind: z.literal('since_entry'),
  ...eventMatchFields,
  sameKey: z.boolean().default(true).describe('Keyed journeys: only events with the same key (e.g. the same order_id)'),
});

export const journeyConditionSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({ kind: z.literal('audience'), definition: segmentDefinitionSchema })
      .describe('Traits, computed traits, predictions, segment membership, behaviour — any segment definition, for this person now'),
    sinceEntry.describe('The person performed a matching event since entering the journey'),
    z
      .strictObject({ kind: z.literal('coupon_used'), node: nodeId.optional().describe('Only the coupon of this node') })
      .describe('A coupon this instance issued was used: an event whose `coupon` (or `coupon_id`) is its code, or redeemed at a till'),
    z
      .strictObject({ kind: z.literal('message_clicked'), node: nodeId.optional().describe('Only the message of this node') })
      .describe('A message this instance sent was clicked (`Message Clicked` with its journey and instance)'),
    z
      .strictObject({
        kind: z.literal('recommendation_viewed'),
        node: nodeId.optional(),
        bought: z.boolean().default(false).describe('false: viewed but not bought; true: viewed and bought'),
      })
      .describe('A product this instance recommended was viewed (`Product Viewed` with its recommendation_id)'),
  ])
  .describe('A condition on the person (or, for keyed journeys, the instance)');
export type JourneyCondition = z.infer<typeof journeyConditionSchema>;

export const channels = ['sms', 'push', 'email', 'wechat', 'webhook', 'voice', 'sandbox'] as const;

const nodeSchemas = [
  z.strictObject({ ...nodeBase, type: z.literal('entry'), trigger: triggerSchema }).describe('Where people enter (exactly one)'),
  z.strictObject({ ...nodeBase, type: z.literal('wait'), wait: waitSchema }),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('wait_for_event'),
      ...eventMatchFields,
      sameKey: z.boolean().default(true).describe('Keyed journeys: only an event with the same key'),
      timeout: durationSchema,
    })
    .describe('Branches "event" (it happened) and "timeout"'),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('condition'),
      cases: z
        .array(z.strictObject({ branch: branchName, when: journeyConditionSchema }))
        .min(1)
        .max(10)
        .describe('Checked in order; the first that holds decides the branch'),
      otherwise: branchName.default('else').describe('The branch when no case holds'),
    })
    .describe('Yes/no or multi-way split'),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('split'),
      variants: z
        .array(z.strictObject({ branch: branchName, percent: z.number().int().min(0).max(100) }))
        .min(2)
        .max(10)
        .refine((v) => v.reduce((s, x) => s + x.percent, 0) === 100, 'percentages must add up to 100'),
    })
    .describe('Random A/B split, stable per person'),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('send'),
      channel: z.enum(channels),
      template: z.string().min(1).max(200).describe('Template name'),
      transactional: z.boolean().default(false).describe('Exempt from frequency caps and quiet hours (order and service notices)'),
      topic: z
        .string()
        .regex(/^[a-z0-9_-]{1,50}$/, 'lower-case letters, digits, "_" or "-"')
        .default('marketing')
        .describe('Subscription topic: people unsubscribed from it (or from the whole channel) are skipped'),
      fallback: z
        .array(z.strictObject({ channel: z.enum(channels), template: z.string().min(1).max(200) }))
        .max(5)
        .default([])
        .describe('Channels tried in order when the person cannot get the first (no address, opted out, suppressed) or it fails for good'),
      preferredChannel: z
        .boolean()
        .default(false)
        .describe("Start with the person's preferred channel (computed trait `preferred_channel`) when it is one of these"),
    })
    .describe('Send a message'),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('coupon'),
      campaign: z
        .string()
        .min(1)
        .max(200)
        .describe(
          'Coupon campaign name: its terms apply (kind, minimum spend, scope, member-only, per-person limit, budget). ' +
            'A name with no campaign makes an ad-hoc one from value or tiers (no limit per person, no budget)',
        ),
      value: z.number().positive().optional().describe("Face value when no tier applies (default: the campaign's)"),
      tiers: z
        .array(z.strictObject({ minTotal: z.number().min(0), value: z.number().positive() }))
        .max(20)
        .optional()
        .describe('Value by the triggering order total: the highest tier whose minTotal it reaches'),
      validFor: durationSchema.optional().describe("Valid this long from issue (default: the campaign's validity; 7d ad hoc)"),
      notIssuedBranch: z
        .boolean()
        .optional()
        .describe('People who get no code (budget spent, limit reached, not a member…) take branch "not_issued" instead of "next"'),
    })
    .describe('Issue a coupon from a campaign (the reason is recorded when someone gets none)'),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('recommend'),
      strategy: z
        .enum([...strategies, 'bestsellers'])
        .default('same_category')
        .describe('See the Recommendation schema; bestsellers = popular (the name journeys used first)'),
      ...recommendationRulesShape,
      count: z.number().int().min(1).max(20).default(4),
      channel: z.enum(channels).default('sandbox'),
      template: z.string().min(1).max(200).default('recommendations'),
    })
    .refine((n) => n.strategy !== 'segment' || n.segmentId !== undefined, segmentRequired)
    .describe('Recommend products with one strategy and its rules (sent with a template; the trigger products anchor related)'),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('update_trait'),
      set: z.record(propertyName, z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}),
      tag: z.string().min(1).max(100).optional().describe('Adds traits.tags.<tag> = true'),
    })
    .describe('Update a trait or add a tag'),
  z
    .strictObject({
      ...nodeBase,
      type: z.literal('webhook'),
      url: z.url({ protocol: /^https?$/ }),
      body: z.record(z.string(), z.unknown()).optional(),
    })
    .describe('Call a webhook'),
  z.strictObject({ ...nodeBase, type: z.literal('exit') }).describe('Leave the journey'),
] as const;

export const journeyNodeSchema = z.discriminatedUnion('type', nodeSchemas);
export type JourneyNode = z.infer<typeof journeyNodeSchema>;
export type NodeType = JourneyNode['type'];
export type NodeOf<T extends NodeType> = Extract<JourneyNode, { type: T }>;

export const edgeSchema = z.strictObject({
  from: nodeId,
  to: nodeId,
  branch: branchName.default('next').describe('Which branch of `from` (single-exit nodes: "next")'),
});
export type Edge = z.infer<typeof edgeSchema>;

export const reentrySchema = z
  .discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('once') }).describe('Once ever (per key for keyed journeys)'),
    z.strictObject({ mode: z.literal('after_exit') }).describe('Again once the previous instance has left'),
    z
      .strictObject({ mode: z.literal('after_days'), days: z.number().int().min(1).max(3650) })
      .describe('Again N days after the last entry'),
  ])
  .describe('Whether a person may enter again');

export const settingsSchema = z.strictObject({
  goal: z
    .strictObject({
      ...eventMatchFields,
      sameKey: z.boolean().default(true).describe('Keyed journeys: only the same key converts (e.g. that order paid)'),
    })
    .optional()
    .describe('Conversion goal, checked at every step: who reaches it leaves as converted, with revenue (the event total)'),
  holdoutPercent: z
    .number()
    .int()
    .min(0)
    .max(50)
    .default(0)
    .describe('Control group: enrolled and tracked, receives nothing (stable per person)'),
  reentry: reentrySchema.default({ mode: 'after_exit' }),
  maxConcurrent: z.number().int().min(1).max(1000).default(10).describe('Keyed journeys: instances one person may have at once'),
  timezone: timeZone.default('UTC').describe('For local-time waits of people without a `timezone` trait'),
});
export type JourneySettings = z.infer<typeof settingsSchema>;

export const journeyDefinitionSchema = z
  .strictObject({
    nodes: z.array(journeyNodeSchema).min(1).max(200),
    edges: z.array(edgeSchema).max(1000),
    settings: settingsSchema.default(settingsSchema.parse({})),
  })
  .describe('A journey: nodes and edges as drawn on the canvas, plus settings');
export type JourneyDefinition = z.infer<typeof journeyDefinitionSchema>;
