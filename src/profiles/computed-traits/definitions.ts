import { DAY } from '../../core/clock.ts';

/**
 * The fixed parts of the trait definitions (docs/computed-traits.md explains each). Lifecycle
 * thresholds are per workspace (lifecycle-rules.ts); these are the same everywhere.
 */

/** A paid order. Orders are counted once per order_id however often the event is repeated. */
export const PAID_ORDER_EVENT = 'Order Completed';
export const REFUND_EVENT = 'Order Refunded';
export const CANCEL_EVENT = 'Order Cancelled';
export const COUPON_EVENT = 'Coupon Applied';

/**
 * Engagement events written by the messaging engine, with properties `channel` and
 * `journey_id`. A click or a conversion is a response; a delivery is not.
 */
export const MESSAGE_DELIVERED_EVENT = 'Message Delivered';
export const MESSAGE_CLICKED_EVENT = 'Message Clicked';
export const JOURNEY_CONVERTED_EVENT = 'Journey Converted';
export const RESPONSE_EVENTS = [MESSAGE_CLICKED_EVENT, JOURNEY_CONVERTED_EVENT] as const;

export const channels = ['sms', 'email', 'push', 'wechat', 'webhook', 'voice'] as const;
export type Channel = (typeof channels)[number];

/**
 * Category-affinity weight per behaviour: a purchase says more than a cart or a favourite, which
 * say more than a view. Each product line of the event counts once.
 */
export const affinityWeights: Record<string, number> = {
  'Product Viewed': 1,
  'Product Added': 3,
  'Product Added to Wishlist': 3,
  'Order Completed': 5,
};

/**
 * Half-life of an interaction's weight. Fashion tastes follow the season (~90 days); a purchase a
 * season ago counts half as much as one today. Exponential decay also keeps the normalised
 * scores unchanged while no new events arrive, so untouched people need no recomputation.
 */
export const AFFINITY_HALF_LIFE_MS = 90 * DAY;

/** How many leaf categories `category_affinity` lists. */
export const AFFINITY_TOP_N = 5;

/**
 * Events that describe what the shop or a system did, not when the person was active: left
 * out of `active_hour`, which is meant for choosing a send time.
 */
export const systemEvents = [MESSAGE_DELIVERED_EVENT, 'Order Shipped', REFUND_EVENT, CANCEL_EVENT] as const;

/** Call types that are the person doing something (identify calls often come from a back end). */
export const activityTypes = ['track', 'page', 'screen'] as const;

/** SQL list literal of string constants, e.g. `('a', 'b')`. Only used with the constants above. */
export function sqlList(values: readonly string[]): string {
  return `(${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ')})`;
}
