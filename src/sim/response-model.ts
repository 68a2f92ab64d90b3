import { DAY } from '../core/clock.ts';
import { localHour } from '../core/local-time.ts';
import type { Rng } from './rng.ts';

/**
 * How a simulated person responds to one marketing message: delivered → opened → clicked →
 * converted (placed a paid order because of it, on top of what they would have bought anyway).
 *
 * The numbers are chosen so that journeys measured against a holdout show a real but modest
 * lift, and so that the things a good operator exploits actually matter: the right channel,
 * consent, the right hour, not over-messaging, and coupons for the people who care about them.
 * docs/simulator.md lists every number; keep the two in step.
 */

export type Channel = 'email' | 'sms' | 'push' | 'wechat';
export const channels: readonly Channel[] = ['email', 'sms', 'push', 'wechat'];

export interface Responder {
  timezone: string;
  consent: Readonly<Record<Channel, boolean>>;
  preferredChannel: Channel;
  /** 0 = ignores discounts, 1 = only buys on discount. */
  discountSensitivity: number;
  /** Last paid order, epoch ms; null if never bought. */
  lastOrderAt: number | null;
  /** Messages this person received in the 7 days before this one (all channels). */
  messagesLast7Days: number;
  /** Typical order value, to judge what a coupon is worth to them. Default 60. */
  averageOrderValue?: number;
  /** Local hour (0–23) this person is usually active, if known. */
  activeHour?: number;
}

export interface SimMessage {
  channel: Channel;
  /** Send instant, epoch ms (the local hour matters). */
  sentAt: number;
  /** Coupon value in the order currency (0 or absent: no coupon). */
  couponValue?: number;
  /** Content chosen for this person (category preference, recommendations), not a generic blast. */
  personalised?: boolean;
}

/** Each stage conditional on the previous one (open given delivered, and so on). */
export interface ResponseProbabilities {
  deliver: number;
  open: number;
  click: number;
  convert: number;
  unsubscribe: number;
  /** deliver × open × click × convert. */
  expectedConversion: number;
}

export interface MessageResponse {
  delivered: boolean;
  opened: boolean;
  clicked: boolean;
  converted: boolean;
  unsubscribed: boolean;
  probabilities: ResponseProbabilities;
}

export const responseModel = {
  deliverability: { email: 0.97, sms: 0.98, push: 0.9, wechat: 0.99 } as Record<Channel, number>,
  baseOpen: { email: 0.2, sms: 0.3, push: 0.07, wechat: 0.3 } as Record<Channel, number>,
  baseClick: { email: 0.18, sms: 0.1, push: 0.3, wechat: 0.22 } as Record<Channel, number>,
  baseConvert: 0.08,
  preferredChannel: 1.8,
  otherChannel: 0.7,
  /** Open multiplier by local hour: nights are wasted, evenings are best. */
  hourFactor: [0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.8, 0.8, 1, 1, 1, 1.15, 1.15, 0.9, 0.9, 0.9, 0.9, 1.1, 1.1, 1.25, 1.25, 1.25, 0.7],
  /** Sent within ±1 h of the person's usual active hour. */
  activeHourBoost: 1.3,
  /** Open multiplier exp(-fatigue × messages in the last 7 days). */
  fatigue: 0.15,
  personalisedClick: 1.5,
  personalisedConvert: 1.3,
  /** Coupon attractiveness v = 1 − exp(−couponScale × value / averageOrderValue). */
  couponScale: 4,
  couponClick: 1,
  couponConvert: 4,
  baseUnsubscribe: 0.001,
  unsubscribePerRecentMessage: 0.5,
} as const;

/** Open and convert multipliers by days since the last paid order (never bought: last row). */
function recency(lastOrderAt: number | null, now: number): { open: number; convert: number } {
  if (lastOrderAt === null) return { open: 0.9, convert: 0.7 };
  const days = (now - lastOrderAt) / DAY;
  if (days <= 30) return { open: 1.2, convert: 1.4 };
  if (days <= 90) return { open: 1, convert: 1.1 };
  if (days <= 180) return { open: 0.8, convert: 0.8 };
  return { open: 0.6, convert: 0.5 };
}

/**
 * Multipliers act on the odds p/(1−p), not on p: small probabilities scale almost linearly,
 * large ones saturate smoothly below 1, so every factor keeps an effect (a plain product
 * capped at a maximum would hide time-of-day and fatigue for the most responsive people).
 */
const withOdds = (p: number, multiplier: number) => (p * multiplier) / (1 - p + p * multiplier);

/** What a coupon is worth to this person, 0..1 (0 without a coupon). */
export function couponAttractiveness(couponValue: number | undefined, averageOrderValue = 60): number {
  if (!couponValue || couponValue <= 0) return 0;
  return 1 - Math.exp((-responseModel.couponScale * couponValue) / Math.max(1, averageOrderValue));
}

/** The probabilities of each stage, without drawing: for forecasts and tests. Pure. */
export function responseProbabilities(user: Responder, message: SimMessage): ResponseProbabilities {
  const m = responseModel;
  const ch = message.channel;
  const deliver = user.consent[ch] ? m.deliverability[ch] : 0;
  const hour = localHour(user.timezone, message.sentAt);
  const nearActive =
    user.activeHour !== undefined && Math.min(Math.abs(hour - user.activeHour), 24 - Math.abs(hour - user.activeHour)) <= 1;
  const r = recency(user.lastOrderAt, message.sentAt);
  const v = couponAttractiveness(message.couponValue, user.averageOrderValue);
  const s = Math.min(1, Math.max(0, user.discountSensitivity));
  const open = withOdds(
    m.baseOpen[ch],
    (ch === user.preferredChannel ? m.preferredChannel : m.otherChannel) *
      m.hourFactor[hour]! *
      (nearActive ? m.activeHourBoost : 1) *
      Math.exp(-m.fatigue * user.messagesLast7Days) *
      r.open,
  );
  const click = withOdds(m.baseClick[ch], (message.personalised ? m.personalisedClick : 1) * (1 + m.couponClick * s * v));
  const convert = withOdds(m.baseConvert, r.convert * (1 + m.couponConvert * s * v) * (message.personalised ? m.personalisedConvert : 1));
  const unsubscribe = deliver > 0 && ch !== 'push' ? m.baseUnsubscribe * (1 + m.unsubscribePerRecentMessage * user.messagesLast7Days) : 0;
  return { deliver, open, click, convert, unsubscribe, expectedConversion: deliver * open * click * convert };
}

/**
 * Draws one person's response. Always consumes exactly five numbers from `rng`, whatever the
 * outcome, so two arms of an experiment fed the same stream differ only by the treatment
 * (common random numbers: lift estimates with far less noise).
 */
export function respondToMessage(user: Responder, message: SimMessage, rng: Rng): MessageResponse {
  const p = responseProbabilities(user, message);
  const [u1, u2, u3, u4, u5] = [rng.next(), rng.next(), rng.next(), rng.next(), rng.next()];
  const delivered = u1 < p.deliver;
  const opened = delivered && u2 < p.open;
  const clicked = opened && u3 < p.click;
  const converted = clicked && u4 < p.convert;
  const unsubscribed = delivered && !converted && u5 < p.unsubscribe;
  return { delivered, opened, clicked, converted, unsubscribed, probabilities: p };
}
