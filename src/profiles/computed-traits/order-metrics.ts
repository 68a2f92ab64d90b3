import { CANCEL_EVENT, COUPON_EVENT, PAID_ORDER_EVENT, REFUND_EVENT } from './definitions.ts';
import type { TraitSources } from './sources.ts';
import type { TraitDialect } from './sql-dialect.ts';

/**
 * CTEs ending in `order_stats(user_key, order_count, spend, first_at, last_at, coupon_orders)`:
 * one row per person with at least one counted paid order.
 *
 * - A paid order is an `Order Completed` order_id (repeats of the event count once; its time is
 *   the first payment, its amount the largest `total` sent).
 * - `Order Refunded` amounts are subtracted from the order's value. A refund without `total`, a
 *   refund of the whole amount, or an `Order Cancelled` at or after payment removes the order
 *   entirely (it no longer counts as an order, for spend, dates, RFM or lifecycle). Cancelling
 *   an order that was never paid changes nothing: it was never counted.
 * - An order "used a discount" when the paid order carries a non-empty `coupon` or a positive
 *   `discount` (as the simulator and the e-commerce spec send them), or a `Coupon Applied`
 *   event names its order_id.
 *
 * `src` names the events of the people being refreshed.
 */
export function orderCtes(d: TraitDialect, src: TraitSources): string {
  return `
  paid AS (
    SELECT user_key, order_id, min(ts) AS ts, max(total) AS total,
      max(CASE WHEN coalesce(properties ->> 'coupon', '') <> '' OR coalesce(${d.numberField('properties', 'discount')}, 0) > 0
          THEN 1 ELSE 0 END) AS coupon
    FROM ${src.events} ev
    WHERE event = '${PAID_ORDER_EVENT}' AND order_id IS NOT NULL
    GROUP BY user_key, order_id),
  reversals AS (
    SELECT user_key, order_id,
      max(CASE WHEN event = '${CANCEL_EVENT}' THEN ts END) AS cancelled_at,
      max(CASE WHEN event = '${REFUND_EVENT}' AND total IS NULL THEN 1 ELSE 0 END) AS refunded_whole,
      sum(CASE WHEN event = '${REFUND_EVENT}' THEN total END) AS refunded
    FROM ${src.events} ev
    WHERE event IN ('${REFUND_EVENT}', '${CANCEL_EVENT}') AND order_id IS NOT NULL
    GROUP BY user_key, order_id),
  coupon_orders AS (
    SELECT DISTINCT user_key, order_id FROM ${src.events} ev
    WHERE event = '${COUPON_EVENT}' AND order_id IS NOT NULL),
  counted_orders AS (
    SELECT p.user_key, p.ts, coalesce(p.total, 0) - coalesce(r.refunded, 0) AS net,
      CASE WHEN p.coupon = 1 OR c.order_id IS NOT NULL THEN 1 ELSE 0 END AS coupon
    FROM paid p
    LEFT JOIN reversals r ON r.user_key = p.user_key AND r.order_id = p.order_id
    LEFT JOIN coupon_orders c ON c.user_key = p.user_key AND c.order_id = p.order_id
    WHERE coalesce(r.refunded_whole, 0) = 0
      AND (r.cancelled_at IS NULL OR r.cancelled_at < p.ts)
      AND NOT (coalesce(r.refunded, 0) > 0 AND r.refunded >= coalesce(p.total, 0))),
  order_stats AS (
    SELECT user_key, count(*) AS order_count, sum(net) AS spend, min(ts) AS first_at, max(ts) AS last_at,
      sum(coupon) AS coupon_orders
    FROM counted_orders GROUP BY user_key)`;
}

/** Output columns computed from `order_stats o` (NULL-safe for people without orders). */
export function orderColumns(d: TraitDialect): Record<string, string> {
  return {
    order_count: 'coalesce(o.order_count, 0)',
    total_spend: d.round('coalesce(o.spend, 0)', 2),
    avg_order_value: `CASE WHEN o.order_count > 0 THEN ${d.round('o.spend / o.order_count', 2)} END`,
    first_order_at: 'o.first_at',
    last_order_at: 'o.last_at',
    avg_days_between_orders: `CASE WHEN o.order_count > 1 THEN ${d.round('(o.last_at - o.first_at) / 86400000.0 / (o.order_count - 1)', 2)} END`,
    discount_sensitivity: `CASE WHEN o.order_count > 0 THEN CAST(o.coupon_orders AS ${d.double}) / o.order_count END`,
  };
}
