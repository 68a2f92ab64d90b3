import { DAY } from '../core/clock.ts';

/**
 * When people shop, in their own time zone: day of week, the big promotion days of each market
 * (Double-11 and 618 in China; Black Friday / Cyber Monday and the Christmas run-up elsewhere)
 * and hour of day. Factors multiply a member's base session rate.
 */

/** Sunday … Saturday. Weekends are busier. */
const weekdayFactor = [1.2, 0.95, 0.95, 1.0, 1.0, 1.05, 1.15];

/** Global hour-of-day activity curve (local time): lunch and late-evening peaks, quiet nights. */
export const hourWeights: readonly number[] = [
  0.4, 0.2, 0.1, 0.05, 0.05, 0.1, 0.3, 0.7, 1.0, 1.1, 1.2, 1.3, 1.6, 1.4, 1.1, 1.1, 1.1, 1.2, 1.4, 1.8, 2.3, 2.5, 2.0, 1.1,
];

export type Promotion = 'double11' | '618' | 'black_friday' | 'cyber_monday' | 'christmas' | 'boxing_day';

export interface DayProfile {
  /** Multiplier of the session rate on that local day. */
  sessions: number;
  /** Multiplier of the chance that a cart becomes an order (deals make people buy). */
  buying: number;
  promotion: Promotion | null;
  /** Calendar month 1–12 (seasonal goods). */
  month: number;
}

/** Upper bound of `sessions` over all days, for thinning a Poisson process. */
export const maxSessionFactor = 6 * 1.2;

/** Day of month of the 4th Thursday of November + 1 (Black Friday). */
function blackFriday(year: number): number {
  const firstDow = new Date(Date.UTC(year, 10, 1)).getUTCDay();
  const firstThursday = 1 + ((4 - firstDow + 7) % 7);
  return firstThursday + 21 + 1;
}

function holiday(country: string, year: number, month: number, dom: number): [number, Promotion | null] {
  const bf = blackFriday(year);
  if (country === 'CN') {
    if (month === 11 && dom === 11) return [6, 'double11'];
    if (month === 11 && dom < 11) return [1.5, 'double11']; // presale / warm-up phase
    if (month === 11 && dom <= 13) return [1.3, 'double11']; // after-sale
    if (month === 6 && dom === 18) return [3, '618'];
    if (month === 6 && dom < 18) return [1.3, '618'];
    if (month === 11 && dom === bf) return [1.2, null];
    return [1, null];
  }
  if (month === 11 && dom === bf) return [4, 'black_friday'];
  if (month === 11 && dom >= bf - 4 && dom < bf) return [1.4, 'black_friday'];
  if (month === 11 && (dom === bf + 1 || dom === bf + 2)) return [1.8, 'black_friday'];
  const cyberMonday = bf + 3;
  if ((month === 11 && dom === cyberMonday) || (month === 12 && dom === cyberMonday - 30)) return [2.5, 'cyber_monday'];
  if (month === 11 && dom === 11) return [1.5, 'double11']; // Singles' Day has spread abroad
  if (month === 12 && dom === 26 && (country === 'GB' || country === 'AU')) return [2, 'boxing_day'];
  if (month === 12 && dom <= 20) return [1.3, 'christmas'];
  return [1, null];
}

const profiles = new Map<string, Map<number, DayProfile>>();

/** The profile of local day `day` (days since epoch, local calendar) for members in `country`. */
export function dayProfile(country: string, day: number): DayProfile {
  let byDay = profiles.get(country);
  if (!byDay) {
    byDay = new Map();
    profiles.set(country, byDay);
  }
  let p = byDay.get(day);
  if (!p) {
    const d = new Date(day * DAY);
    const [h, promotion] = holiday(country, d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
    p = { sessions: weekdayFactor[d.getUTCDay()]! * h, buying: h ** 0.4, promotion, month: d.getUTCMonth() + 1 };
    byDay.set(day, p);
  }
  return p;
}
