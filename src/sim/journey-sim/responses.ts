import { DAY, HOUR, MINUTE } from '../../core/clock.ts';
import type { SimProduct } from '../catalog.ts';
import { isoTime, type RawEvent } from '../raw-events.ts';
import { type Channel, channels, type MessageResponse, respondToMessage } from '../response-model.ts';
import { hashString, Rng } from '../rng.ts';
import { pickLeaf, pickProduct, type ShopContext } from '../shop-context.ts';
import type { OutboxRow } from './outbox.ts';
import type { SimPerson, TimedEvent } from './population.ts';
import type { CouponWallet, IssuedCoupon } from './wallet.ts';

/**
 * When each stage of a response happens after the previous one. The response model says
 * *whether* a person opens, clicks and buys; these say *when*, so that journey conditions
 * ("clicked within a day?", "coupon used before the reminder?") see realistic timing.
 */
export const responseTiming = {
  /** Seconds from send to delivery, uniform in [min, max]. */
  deliverSeconds: { email: [10, 120], sms: [3, 30], push: [1, 10], wechat: [2, 20] } as Record<Channel, [number, number]>,
  /** Minutes from delivery to opening: exponential with this mean, at most `openMaxHours`. */
  openMeanMinutes: { email: 240, sms: 30, push: 15, wechat: 60 } as Record<Channel, number>,
  openMaxHours: 48,
  clickSeconds: [5, 120] as [number, number],
  /** Products viewed after a click (recommendations: among those recommended). */
  viewsAfterClick: [1, 3] as [number, number],
  /** Minutes from the click to the order, and from the order to payment. */
  orderMinutes: [3, 45] as [number, number],
  payMinutes: [0.5, 15] as [number, number],
  unsubscribeMinutes: [1, 60] as [number, number],
};

/**
 * A journey coupon applies to orders of at least this many times its value ("$10 off $20"):
 * shoppers top up their basket to use it, and a coupon never makes an order free.
 */
export const COUPON_MIN_SPEND = 2;

export interface ResponseContext {
  seed: number;
  shop: ShopContext;
  productsById: ReadonlyMap<string, SimProduct>;
  wallet: CouponWallet;
}

export interface Response {
  /** The channel the response model knows (sms, email, push, wechat); null: not simulated (webhook, voice, sandbox). */
  channel: Channel | null;
  outcome: MessageResponse | null;
  coupon: IssuedCoupon | null;
  /** Order total when the message caused an order (the simulator's ground truth), else 0. */
  revenue: number;
  events: TimedEvent[];
}

const isChannel = (c: string | null): c is Channel => c !== null && (channels as readonly string[]).includes(c);
const uniform = (rng: Rng, [lo, hi]: [number, number]) => lo + (hi - lo) * rng.next();
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * A person's response to one message or recommendation row: the response model draws what
 * happens (seeded by the row's idempotency key, so the same run gives the same answer on both
 * engines), and this turns it into the events a real shop would record — delivery, click,
 * products viewed (with `recommendation_id` for recommendations), and an order that uses the
 * instance's coupon when the message caused one. All are in the future of `sentAt`.
 */
export function respond(row: OutboxRow, person: SimPerson, ctx: ResponseContext): Response {
  const channel = isChannel(row.channel) ? row.channel : null;
  if (channel === null) return { channel, outcome: null, coupon: null, revenue: 0, events: [] };
  const sentAt = row.createdAt;
  const m = person.member;
  const coupon = ctx.wallet.ofInstance(row.journeyId, row.instanceId, sentAt);
  const recommended = row.action === 'recommend' ? productsOf(row, ctx) : [];
  const rng = new Rng(hashString(row.messageKey, ctx.seed));
  const outcome = respondToMessage(
    {
      timezone: m.timezone,
      consent: person.consent,
      preferredChannel: m.preferredChannel,
      discountSensitivity: m.discountSensitivity,
      activeHour: m.activeHour,
      lastOrderAt: person.lastOrderAt,
      messagesLast7Days: person.deliveries.filter((t) => t > sentAt - 7 * DAY).length,
      averageOrderValue: person.typicalBasket,
    },
    { channel, sentAt, couponValue: coupon?.value ?? 0, personalised: row.action === 'recommend' },
    rng,
  );
  const events: TimedEvent[] = [];
  const context = { locale: m.locale, timezone: m.timezone };
  let n = 0;
  const track = (at: number, event: string, properties: Record<string, unknown>) => {
    const ts = Math.floor(at);
    const raw: RawEvent = {
      type: 'track',
      messageId: `${row.messageKey}.r${n++}`,
      userId: m.userId,
      anonymousId: undefined,
      event,
      properties,
      traits: undefined,
      timestamp: isoTime(ts),
      context,
    };
    events.push({ ts, raw });
  };
  const about = { message_key: row.messageKey, journey_id: row.journeyId, node_id: row.nodeId, channel, template: row.template };
  let revenue = 0;
  if (!outcome.delivered) return { channel, outcome, coupon, revenue, events };

  const deliveredAt = sentAt + uniform(rng, responseTiming.deliverSeconds[channel]) * 1000;
  person.deliveries.push(sentAt);
  track(deliveredAt, 'Message Delivered', about);
  if (outcome.unsubscribed) {
    person.consent[channel] = false;
    const at = deliveredAt + uniform(rng, responseTiming.unsubscribeMinutes) * MINUTE;
    track(at, 'Unsubscribed', about);
    events.push({
      ts: Math.floor(at) + 1,
      raw: {
        type: 'identify',
        messageId: `${row.messageKey}.r${n++}`,
        userId: m.userId,
        anonymousId: undefined,
        event: undefined,
        properties: undefined,
        traits: { consent: { ...person.consent } },
        timestamp: isoTime(Math.floor(at) + 1),
        context,
      },
    });
  }
  if (!outcome.clicked) return { channel, outcome, coupon, revenue, events };

  const openedAt = deliveredAt + Math.min(rng.exp(responseTiming.openMeanMinutes[channel] * MINUTE), responseTiming.openMaxHours * HOUR);
  let at = openedAt + uniform(rng, responseTiming.clickSeconds) * 1000;
  track(at, 'Message Clicked', about);
  // Where the click lands: the recommended products, or the person's favourite categories.
  const viewed: SimProduct[] = [];
  const views = rng.int(...responseTiming.viewsAfterClick);
  for (let i = 0; i < views; i++) {
    const p = recommended.length > 0 ? recommended[i === 0 ? 0 : rng.int(0, recommended.length - 1)]! : browse(ctx.shop, person, rng, at);
    if (viewed.includes(p)) continue;
    viewed.push(p);
    at += rng.int(5, 90) * 1000;
    const props = ctx.shop.viewProps.get(p)!;
    track(at, 'Product Viewed', recommended.length > 0 ? { ...props, recommendation_id: row.messageKey } : props);
  }
  if (!outcome.converted) return { channel, outcome, coupon, revenue, events };

  // The order: the viewed product closest to their usual basket (topped up to the coupon's
  // minimum spend), in a quantity that fills it.
  const basket = Math.max(person.typicalBasket, coupon ? COUPON_MIN_SPEND * coupon.value : 0);
  const product = closest(viewed, basket);
  const quantity = Math.min(3, Math.max(1, Math.round(basket / product.price)));
  const line = { ...ctx.shop.viewProps.get(product)!, quantity };
  at += uniform(rng, [20, 120]) * 1000;
  track(at, 'Product Added', line);
  const subtotal = round2(product.price * quantity);
  const discount = coupon ? round2(Math.min(coupon.value, subtotal)) : 0;
  const order: Record<string, unknown> = {
    order_id: `r-${row.messageKey}`,
    total: round2(subtotal - discount),
    subtotal,
    discount,
    currency: ctx.shop.currency,
    products: [line],
    message_key: row.messageKey,
  };
  if (coupon) {
    order.coupon = coupon.code;
    coupon.usedBy = 'response';
    coupon.discount = discount;
  }
  at += uniform(rng, responseTiming.orderMinutes) * MINUTE;
  if (coupon) track(at - 30_000, 'Coupon Applied', { coupon_id: coupon.code, coupon: coupon.code, order_id: order.order_id, discount });
  track(at, 'Order Placed', order);
  at += uniform(rng, responseTiming.payMinutes) * MINUTE;
  track(at, 'Order Completed', { ...order, payment_method: m.country.code === 'CN' ? 'alipay' : 'card' });
  revenue = order.total as number;
  return { channel, outcome, coupon, revenue, events };
}

/** The products of a recommendation row that the catalog knows. */
function productsOf(row: OutboxRow, ctx: ResponseContext): SimProduct[] {
  const ids = Array.isArray(row.payload.products) ? (row.payload.products as unknown[]) : [];
  return ids.map((id) => ctx.productsById.get(String(id))).filter((p): p is SimProduct => p !== undefined);
}

/** A product the person would look at in their favourite categories. */
function browse(shop: ShopContext, person: SimPerson, rng: Rng, at: number): SimProduct {
  return pickProduct(shop, person.member, rng, pickLeaf(shop, person.member, rng, at));
}

function closest(products: readonly SimProduct[], basket: number): SimProduct {
  let best = products[0]!;
  for (const p of products) if (Math.abs(Math.log(p.price / basket)) < Math.abs(Math.log(best.price / basket))) best = p;
  return best;
}
