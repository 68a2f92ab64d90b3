import { DAY } from '../core/clock.ts';
import { type TopCategory, topCategories, topPopularity } from './categories.ts';
import { type Country, countryTable, openIdFor, phoneFor } from './geo.ts';
import type { Channel, Responder } from './response-model.ts';
import { mix32, Rng, WeightedTable } from './rng.ts';
import { hourWeights } from './seasonality.ts';

/**
 * One simulated member: what the shop can see (traits) and the hidden behaviour that drives
 * their events and their response to messages. A member is a pure function of (seed, index,
 * window), so later simulations can regenerate the hidden part from a stored user id.
 */
export interface SimMember {
  seed: number;
  index: number;
  userId: string;
  anonymousId: string;
  country: Country;
  timezone: string;
  locale: string;
  firstName: string;
  lastName: string;
  gender: 'female' | 'male';
  birthYear: number;
  hasKids: boolean;
  email: string | null;
  phone: string | null;
  wechatOpenid: string | null;
  consent: Record<Channel, boolean>;
  preferredChannel: Channel;
  signupMethod: 'email' | 'phone' | 'wechat' | 'apple';
  // ---- hidden behaviour ----
  /** 0 = ignores discounts … 1 = buys only on discount. */
  discountSensitivity: number;
  /** 0 = cheapest products of a leaf … 1 = the most expensive. */
  priceBand: number;
  /** Category preference over top categories (Dirichlet draw: most people love 1–3). */
  topWeights: Record<TopCategory, number>;
  topTable: WeightedTable<TopCategory>;
  sessionsPerWeek: number;
  /** Multiplier of add-to-cart chances; window shoppers are ~0.15. */
  buyPropensity: number;
  /** Chance scale of coming back when a consumable runs out. */
  loyalty: number;
  /** Local hour this person is usually active (smart send time has something to find). */
  activeHour: number;
  signupAt: number;
  /** Anonymous browsing sessions before sign-up (0–3). */
  anonymousSessions: number;
  memberJoinAt: number | null;
  memberNo: string | null;
  memberTier: 'silver' | 'gold' | 'platinum' | null;
  /** From here on the member stops buying (rare browsing only); null = stays active. */
  dormantAt: number | null;
}

const hourTable = new WeightedTable(
  hourWeights.map((_, h) => h),
  hourWeights,
);

export function simUserId(seed: number, index: number): string {
  return `sim-${seed}-${index}`;
}

/** Inverse of simUserId, so a journey simulation can find a stored person's hidden behaviour. */
export function parseSimUserId(userId: string): { seed: number; index: number } | null {
  const m = /^sim-(\d+)-(\d+)$/.exec(userId);
  return m ? { seed: Number(m[1]), index: Number(m[2]) } : null;
}

/** UUID-shaped and unique per (seed, index): the index is spelled out in the last group. */
function anonymousIdFor(seed: number, index: number): string {
  const h = (n: number) =>
    mix32(seed, index * 4 + n)
      .toString(16)
      .padStart(8, '0');
  const a = h(0);
  const b = h(1);
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-a${h(2).slice(0, 3)}-${index.toString(16).padStart(12, '0')}`;
}

const ascii = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');

function pickWeighted<K extends string>(rng: Rng, weights: Partial<Record<K, number>>): K {
  const entries = Object.entries(weights) as [K, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = rng.next() * total;
  for (const [k, w] of entries) {
    x -= w;
    if (x < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

/** Discount sensitivity: a mixture of deal hunters, ordinary shoppers and brand loyalists. */
function sensitivity(rng: Rng, hasKids: boolean): number {
  const u = rng.next();
  const centre = u < 0.3 ? 0.8 : u < 0.75 ? 0.45 : 0.12;
  const s = centre + (hasKids ? 0.08 : 0) + 0.1 * rng.normal();
  return Math.round(Math.min(1, Math.max(0, s)) * 100) / 100;
}

function topPreferences(rng: Rng, gender: 'female' | 'male', hasKids: boolean): Record<TopCategory, number> {
  const persona: Record<TopCategory, number> = {
    Electronics: gender === 'male' ? 1.6 : 0.7,
    Apparel: gender === 'female' ? 1.2 : 0.9,
    Beauty: gender === 'female' ? 2 : 0.35,
    'Mother & Baby': hasKids ? 6 : 0.15,
    Groceries: 1,
    Home: hasKids ? 1.3 : 1,
    Sports: gender === 'male' ? 1.3 : 0.9,
  };
  const raw = topCategories.map((t) => rng.gamma(2.5 * topPopularity[t] * persona[t]));
  const sum = raw.reduce((a, b) => a + b, 0) || 1;
  return Object.fromEntries(topCategories.map((t, i) => [t, Math.round((raw[i]! / sum) * 1000) / 1000])) as Record<TopCategory, number>;
}

export function buildMember(seed: number, index: number, start: number, end: number): SimMember {
  const rng = Rng.of(seed, index, 1);
  const country = countryTable.pick(rng);
  const timezone = rng.pick(country.timeZones);
  const gender = rng.chance(0.55) ? 'female' : 'male';
  const firstName = rng.pick(country.firstNames[gender]);
  const lastName = rng.pick(country.lastNames);
  const birthYear = Math.round(1990 + 8 * rng.normal());
  const age = new Date(end).getUTCFullYear() - birthYear;
  const hasKids = rng.chance(age >= 25 && age <= 40 ? 0.35 : 0.08);
  const hasEmail = rng.chance(country.code === 'CN' ? 0.55 : 0.95);
  const hasPhone = rng.chance(country.phoneShare);
  const hasWechat = rng.chance(country.wechatShare);
  const email = hasEmail ? `${ascii(firstName)}.${ascii(lastName)}${index}@example.com` : null;
  const phone = hasPhone || (!hasEmail && !hasWechat) ? phoneFor(country, index, seed) : null;
  const wechatOpenid = hasWechat ? openIdFor(rng) : null;
  const consent: Record<Channel, boolean> = {
    email: email !== null && rng.chance(0.7),
    sms: phone !== null && rng.chance(country.code === 'CN' ? 0.7 : 0.5),
    push: rng.chance(0.55),
    wechat: wechatOpenid !== null && rng.chance(0.85),
  };
  // People prefer a channel they can actually be reached on; country habits set the odds.
  const reachable = Object.fromEntries(Object.entries(country.channels).filter(([ch]) => consent[ch as Channel])) as Partial<
    Record<Channel, number>
  >;
  const preferredChannel = pickWeighted<Channel>(rng, Object.keys(reachable).length > 0 ? reachable : country.channels);
  const topWeights = topPreferences(rng, gender, hasKids);
  const window = end - start;
  // Density falling over the window: a base of early members plus a steady stream of new ones.
  const signupAt = start + Math.floor(window * rng.next() ** 2);
  const joins = rng.chance(0.4);
  const joinLater = rng.chance(0.4);
  const memberJoinAt = joins ? (joinLater ? signupAt + Math.floor(rng.exp(20 * DAY)) : signupAt + 60_000) : null;
  const dormantAt = rng.chance(0.4) ? signupAt + Math.floor(rng.exp(35 * DAY)) : null;
  const windowShopper = rng.chance(0.12);
  return {
    seed,
    index,
    userId: simUserId(seed, index),
    anonymousId: anonymousIdFor(seed, index),
    country,
    timezone,
    locale: country.locale,
    firstName,
    lastName,
    gender,
    birthYear,
    hasKids,
    email,
    phone,
    wechatOpenid,
    consent,
    preferredChannel,
    signupMethod:
      wechatOpenid && rng.chance(0.6)
        ? 'wechat'
        : phone && rng.chance(0.5)
          ? 'phone'
          : email
            ? rng.chance(0.15)
              ? 'apple'
              : 'email'
            : 'phone',
    discountSensitivity: sensitivity(rng, hasKids),
    priceBand: rng.next(),
    topWeights,
    topTable: new WeightedTable(
      topCategories,
      topCategories.map((t) => topWeights[t]),
    ),
    sessionsPerWeek: Math.min(14, Math.max(0.1, rng.logNormal(1.2, 0.8))),
    buyPropensity: windowShopper ? 0.15 : Math.min(2.5, Math.max(0.2, rng.logNormal(1, 0.5))),
    loyalty: 0.3 + 0.6 * rng.next(),
    activeHour: hourTable.pick(rng),
    signupAt,
    anonymousSessions: rng.chance(0.6) ? rng.int(1, 3) : 0,
    memberJoinAt: memberJoinAt !== null && memberJoinAt < end ? memberJoinAt : null,
    memberNo:
      memberJoinAt !== null && memberJoinAt < end ? `M${String(seed % 1000).padStart(3, '0')}${String(index).padStart(8, '0')}` : null,
    memberTier: memberJoinAt !== null && memberJoinAt < end ? pickWeighted(rng, { silver: 0.7, gold: 0.25, platinum: 0.05 }) : null,
    dormantAt: dormantAt !== null && dormantAt < end ? dormantAt : null,
  };
}

/** The member as the response model sees them at `now` (recent history supplied by the caller). */
export function responderOf(
  m: SimMember,
  history: { lastOrderAt: number | null; messagesLast7Days: number; averageOrderValue?: number },
): Responder {
  return {
    timezone: m.timezone,
    consent: m.consent,
    preferredChannel: m.preferredChannel,
    discountSensitivity: m.discountSensitivity,
    activeHour: m.activeHour,
    ...history,
  };
}
