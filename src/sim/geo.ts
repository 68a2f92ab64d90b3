import type { Channel } from './response-model.ts';
import { type Rng, WeightedTable } from './rng.ts';

/**
 * Where simulated members live: a cross-border shop with a large Chinese base (WeChat, SMS)
 * and Western / Asia-Pacific markets (email, push). Each country carries its time zones,
 * locale, names, and a generator of phone numbers that libphonenumber-js accepts as valid.
 *
 * Phone numbers are derived from the user index through a bijection of the country's number
 * space, so two simulated members never share a number (no accidental identity conflicts).
 * They are syntactically valid and may belong to real people: never connect a real SMS
 * provider to a demo workspace.
 */
export interface Country {
  code: string;
  weight: number;
  timeZones: readonly string[];
  locale: string;
  firstNames: Readonly<Record<'female' | 'male', readonly string[]>>;
  lastNames: readonly string[];
  /** Share of members who gave a phone number. */
  phoneShare: number;
  /** Share of members with a WeChat openid (followers of the official account). */
  wechatShare: number;
  /** Which channel members prefer, before personal noise. */
  channels: Readonly<Partial<Record<Channel, number>>>;
  /** Size of the number space and the formatter of the k-th number in it. */
  phoneSpace: number;
  phone: (k: number) => string;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const westernFirst = {
  female: ['Emma', 'Olivia', 'Ava', 'Sophia', 'Mia', 'Grace', 'Chloe', 'Lily', 'Ella'],
  male: ['Liam', 'Noah', 'James', 'Lucas', 'Ethan', 'Jack', 'Harry', 'Oscar'],
};
const westernLast = [
  'Smith',
  'Johnson',
  'Brown',
  'Taylor',
  'Wilson',
  'Martin',
  'Lee',
  'Walker',
  'Hall',
  'Young',
  'King',
  'Wright',
  'Green',
  'Baker',
];
const cnPrefixes = [
  '138',
  '139',
  '135',
  '136',
  '137',
  '150',
  '151',
  '152',
  '158',
  '159',
  '182',
  '183',
  '187',
  '188',
  '130',
  '131',
  '132',
  '155',
  '156',
  '185',
  '186',
  '133',
  '153',
  '180',
  '181',
  '189',
  '177',
  '199',
];
const usAreas = [
  '212',
  '646',
  '718',
  '415',
  '510',
  '408',
  '213',
  '310',
  '312',
  '773',
  '617',
  '206',
  '305',
  '404',
  '512',
  '214',
  '702',
  '303',
  '602',
  '202',
];

export const countries: readonly Country[] = [
  {
    code: 'CN',
    weight: 0.42,
    timeZones: ['Asia/Shanghai'],
    locale: 'zh-CN',
    firstNames: {
      female: ['Fang', 'Jing', 'Min', 'Yan', 'Xin', 'Hui', 'Ling', 'Na'],
      male: ['Wei', 'Lei', 'Jun', 'Tao', 'Yu', 'Qiang', 'Hao', 'Bin'],
    },
    lastNames: ['Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou', 'Xu', 'Sun'],
    phoneShare: 0.97,
    wechatShare: 0.8,
    channels: { wechat: 0.45, sms: 0.3, push: 0.2, email: 0.05 },
    phoneSpace: cnPrefixes.length * 1e8,
    phone: (k) => `+86${cnPrefixes[Math.floor(k / 1e8)]}${pad(k % 1e8, 8)}`,
  },
  {
    code: 'US',
    weight: 0.2,
    timeZones: ['America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles'],
    locale: 'en-US',
    firstNames: westernFirst,
    lastNames: westernLast,
    phoneShare: 0.65,
    wechatShare: 0,
    channels: { email: 0.45, push: 0.3, sms: 0.25 },
    // area code + exchange 200–999 + line
    phoneSpace: usAreas.length * 8e6,
    phone: (k) => `+1${usAreas[Math.floor(k / 8e6)]}${200 + Math.floor((k % 8e6) / 1e4)}${pad(k % 1e4, 4)}`,
  },
  {
    code: 'GB',
    weight: 0.08,
    timeZones: ['Europe/London'],
    locale: 'en-GB',
    firstNames: westernFirst,
    lastNames: westernLast,
    phoneShare: 0.6,
    wechatShare: 0,
    channels: { email: 0.5, push: 0.3, sms: 0.2 },
    phoneSpace: 5e7, // 07400 000000 – 07449 999999
    phone: (k) => `+4474${pad(Math.floor(k / 1e6), 2)}${pad(k % 1e6, 6)}`,
  },
  {
    code: 'DE',
    weight: 0.07,
    timeZones: ['Europe/Berlin'],
    locale: 'de-DE',
    firstNames: { female: ['Lena', 'Mia', 'Hannah', 'Anna', 'Marie'], male: ['Lukas', 'Leon', 'Felix', 'Jonas', 'Paul'] },
    lastNames: ['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker'],
    phoneShare: 0.5,
    wechatShare: 0,
    channels: { email: 0.6, push: 0.25, sms: 0.15 },
    phoneSpace: 1e8,
    phone: (k) => `+49151${pad(k, 8)}`,
  },
  {
    code: 'FR',
    weight: 0.05,
    timeZones: ['Europe/Paris'],
    locale: 'fr-FR',
    firstNames: { female: ['Léa', 'Chloé', 'Manon', 'Jade', 'Camille'], male: ['Hugo', 'Louis', 'Gabriel', 'Arthur', 'Jules'] },
    lastNames: ['Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand'],
    phoneShare: 0.55,
    wechatShare: 0,
    channels: { email: 0.55, push: 0.25, sms: 0.2 },
    phoneSpace: 3e7, // 06 00 00 00 00 – 06 29 99 99 99
    phone: (k) => `+336${pad(k, 8)}`,
  },
  {
    code: 'JP',
    weight: 0.06,
    timeZones: ['Asia/Tokyo'],
    locale: 'ja-JP',
    firstNames: { female: ['Yui', 'Hina', 'Sakura', 'Yuna', 'Aoi'], male: ['Haruto', 'Sota', 'Ren', 'Riku', 'Daiki'] },
    lastNames: ['Sato', 'Suzuki', 'Takahashi', 'Tanaka', 'Watanabe', 'Ito', 'Yamamoto', 'Nakamura'],
    phoneShare: 0.6,
    wechatShare: 0,
    channels: { email: 0.45, push: 0.4, sms: 0.15 },
    phoneSpace: 9e7, // 090 1000 0000 – 090 9999 9999
    phone: (k) => `+8190${1 + Math.floor(k / 1e7)}${pad(k % 1e7, 7)}`,
  },
  {
    code: 'SG',
    weight: 0.05,
    timeZones: ['Asia/Singapore'],
    locale: 'en-SG',
    firstNames: { female: ['Wei Ling', 'Hui Min', 'Aisha', 'Priya', 'Rachel'], male: ['Jun Jie', 'Ravi', 'Marcus', 'Darren', 'Irfan'] },
    lastNames: ['Tan', 'Lim', 'Lee', 'Ng', 'Ong', 'Wong', 'Goh', 'Kumar'],
    phoneShare: 0.8,
    wechatShare: 0.15,
    channels: { push: 0.35, sms: 0.3, email: 0.3, wechat: 0.05 },
    phoneSpace: 9e6, // 9000 0000 – 9899 9999
    phone: (k) => `+659${Math.floor(k / 1e6)}${pad(k % 1e6, 6)}`,
  },
  {
    code: 'AU',
    weight: 0.07,
    timeZones: ['Australia/Sydney', 'Australia/Melbourne', 'Australia/Perth'],
    locale: 'en-AU',
    firstNames: westernFirst,
    lastNames: westernLast,
    phoneShare: 0.6,
    wechatShare: 0.03,
    channels: { email: 0.5, push: 0.3, sms: 0.2 },
    phoneSpace: 4e7, // 0400 000 000 – 0439 999 999
    phone: (k) => `+614${pad(k, 8)}`,
  },
];

export const countryTable = new WeightedTable(
  countries,
  countries.map((c) => c.weight),
);

/** Large primes, coprime with every phone space above (which only have factors 2, 3, 5, 7). */
const STRIDE = 1_000_003;

/** The index-th member's phone: k = (index·stride + offset) mod space is a bijection of the space. */
export function phoneFor(country: Country, index: number, seed: number): string {
  const offset = (seed * 7919) % country.phoneSpace;
  const k = ((((index % country.phoneSpace) * STRIDE) % country.phoneSpace) + offset) % country.phoneSpace;
  return country.phone(k);
}

/** An opaque, stable id in the shape of a WeChat openid (28 chars). */
export function openIdFor(rng: Rng): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let s = 'o';
  for (let i = 0; i < 27; i++) s += alphabet[Math.floor(rng.next() * 64)];
  return s;
}
