import { DAY } from '../../core/clock.ts';
import { localDay, weekdayOfLocalDay } from '../../core/local-time.ts';
import type { MembershipSettings } from './schema.ts';

export interface MemberDayAnswer {
  memberDay: boolean;
  /** The programme's local date now, e.g. "2026-11-11". */
  localDate: string;
  timezone: string;
}

/**
 * Whether `now` falls on a member day: a listed weekday, day of the month or date, in the
 * programme's time zone (a shop's calendar, not each person's).
 */
export function memberDayAt(settings: MembershipSettings, now: number): MemberDayAnswer {
  const day = localDay(settings.timezone, now);
  const localDate = new Date(day * DAY).toISOString().slice(0, 10);
  const d = settings.memberDays;
  const memberDay =
    d.weekdays.includes(weekdayOfLocalDay(day)) || d.monthDays.includes(Number(localDate.slice(8, 10))) || d.dates.includes(localDate);
  return { memberDay, localDate, timezone: settings.timezone };
}

export interface PricingAnswer extends MemberDayAnswer {
  /** True when this person gets member pricing now: an active member, on a member day, of an eligible tier. */
  memberPricing: boolean;
  member: boolean;
  tier: string | null;
}

export function memberPricingAt(
  settings: MembershipSettings,
  member: { status: string; tier: string | null } | null,
  now: number,
): PricingAnswer {
  const day = memberDayAt(settings, now);
  const active = member?.status === 'active';
  const tierOk = !settings.memberDays.tiers || (member?.tier != null && settings.memberDays.tiers.includes(member.tier));
  return { ...day, memberPricing: active && day.memberDay && tierOk, member: active, tier: member?.tier ?? null };
}
