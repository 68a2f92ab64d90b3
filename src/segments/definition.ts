import { z } from 'zod';
import { DAY, HOUR, MINUTE } from '../core/clock.ts';

/**
 * The segment definition: one schema that is the TypeScript type, the runtime validator and the
 * OpenAPI component. A definition is a tree of conditions combined with and / or / not; the
 * compiler (compile.ts) turns it into one SQL query per dialect.
 */

/** "30m", "6h", "10d", "2w": short enough to type, unambiguous to read. */
export const durationSchema = z
  .string()
  .regex(/^\d{1,5}[mhdw]$/, 'a duration like "30m", "6h", "10d" or "2w"')
  .describe('A duration: a whole number followed by m (minutes), h (hours), d (days) or w (weeks)');
export type Duration = z.infer<typeof durationSchema>;

const isoInstant = z.iso.datetime({ offset: true }).or(z.iso.date()).describe('An ISO 8601 date or date-time');

const unitMs = { m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY } as const;
/** Milliseconds of a valid duration string. */
export function durationMs(d: Duration): number {
  return Number(d.slice(0, -1)) * unitMs[d.slice(-1) as keyof typeof unitMs];
}

/** An instant: absolute, or relative to evaluation time (`{ago: "60d"}`). */
export const instantSchema = z.union([isoInstant, z.strictObject({ ago: durationSchema })]);
export type Instant = z.infer<typeof instantSchema>;

export const windowSchema = z
  .union([
    z.strictObject({ last: durationSchema }).describe('Within the last duration, e.g. {"last": "30d"}'),
    z
      .strictObject({ from: durationSchema, to: durationSchema })
      .refine((w) => durationMs(w.from) > durationMs(w.to), {
        message: '`from` must be further back than `to` (e.g. from "10d" to "3d")',
        path: ['to'],
      })
      .describe('Between `from` ago and `to` ago, e.g. {"from": "10d", "to": "3d"} = 3 to 10 days ago'),
    z
      .strictObject({ after: isoInstant.optional(), before: isoInstant.optional() })
      .describe('An absolute range: at or after `after`, before `before`'),
  ])
  .describe('When the events happened');
export type Window = z.infer<typeof windowSchema>;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** Operators shared by trait and property filters. */
export const comparisonSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.enum(['eq', 'neq']), value: scalar }),
  z.strictObject({ op: z.enum(['in', 'not_in']), value: z.array(scalar).min(1).max(10_000) }),
  z.strictObject({ op: z.literal('contains'), value: z.string().min(1) }).describe('Substring, case-insensitive'),
  z.strictObject({ op: z.enum(['gt', 'gte', 'lt', 'lte']), value: z.number() }),
  z.strictObject({ op: z.literal('between'), value: z.tuple([z.number(), z.number()]) }).describe('Inclusive'),
  z.strictObject({ op: z.enum(['before', 'after']), value: instantSchema }).describe('Date comparison'),
  z.strictObject({ op: z.enum(['exists', 'not_exists']) }),
  z
    .strictObject({ op: z.literal('in_category'), value: z.string().min(1) })
    .describe('A category path contains this category at any level ("Phones" matches "Electronics > Phones > Smartphones")'),
]);
export type Comparison = z.infer<typeof comparisonSchema>;

/** Names that may be nested with dots: no empty parts, no quotes or backslashes (they are written into JSON paths). */
const dottedName = (what: string) =>
  z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^'"\\.]+(\.[^'"\\.]+)*$/, `a ${what} name without quotes, backslashes or empty parts between dots`);
const propertyName = dottedName('property');

const comparisonOps = [
  'eq',
  'neq',
  'in',
  'not_in',
  'contains',
  'gt',
  'gte',
  'lt',
  'lte',
  'between',
  'before',
  'after',
  'exists',
  'not_exists',
  'in_category',
] as const;

/**
 * Nodes carry `op` and `value` flat (so the node's union can discriminate on `type` and errors
 * name the exact field); this check validates `value` for the `op`.
 */
function checkComparison(node: { op: string; value?: unknown }, ctx: z.core.$RefinementCtx) {
  const r = comparisonSchema.safeParse(node.value === undefined ? { op: node.op } : { op: node.op, value: node.value });
  for (const issue of r.error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
}
const comparisonFields = { op: z.enum(comparisonOps), value: z.unknown().optional() };

/** Event fields stored as typed columns (of the event or of its product lines); other properties are JSON. */
export const typedPropertyKinds: Record<string, ValueKind> = {
  total: 'number',
  price: 'number',
  quantity: 'number',
  order_id: 'text',
  currency: 'text',
  product_id: 'text',
  category: 'text',
};

const opsByKind: Record<ValueKind, readonly string[]> = {
  number: ['eq', 'neq', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'between', 'exists', 'not_exists'],
  time: ['before', 'after', 'exists', 'not_exists'],
  text: ['eq', 'neq', 'in', 'not_in', 'contains', 'exists', 'not_exists', 'in_category'],
};

/** A typed field takes only the operators (and value types) of its kind: "lifecycle > 5" is refused, not run. */
function checkKind(kind: ValueKind | undefined, what: string, node: { op: string; value?: unknown }, ctx: z.core.$RefinementCtx) {
  if (!kind) return;
  if (!opsByKind[kind].includes(node.op)) {
    ctx.addIssue({ code: 'custom', path: ['op'], message: `${what} is a ${kind}: use one of ${opsByKind[kind].join(', ')}` });
  } else if (kind === 'number' && ['eq', 'neq', 'in', 'not_in'].includes(node.op)) {
    const values = Array.isArray(node.value) ? node.value : [node.value];
    if (!values.every((v) => typeof v === 'number')) ctx.addIssue({ code: 'custom', path: ['value'], message: `${what} is a number` });
  }
}

export const propertyFilterSchema = z
  .strictObject({ property: propertyName, ...comparisonFields })
  .superRefine((f, ctx) => {
    checkComparison(f, ctx);
    checkKind(typedPropertyKinds[f.property], f.property, f, ctx);
  })
  .describe(
    'A filter on an event property; product_id, category, price and quantity match any product line of the event',
  ) as unknown as z.ZodType<PropertyFilter>;
export type PropertyFilter = { property: string } & Comparison;

export interface EventMatch {
  event: string | string[];
  where?: PropertyFilter[];
}
export const eventMatchFields = {
  event: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(50)]).describe('Event name, or several names (any of them)'),
  where: z.array(propertyFilterSchema).max(20).optional().describe('All filters must hold'),
};
const eventMatchSchema = z.strictObject(eventMatchFields);

export const countSchema = z.strictObject({
  op: z.enum(['at_least', 'at_most', 'exactly']),
  value: z.number().int().min(0).max(1_000_000),
});

export const aggregateSchema = z
  .strictObject({
    fn: z.enum(['sum', 'avg', 'min', 'max']),
    property: propertyName.describe('A numeric property, e.g. total or price'),
    ...comparisonFields,
  })
  .superRefine((a, ctx) => {
    checkComparison(a, ctx);
    if (typedPropertyKinds[a.property] === 'text')
      ctx.addIssue({ code: 'custom', path: ['property'], message: `${a.property} is not a number` });
    checkKind('number', `${a.fn} of ${a.property}`, a, ctx);
  });
export type Aggregate = { fn: 'sum' | 'avg' | 'min' | 'max'; property: string } & Comparison;

type ValueKind = 'number' | 'time' | 'text';

/** Computed traits and predictions a segment can filter on (columns of computed_traits / customer_predictions), by kind. */
export const computedTraitKinds = {
  order_count: 'number',
  total_spend: 'number',
  avg_order_value: 'number',
  first_order_at: 'time',
  last_order_at: 'time',
  avg_days_between_orders: 'number',
  rfm_recency: 'number',
  rfm_frequency: 'number',
  rfm_monetary: 'number',
  rfm_score: 'text',
  lifecycle: 'text',
  favourite_top_category: 'text',
  favourite_mid_category: 'text',
  favourite_category: 'text',
  preferred_channel: 'text',
  active_hour: 'number',
  discount_sensitivity: 'number',
  p_alive: 'number',
  expected_purchases_30d: 'number',
  expected_purchases_90d: 'number',
  expected_next_order_at: 'time',
} as const satisfies Record<string, ValueKind>;
export const computedTraitNames = Object.keys(computedTraitKinds) as (keyof typeof computedTraitKinds)[];
export type ComputedTraitName = keyof typeof computedTraitKinds;

export const engagementActions = ['received', 'clicked', 'converted'] as const;

export type Condition =
  | { type: 'and'; conditions: Condition[] }
  | { type: 'or'; conditions: Condition[] }
  | { type: 'not'; condition: Condition }
  | ({ type: 'trait'; trait: string } & Comparison)
  | ({ type: 'computed'; trait: ComputedTraitName } & Comparison)
  | (EventMatch & {
      type: 'performed';
      window?: Window;
      count?: z.infer<typeof countSchema>;
      aggregate?: Aggregate;
    })
  | (EventMatch & { type: 'not_performed'; window?: Window })
  | (EventMatch & { type: 'event_time'; which: 'first' | 'last'; op: 'before' | 'after'; value: Instant })
  | {
      type: 'sequence';
      first: EventMatch;
      then: EventMatch;
      thenPerformed: boolean;
      within: Duration;
      window?: Window;
      sameProduct?: boolean;
    }
  | { type: 'in_segment'; segmentId: number }
  | { type: 'random_bucket'; salt?: string; from: number; to: number }
  | {
      type: 'engagement';
      action: (typeof engagementActions)[number];
      channel?: string;
      journeyId?: string;
      window?: Window;
      count?: z.infer<typeof countSchema>;
    };

const traitName = dottedName('trait').describe('A profile trait; nested traits with dots, e.g. address.city');

const nodeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('and'),
    get conditions() {
      return z.array(nodeSchema).min(1).max(100);
    },
  }),
  z.strictObject({
    type: z.literal('or'),
    get conditions() {
      return z.array(nodeSchema).min(1).max(100);
    },
  }),
  z.strictObject({
    type: z.literal('not'),
    get condition() {
      return nodeSchema;
    },
  }),
  z.strictObject({ type: z.literal('trait'), trait: traitName, ...comparisonFields }).superRefine(checkComparison),
  z
    .strictObject({
      type: z.literal('computed'),
      trait: z.enum(computedTraitNames as [ComputedTraitName, ...ComputedTraitName[]]),
      ...comparisonFields,
    })
    .superRefine((c, ctx) => {
      checkComparison(c, ctx);
      checkKind(computedTraitKinds[c.trait], c.trait, c, ctx);
    }),
  z.strictObject({
    type: z.literal('performed'),
    ...eventMatchFields,
    window: windowSchema.optional(),
    count: countSchema.optional().describe('How often (default: at least once); "at most" includes people who never did it'),
    aggregate: aggregateSchema.optional().describe('A sum/avg/min/max of a property over the matching events'),
  }),
  z.strictObject({ type: z.literal('not_performed'), ...eventMatchFields, window: windowSchema.optional() }),
  z.strictObject({
    type: z.literal('event_time'),
    ...eventMatchFields,
    which: z.enum(['first', 'last']),
    op: z.enum(['before', 'after']),
    value: instantSchema,
  }),
  z.strictObject({
    type: z.literal('sequence'),
    first: eventMatchSchema.describe('The first step, e.g. Product Added or Product Added to Wishlist'),
    // biome-ignore lint/suspicious/noThenProperty: "then" is the natural name of a sequence's second step
    then: eventMatchSchema.describe('What must (or must not) follow'),
    thenPerformed: z.boolean().describe('true: `then` followed within `within`; false: it did not (and `within` has passed)'),
    within: durationSchema,
    window: windowSchema.optional().describe('When the first step happened'),
    sameProduct: z
      .boolean()
      .optional()
      .describe('Both steps must concern the same product (e.g. viewed a product, then did not buy that product)'),
  }),
  z.strictObject({ type: z.literal('in_segment'), segmentId: z.number().int().positive() }),
  z
    .strictObject({
      type: z.literal('random_bucket'),
      salt: z.string().max(100).optional().describe('Different salts give independent splits'),
      from: z.number().int().min(0).max(100),
      to: z.number().int().min(0).max(100),
    })
    .refine((b) => b.from < b.to, { message: '`from` must be below `to`', path: ['to'] })
    .describe('People whose stable bucket (0–99) is in [from, to)'),
  z.strictObject({
    type: z.literal('engagement'),
    action: z.enum(engagementActions).describe('received = delivered; converted = reached a journey goal'),
    channel: z.string().optional(),
    journeyId: z.string().optional(),
    window: windowSchema.optional(),
    count: countSchema.optional(),
  }),
]);

/** The validated tree; its TypeScript type is `Condition` (values checked per operator). */
export const conditionSchema = nodeSchema as unknown as z.ZodType<Condition>;

export const segmentDefinitionSchema = conditionSchema.describe('A segment definition: a tree of conditions');
export type SegmentDefinition = Condition;
