import { DAY, HOUR, MINUTE } from '../core/clock.ts';
import type { SimProduct } from './catalog.ts';
import type { SimMember } from './member.ts';
import { shareable } from './ndjson.ts';
import type { EventLog } from './raw-events.ts';
import type { Rng } from './rng.ts';
import type { DayProfile } from './seasonality.ts';
import type { ShopContext } from './shop-context.ts';

/**
 * The life of one order: checkout → (coupon) → placed → paid, paid late, cancelled or left
 * unpaid → shipped → sometimes refunded. The unpaid and cancelled orders are what the
 * "unpaid order" journeys of the brief work on, so they must exist in realistic proportions.
 */
export const orderModel = {
  /** Checkout opened → order submitted. */
  placed: 0.85,
  /** Submitted → paid within minutes (with a coupon applied people are more committed). */
  paidNow: 0.8,
  paidNowWithCoupon: 0.88,
  /** Of the orders not paid at once: paid hours later / cancelled / left unpaid (the rest). */
  paidLater: 0.35,
  cancelled: 0.4,
  shipped: 0.97,
  refunded: 0.04,
  /** Coupon at checkout: base + sensitivity share, more on a first order and on promotion days. */
  couponBase: 0.04,
  couponPerSensitivity: 0.45,
  couponFirstOrder: 0.25,
  couponPromotion: 0.15,
} as const;

export interface CartLine {
  product: SimProduct;
  quantity: number;
}

export interface OrderOutcome {
  paidAt: number | null;
  total: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Tiered coupons like the brief's cases: the bigger the basket, the bigger the coupon. */
function chooseCoupon(subtotal: number, firstOrder: boolean, day: DayProfile): { code: string; discount: number } {
  if (firstOrder && subtotal >= 39) return { code: 'WELCOME10', discount: 10 };
  const tier = subtotal >= 299 ? 50 : subtotal >= 129 ? 20 : subtotal >= 69 ? 10 : subtotal >= 29 ? 5 : 0;
  const prefix = day.promotion ? day.promotion.toUpperCase().replace('_', '') : 'SAVE';
  if (tier === 0) return { code: `${prefix}-10PCT`, discount: round2(subtotal * 0.1) };
  return { code: `${prefix}-${tier}`, discount: tier };
}

const paymentMethods: Record<string, readonly string[]> = {
  CN: ['alipay', 'wechat_pay', 'wechat_pay', 'unionpay'],
  default: ['card', 'card', 'paypal', 'apple_pay'],
};

/**
 * Simulates checkout of `lines` at instant `t`. Returns when the order was paid (null if
 * never) so the caller can schedule repurchases and cross-sells.
 */
export function checkout(
  ctx: ShopContext,
  m: SimMember,
  rng: Rng,
  log: EventLog,
  lines: readonly CartLine[],
  t: number,
  day: DayProfile,
  orderNo: number,
  firstOrder: boolean,
): OrderOutcome {
  const who = { userId: m.userId };
  const orderId = `o-${m.seed}-${m.index}-${orderNo}`;
  // Shared by every event of this order, so it is serialised once (see ndjson.ts).
  const products = shareable(
    lines.map((l) => ({
      product_id: l.product.product.product_id,
      name: l.product.product.name,
      category: l.product.leaf.path,
      price: l.product.price,
      quantity: l.quantity,
    })),
  );
  const subtotal = round2(lines.reduce((s, l) => s + l.product.price * l.quantity, 0));
  let at = t + rng.int(20, 240) * 1000;
  log.track(at, who, 'Checkout Started', { order_id: orderId, total: subtotal, currency: ctx.currency, products });
  const pCoupon =
    orderModel.couponBase +
    orderModel.couponPerSensitivity * m.discountSensitivity +
    (firstOrder ? orderModel.couponFirstOrder : 0) +
    (day.promotion ? orderModel.couponPromotion : 0);
  const coupon = rng.chance(pCoupon) ? chooseCoupon(subtotal, firstOrder, day) : null;
  const discount = coupon ? Math.min(coupon.discount, subtotal) : 0;
  const total = round2(subtotal - discount);
  if (coupon) {
    at += rng.int(15, 90) * 1000;
    log.track(at, who, 'Coupon Applied', { coupon_id: coupon.code, coupon: coupon.code, order_id: orderId, discount });
  }
  if (!rng.chance(orderModel.placed)) return { paidAt: null, total };

  at += rng.int(20, 120) * 1000;
  const order: Record<string, unknown> = { order_id: orderId, total, subtotal, discount, currency: ctx.currency, products };
  if (coupon) order.coupon = coupon.code;
  if (day.promotion) order.promotion = day.promotion;
  log.track(at, who, 'Order Placed', order);

  let paidAt: number | null = null;
  if (rng.chance(coupon ? orderModel.paidNowWithCoupon : orderModel.paidNow)) {
    paidAt = at + rng.int(30, 900) * 1000;
  } else {
    const u = rng.next();
    if (u < orderModel.paidLater) paidAt = at + Math.floor((1 + rng.next() * 20) * HOUR);
    else if (u < orderModel.paidLater + orderModel.cancelled) {
      const reason = rng.chance(0.6) ? 'payment_timeout' : 'user_cancelled';
      const cancelAt = reason === 'payment_timeout' ? at + 24 * HOUR : at + Math.floor(rng.exp(3 * HOUR)) + 5 * MINUTE;
      log.track(cancelAt, who, 'Order Cancelled', { order_id: orderId, total, currency: ctx.currency, reason });
    }
  }
  if (paidAt === null) return { paidAt: null, total };

  const methods = paymentMethods[m.country.code] ?? paymentMethods.default!;
  log.track(paidAt, who, 'Order Completed', { ...order, payment_method: rng.pick(methods) });
  if (rng.chance(orderModel.shipped)) {
    const shippedAt = paidAt + Math.floor((0.5 + rng.next() * 2.5) * DAY);
    log.track(shippedAt, who, 'Order Shipped', {
      order_id: orderId,
      total,
      currency: ctx.currency,
      carrier: m.country.code === 'CN' ? rng.pick(['SF Express', 'JD Logistics', 'ZTO']) : rng.pick(['DHL', 'UPS', 'FedEx']),
    });
    if (rng.chance(orderModel.refunded)) {
      // Usually one line comes back (wrong size, broken), sometimes the whole order.
      const line = rng.pick(products);
      const whole = products.length === 1 || rng.chance(0.3);
      const refund = whole ? total : round2(Math.min(total, line.price * line.quantity));
      log.track(shippedAt + Math.floor((2 + rng.next() * 15) * DAY), who, 'Order Refunded', {
        order_id: orderId,
        total: refund,
        currency: ctx.currency,
        products: whole ? products : [line],
      });
    }
  }
  return { paidAt, total };
}
