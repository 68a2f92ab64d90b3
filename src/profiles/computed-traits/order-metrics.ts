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
 * `src` names the events of the people being refreshed. All four order events are read in one
 * pass and grouped once per (person, order_id): three scans with different event filters cost
 * three reads of the events table.
 */
export function orderCtes(src: TraitSources): string {
  const is = (event: string) => `ev.event = '${event}'`;
  return `
  order_events AS (
    SELECT ev.user_key, ev.order_id,
      max(CASE WHEN ${is(PAID_ORDER_EVENT)} THEN 1 ELSE 0 END) AS paid,
      min(CASE WHEN ${is(PAID_ORDER_EVENT)} THEN ev.ts END) AS ts,
      max(CASE WHEN ${is(PAID_ORDER_EVENT)} THEN ev.total END) AS total,
      max(CASE WHEN ${is(PAID_ORDER_EVENT)} THEN ${src.fields.couponFlag} ELSE 0 END) AS paid_coupon,
      max(CASE WHEN ${is(COUPON_EVENT)} THEN 1 ELSE 0 END) AS coupon_applied,
      max(CASE WHEN ${is(CANCEL_EVENT)} THEN ev.ts END) AS cancelled_at,
      max(CASE WHEN ${is(REFUND_EVENT)} AND ev.total IS NULL THEN 1 ELSE 0 END) AS refunded_whole,
      sum(CASE WHEN ${is(REFUND_EVENT)} THEN ev.total END) AS refunded
    FROM ${src.events} ev
    WHERE ev.event IN ('${PAID_ORDER_EVENT}', '${COUPON_EVENT}', '${REFUND_EVENT}', '${CANCEL_EVENT}') AND ev.order_id IS NOT NULL
    GROUP BY ev.user_key, ev.order_id),
  counted_orders AS (
    SELECT user_key, ts, coalesce(total, 0) - coalesce(refunded, 0) AS net,
      CASE WHEN paid_coupon = 1 OR coupon_applied = 1 THEN 1 ELSE 0 END AS coupon
    FROM order_events
    WHERE paid = 1 AND refunded_whole = 0
      AND (cancelled_at IS NULL OR cancelled_at < ts)
      AND NOT (coalesce(refunded, 0) > 0 AND refunded >= coalesce(total, 0))),
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
