import { z } from 'zod';

/**
 * The Segment tracking spec (https://segment.com/docs/connections/spec/), so existing SDKs work
 * unchanged, plus the commerce vocabulary Shopflow understands. One schema per concept: these are
 * the TypeScript types, the runtime validators and the OpenAPI components.
 */

const isoTimestamp = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be an ISO-8601 date-time' })
  .describe('ISO-8601 date-time');

const idString = z
  .union([z.string().min(1).max(512), z.number().transform(String)])
  .describe('Identifier (numbers are accepted and stored as strings)');

const common = {
  messageId: z.string().min(1).max(512).optional().describe('Unique per event; generated when absent. Used for dedupe.'),
  userId: idString.optional().nullable().describe('Your stable id for a known person'),
  anonymousId: idString.optional().nullable().describe('Device/browser id before sign-up'),
  timestamp: isoTimestamp.optional().describe('When the event happened (client clock)'),
  originalTimestamp: isoTimestamp.optional().describe('Alias of timestamp some libraries send'),
  sentAt: isoTimestamp.optional().describe('When the client sent it; used to correct client clock skew'),
  context: z.record(z.string(), z.unknown()).optional().describe('Device, app, locale, ip, campaign …'),
  integrations: z.record(z.string(), z.unknown()).optional().describe('Per-destination switches; stored as sent'),
};

const properties = z.record(z.string(), z.unknown()).optional().describe('Event properties');
const traits = z.record(z.string(), z.unknown()).optional().describe('Traits of the person (or group)');

export const trackSchema = z.object({
  type: z.literal('track'),
  ...common,
  event: z.string().min(1).max(200).describe('Event name, e.g. "Order Completed"'),
  properties,
});
export const identifySchema = z.object({ type: z.literal('identify'), ...common, traits });
export const pageSchema = z.object({
  type: z.literal('page'),
  ...common,
  name: z.string().max(200).optional().nullable(),
  category: z.string().max(200).optional().nullable(),
  properties,
});
export const screenSchema = z.object({
  type: z.literal('screen'),
  ...common,
  name: z.string().max(200).optional().nullable(),
  properties,
});
export const groupSchema = z.object({ type: z.literal('group'), ...common, groupId: idString, traits });
export const aliasSchema = z.object({
  type: z.literal('alias'),
  ...common,
  previousId: idString.describe('The old id (usually the anonymousId) that now means userId'),
});

export const tracedEventSchema = z.discriminatedUnion('type', [
  trackSchema,
  identifySchema,
  pageSchema,
  screenSchema,
  groupSchema,
  aliasSchema,
]);
export type TracedEvent = z.infer<typeof tracedEventSchema>;
export type EventType = TracedEvent['type'];
export const eventTypes: readonly EventType[] = ['track', 'identify', 'page', 'screen', 'group', 'alias'];

export const batchSchema = z.object({
  batch: z.array(z.record(z.string(), z.unknown())).describe('Events, each with its own `type`'),
  context: z.record(z.string(), z.unknown()).optional().describe('Merged into every event'),
  integrations: z.record(z.string(), z.unknown()).optional(),
  sentAt: isoTimestamp.optional(),
});

// ---- Commerce vocabulary (Segment e-commerce v2 names where they exist) ----

/** The largest line-item quantity: `event_items.quantity` is a 32-bit INTEGER on both engines. */
export const MAX_QUANTITY = 2 ** 31 - 1;
const quantity = z.number().int().positive().max(MAX_QUANTITY);

export const productLineSchema = z
  .object({
    product_id: idString.describe('Catalog product id'),
    category: z.string().max(500).optional().describe('Category path "Top > Middle > Leaf" or leaf name'),
    price: z.number().nonnegative().optional().describe('Unit price'),
    quantity: quantity.optional().describe('Units; defaults to 1'),
    name: z.string().optional(),
    sku: z.string().optional(),
  })
  .passthrough();
export type ProductLine = z.infer<typeof productLineSchema>;

const orderProperties = z
  .object({
    order_id: idString.describe('Your order id; keyed journeys follow it'),
    total: z.number().describe('Order amount after discounts'),
    currency: z.string().length(3).optional().describe('ISO 4217 code'),
    discount: z.number().optional(),
    coupon: z.string().optional(),
    products: z.array(productLineSchema).optional().describe('Line items'),
  })
  .passthrough();

const productProperties = z
  .object({
    product_id: idString,
    category: z.string().max(500).optional(),
    price: z.number().nonnegative().optional(),
    quantity: quantity.optional(),
    name: z.string().optional(),
  })
  .passthrough();

/**
 * Property schemas of the commerce events. A `track` with one of these names must carry
 * properties of this shape; other event names are free-form.
 */
export const commerceEvents = {
  'Product Viewed': productProperties.describe('A product detail page was viewed'),
  'Product Added': productProperties.describe('Added to cart'),
  'Product Added to Wishlist': productProperties.describe('Favourited / added to wishlist'),
  'Checkout Started': orderProperties.partial({ total: true }).describe('Checkout opened for a cart'),
  'Order Placed': orderProperties.describe('Order submitted, not yet paid'),
  'Order Completed': orderProperties.describe('Order paid'),
  'Order Cancelled': orderProperties.partial({ total: true }).describe('Order cancelled before fulfilment'),
  'Order Refunded': orderProperties.partial({ total: true }).describe('Order (partly) refunded; total is the refunded amount'),
  'Order Shipped': orderProperties.partial({ total: true }).describe('Order handed to the carrier'),
  'Coupon Applied': z
    .object({
      coupon_id: idString.optional(),
      coupon: z.string().optional(),
      order_id: idString.optional(),
      discount: z.number().optional(),
    })
    .passthrough()
    .describe('A coupon was applied to a cart or order'),
  'Signed Up': z.object({ method: z.string().optional() }).passthrough().describe('Account created'),
  'Member Joined': z
    .object({ member_no: idString.optional(), tier: z.string().optional(), store_id: z.string().optional() })
    .passthrough()
    .describe('Joined the membership programme'),
} as const;

export type CommerceEventName = keyof typeof commerceEvents;

export function isCommerceEvent(name: string): name is CommerceEventName {
  return Object.hasOwn(commerceEvents, name);
}
