import { parseSimUserId } from '../member.ts';
import type { RawEvent } from '../raw-events.ts';
import { hashString, Rng } from '../rng.ts';
import type { SimPerson, TimedEvent } from './population.ts';
import { COUPON_MIN_SPEND } from './responses.ts';
import type { CouponWallet, IssuedCoupon } from './wallet.ts';

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Later events of an order that repeat its amount. */
const sameOrderEvents = new Set(['Order Completed', 'Order Cancelled', 'Order Shipped']);

/**
 * Coupons are also used on orders people would have placed anyway: when a shopper holding an
 * unused journey coupon places an order of their own, they apply it with a probability equal to
 * their discount sensitivity (deal hunters nearly always, brand loyalists rarely), if it beats
 * the coupon they had and the order reaches its minimum spend. That costs the shop the discount without adding an order — the part of a
 * coupon's cost only a holdout reveals.
 */
export class OrganicCouponUse {
  private readonly replaced = new Map<string, { coupon: string; discount: number; total: number }>();

  constructor(
    private readonly seed: number,
    private readonly wallet: CouponWallet,
    private readonly people: readonly SimPerson[],
  ) {}

  /** The event as it should be written (a new object when a coupon was applied). */
  apply(e: TimedEvent): RawEvent {
    const raw = e.raw;
    if (raw.type !== 'track' || !raw.properties) return raw;
    const orderId = String(raw.properties.order_id ?? '');
    if (raw.event === 'Order Placed') {
      const coupon = this.couponFor(raw, e.ts);
      if (!coupon) return raw;
      const subtotal = Number(raw.properties.subtotal ?? raw.properties.total ?? 0);
      const discount = round2(Math.min(coupon.value, subtotal));
      const change = { coupon: coupon.code, discount, total: round2(subtotal - discount) };
      coupon.usedBy = 'organic';
      coupon.discount = discount;
      this.replaced.set(orderId, change);
      return { ...raw, properties: { ...raw.properties, ...change } };
    }
    const change = this.replaced.get(orderId);
    if (!change || !sameOrderEvents.has(raw.event ?? '')) return raw;
    return { ...raw, properties: { ...raw.properties, ...(raw.event === 'Order Shipped' ? { total: change.total } : change) } };
  }

  private couponFor(raw: RawEvent, at: number): IssuedCoupon | null {
    const id = raw.userId ? parseSimUserId(raw.userId) : null;
    const person = id && id.seed === this.seed ? this.people[id.index] : undefined;
    if (!id || !person) return null;
    const coupon = this.wallet.ofPerson(id.index, at);
    const subtotal = Number(raw.properties?.subtotal ?? raw.properties?.total ?? 0);
    if (!coupon || coupon.value <= Number(raw.properties?.discount ?? 0) || subtotal < COUPON_MIN_SPEND * coupon.value) return null;
    const rng = new Rng(hashString(String(raw.properties?.order_id), this.seed));
    return rng.chance(person.member.discountSensitivity) ? coupon : null;
  }
}
