import { DAY, HOUR, MINUTE } from '../core/clock.ts';
import { localDay } from '../core/local-time.ts';
import type { SimProduct } from './catalog.ts';
import type { LeafCategory } from './categories.ts';
import type { SimMember } from './member.ts';
import { shareable } from './ndjson.ts';
import { type CartLine, checkout } from './orders.ts';
import { EventLog, type RawEvent, type Who } from './raw-events.ts';
import { Rng } from './rng.ts';
import { dayProfile } from './seasonality.ts';
import { anonymousSessionTimes, sessionTimes } from './session-times.ts';
import { pickLeaf, pickProduct, relatedLeaf, type ShopContext } from './shop-context.ts';

/**
 * One member's whole history: anonymous browsing, sign-up, visits with views, wishlist and
 * cart, orders, and the follow-ups that make behaviour predictable — replenishing consumables
 * when they run out, buying accessories after a main product, coming back to a cart.
 */
export const sessionModel = {
  viewsMean: 3,
  /** Chance a visit moves on to another category for the next view. */
  switchLeaf: 0.15,
  wishlist: 0.08,
  /** Add-to-cart chance per visit, times the member's buy propensity and the day's deal factor. */
  cart: { browse: 0.13, repurchase: 0.6, crosssell: 0.25, cart_return: 0.5 },
  cartCap: 0.9,
  anonymousCart: 0.15,
  secondItem: 0.3,
  /** Cart → checkout opened. */
  checkout: { browse: 0.5, repurchase: 0.75, crosssell: 0.5, cart_return: 0.6 },
  /** Paid order → a replenishment visit near the repurchase cycle (× loyalty). */
  repurchaseShort: 0.85,
  repurchaseLong: 0.4,
  crossSell: 0.35,
  cartReturn: 0.3,
} as const;

type Kind = keyof typeof sessionModel.cart;

interface Planned {
  at: number;
  kind: Exclude<Kind, 'browse'>;
  leaf: LeafCategory;
  product?: SimProduct;
}

const isoDate = (y: number, m: number, d: number) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

function profileTraits(m: SimMember, rng: Rng): Record<string, unknown> {
  const traits: Record<string, unknown> = { firstName: m.firstName, lastName: m.lastName };
  if (m.email) traits.email = m.email;
  if (m.phone) traits.phone = m.phone;
  if (m.wechatOpenid) traits.wechat_openid = m.wechatOpenid;
  traits.gender = m.gender;
  traits.birthday = isoDate(m.birthYear, rng.int(1, 12), rng.int(1, 28));
  traits.country = m.country.code;
  traits.timezone = m.timezone;
  traits.locale = m.locale;
  traits.consent = m.consent;
  traits.preferred_channel = m.preferredChannel;
  traits.createdAt = new Date(m.signupAt).toISOString();
  return traits;
}

/** Simulates member `m` and returns their events in time order. */
export function simulateMember(ctx: ShopContext, m: SimMember): RawEvent[] {
  const rng = Rng.of(ctx.seed, m.index, 2);
  const log = new EventLog(`sim-${ctx.seed}-${m.index}`, shareable({ locale: m.locale, timezone: m.timezone }), ctx.end);
  const user = { userId: m.userId };
  const code = m.country.code;
  let orders = 0;
  const planned: Planned[] = [];
  const plan = (p: Planned) => {
    if (p.at >= ctx.end || (m.dormantAt !== null && p.at >= m.dormantAt)) return;
    let i = planned.length;
    while (i > 0 && planned[i - 1]!.at > p.at) i--;
    planned.splice(i, 0, p);
  };

  /** Views in one visit; returns what was viewed and when the visit ended. */
  function browse(who: Who, t: number, leaf: LeafCategory, first: SimProduct | undefined, limit: number) {
    const viewed: SimProduct[] = [];
    const n = Math.min(15, rng.geometric(sessionModel.viewsMean));
    let at = t;
    for (let i = 0; i < n && at < limit; i++) {
      if (i > 0 && rng.chance(sessionModel.switchLeaf)) leaf = pickLeaf(ctx, m, rng, at);
      const product = i === 0 && first ? first : pickProduct(ctx, m, rng, leaf);
      log.track(at, who, 'Product Viewed', ctx.viewProps.get(product)!);
      viewed.push(product);
      at += rng.int(15, 150) * 1000;
    }
    if (viewed.length > 0 && rng.chance(sessionModel.wishlist)) {
      log.track(at, who, 'Product Added to Wishlist', ctx.viewProps.get(rng.pick(viewed))!);
      at += rng.int(5, 40) * 1000;
    }
    return { viewed, at };
  }

  function addToCart(who: Who, viewed: SimProduct[], at: number): { lines: CartLine[]; at: number } {
    const main = viewed[viewed.length - 1]!;
    const lines: CartLine[] = [{ product: main, quantity: main.leaf.cycleDays !== null && main.leaf.cycleDays <= 45 ? rng.int(1, 3) : 1 }];
    if (rng.chance(sessionModel.secondItem)) {
      const other = relatedLeaf(main.leaf, rng) ?? main.leaf;
      const p = pickProduct(ctx, m, rng, other);
      if (p !== main) lines.push({ product: p, quantity: 1 });
    }
    for (const l of lines) {
      log.track(at, who, 'Product Added', { ...ctx.viewProps.get(l.product)!, quantity: l.quantity });
      at += rng.int(10, 90) * 1000;
    }
    return { lines, at };
  }

  function visit(kind: Kind, t: number, leaf: LeafCategory, first?: SimProduct) {
    const day = dayProfile(code, localDay(m.timezone, t));
    const dormant = m.dormantAt !== null && t >= m.dormantAt;
    const { viewed, at } = browse(user, t, leaf, first, ctx.end);
    if (viewed.length === 0 || dormant) return;
    // Deal days lift buying most for deal hunters.
    const dealLift = 1 + (day.buying - 1) * (0.5 + m.discountSensitivity);
    const pCart = Math.min(sessionModel.cartCap, sessionModel.cart[kind] * m.buyPropensity * dealLift);
    if (!rng.chance(pCart)) return;
    const cart = addToCart(user, viewed, at);
    if (!rng.chance(Math.min(0.95, sessionModel.checkout[kind] * Math.sqrt(m.buyPropensity)))) {
      if (rng.chance(sessionModel.cartReturn))
        plan({
          at: at + Math.floor(rng.exp(1.5 * DAY)) + HOUR,
          kind: 'cart_return',
          leaf: viewed[viewed.length - 1]!.leaf,
          product: viewed[viewed.length - 1]!,
        });
      return;
    }
    orders += 1;
    const outcome = checkout(ctx, m, rng, log, cart.lines, cart.at, day, orders, orders === 1);
    if (outcome.paidAt === null) return;
    for (const line of cart.lines) {
      const cycle = line.product.leaf.cycleDays;
      if (cycle !== null && rng.chance(m.loyalty * (cycle <= 60 ? sessionModel.repurchaseShort : sessionModel.repurchaseLong))) {
        const due = outcome.paidAt + Math.floor(cycle * line.quantity * rng.logNormal(1, 0.25) * DAY);
        plan({ at: due, kind: 'repurchase', leaf: line.product.leaf, product: rng.chance(0.7) ? line.product : undefined });
      }
      const rel = rng.chance(sessionModel.crossSell) ? relatedLeaf(line.product.leaf, rng) : null;
      if (rel) plan({ at: outcome.paidAt + Math.floor(rng.exp(4 * DAY)) + 2 * HOUR, kind: 'crosssell', leaf: rel });
    }
  }

  // Before sign-up: anonymous browsing on this device, sometimes with a cart.
  const anon = { anonymousId: m.anonymousId };
  for (const t of anonymousSessionTimes(m, rng, ctx.start)) {
    const { viewed, at } = browse(anon, t, pickLeaf(ctx, m, rng, t), undefined, m.signupAt - MINUTE);
    if (viewed.length > 0 && at < m.signupAt - MINUTE && rng.chance(sessionModel.anonymousCart)) addToCart(anon, viewed, at);
  }

  // Sign-up: identify joins the anonymous history to the member (same anonymousId).
  const traits = profileTraits(m, rng);
  const joinsAtSignup = m.memberJoinAt !== null && m.memberJoinAt - m.signupAt < HOUR;
  if (joinsAtSignup) Object.assign(traits, { member_no: m.memberNo, member_tier: m.memberTier });
  log.identify(m.signupAt, { userId: m.userId, anonymousId: m.anonymousId }, traits);
  log.track(m.signupAt + 1000, user, 'Signed Up', { method: m.signupMethod });
  if (m.memberJoinAt !== null) {
    if (!joinsAtSignup) log.identify(m.memberJoinAt, user, { member_no: m.memberNo, member_tier: m.memberTier });
    log.track(m.memberJoinAt + 1000, user, 'Member Joined', {
      member_no: m.memberNo,
      tier: m.memberTier,
      store_id: rng.chance(0.3) ? `store-${rng.int(1, 40)}` : 'online',
    });
  }

  const times = sessionTimes(m, rng, ctx.end);
  let i = 0;
  for (;;) {
    const next = times[i];
    const p = planned[0];
    if (next === undefined && p === undefined) break;
    if (p !== undefined && (next === undefined || p.at <= next)) {
      planned.shift();
      visit(p.kind, p.at, p.leaf, p.product);
    } else if (next !== undefined) {
      i++;
      visit('browse', next, pickLeaf(ctx, m, rng, next));
    }
  }
  return log.sorted();
}
