import { DAY, HOUR, MINUTE } from '../core/clock.ts';
import { instantOfLocal, localDay } from '../core/local-time.ts';
import type { SimMember } from './member.ts';
import type { Rng } from './rng.ts';
import { dayProfile, hourWeights, maxSessionFactor } from './seasonality.ts';

/**
 * When a member visits the shop. Visits form a Poisson process whose rate is the member's
 * sessions per week times the day's factor in their own calendar (weekday, promotion days),
 * sampled by thinning; new members visit more often in their first weeks. The time of day is
 * the member's usual hour 60 % of the time, otherwise the shop-wide hour curve — both local.
 */

const hourTotal = hourWeights.reduce((a, b) => a + b, 0);

function globalHour(rng: Rng): number {
  let x = rng.next() * hourTotal;
  for (let h = 0; h < 24; h++) {
    x -= hourWeights[h]!;
    if (x < 0) return h;
  }
  return 23;
}

/** Moves instant `t` to a plausible minute of the same local day. */
export function placeInDay(m: SimMember, rng: Rng, t: number): number {
  const day = localDay(m.timezone, t);
  const minute = rng.chance(0.6) ? m.activeHour * 60 + Math.round(rng.normal() * 70) : globalHour(rng) * 60 + rng.int(0, 59);
  return instantOfLocal(m.timezone, day, ((minute % 1440) + 1440) % 1440) + rng.int(0, 59) * 1000;
}

/** Session starts after sign-up, sorted, within [signupAt, end). */
export function sessionTimes(m: SimMember, rng: Rng, end: number): number[] {
  const times: number[] = [];
  const ratePerMs = m.sessionsPerWeek / (7 * DAY);
  const meanGap = 1 / (ratePerMs * maxSessionFactor);
  const code = m.country.code;
  for (let t = m.signupAt + rng.exp(meanGap); t < end; t += rng.exp(meanGap)) {
    const dormant = m.dormantAt !== null && t >= m.dormantAt;
    const accept = (dayProfile(code, localDay(m.timezone, t)).sessions / maxSessionFactor) * (dormant ? 0.05 : 1);
    if (rng.next() >= accept) continue;
    const s = placeInDay(m, rng, t);
    if (s > m.signupAt && s < end) times.push(s);
  }
  // Onboarding: about 2 extra visits per weekly visit, concentrated in the first week or two.
  const extra = Math.round(2 * m.sessionsPerWeek * rng.next() * 2);
  for (let i = 0; i < extra; i++) {
    const s = m.signupAt + 10 * MINUTE + Math.floor(rng.exp(6 * DAY));
    if (s < end && (m.dormantAt === null || s < m.dormantAt)) times.push(placeInDay(m, rng, s));
  }
  return times.filter((s) => s > m.signupAt && s < end).sort((a, b) => a - b);
}

/** Anonymous browsing sessions in the week before sign-up (none before the window starts). */
export function anonymousSessionTimes(m: SimMember, rng: Rng, start: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < m.anonymousSessions; i++) {
    const t = m.signupAt - Math.floor(rng.next() * 7 * DAY) - 30 * MINUTE;
    if (t >= start) times.push(t);
  }
  // The last visit is the one where they sign up: minutes before it.
  if (times.length > 0) times.push(m.signupAt - Math.floor(5 * MINUTE + rng.next() * 0.5 * HOUR));
  return times.filter((t) => t >= start).sort((a, b) => a - b);
}
