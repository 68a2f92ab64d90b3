import { DAY } from '../../core/clock.ts';
import { instantOfLocal, localDay, nextLocalTime, offsetMs, weekdayOfLocalDay } from '../../core/local-time.ts';
import type { MessagingSettings } from './settings.ts';

/**
 * The time rules of contact governance, as pure functions of (settings, the person's zone, now).
 * Everything local goes through core/local-time.ts, so DST switches are handled in one place.
 */

const minuteOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Local minute of day (0–1439) of instant `t`. */
function localMinute(timeZone: string, t: number): number {
  const local = t + offsetMs(timeZone, t);
  return Math.floor((((local % DAY) + DAY) % DAY) / 60_000);
}

/** The local date `YYYY-MM-DD` of instant `t`. */
export function localDate(timeZone: string, t: number): string {
  return new Date(localDay(timeZone, t) * DAY).toISOString().slice(0, 10);
}

/** True while `t` is inside the quiet hours (a window may wrap midnight: 21:00–08:00). */
export function inQuietHours(q: NonNullable<MessagingSettings['quietHours']>, timeZone: string, t: number): boolean {
  const m = localMinute(timeZone, t);
  const start = minuteOf(q.start);
  const end = minuteOf(q.end);
  if (start === end) return false;
  return start < end ? m >= start && m < end : m >= start || m < end;
}

export type TimeVerdict = { kind: 'now' } | { kind: 'defer'; until: number; reason: string } | { kind: 'drop'; reason: string };

/**
 * When a marketing message may go out: now, later (the first instant that is neither in quiet
 * hours nor on a blackout date), or never (the workspace drops rather than defers).
 */
export function allowedTime(settings: MessagingSettings, timeZone: string, now: number): TimeVerdict {
  const q = settings.quietHours;
  const blackout = new Set(settings.blackoutDates);
  let t = now;
  let reason = '';
  // Each pass moves past one obstacle; a year of blackout dates is the worst case.
  for (let pass = 0; pass < 800; pass++) {
    if (blackout.has(localDate(timeZone, t))) {
      reason ||= `blackout date ${localDate(timeZone, t)}`;
      t = instantOfLocal(timeZone, localDay(timeZone, t) + 1, 0);
      continue;
    }
    if (q && inQuietHours(q, timeZone, t)) {
      reason ||= `quiet hours ${q.start}–${q.end} (${timeZone})`;
      t = nextLocalTime(timeZone, t, minuteOf(q.end));
      continue;
    }
    if (t === now) return { kind: 'now' };
    return q?.action === 'drop' ? { kind: 'drop', reason } : { kind: 'defer', until: t, reason };
  }
  return { kind: 'drop', reason: 'no allowed time within a year' };
}

/** The first local day (day number) of the calendar week (Monday–Sunday) containing local day `day`. */
const mondayOf = (day: number): number => day - ((weekdayOfLocalDay(day) + 6) % 7);

/**
 * The first cap a new message on `channel` would break, given the person's marketing messages
 * already sent (channel, instant); null when every cap allows it.
 */
export function brokenCap(
  caps: MessagingSettings['frequencyCaps'],
  timeZone: string,
  now: number,
  channel: string,
  sent: readonly { channel: string; at: number }[],
): MessagingSettings['frequencyCaps'][number] | null {
  const today = localDay(timeZone, now);
  for (const cap of caps) {
    if (cap.channel !== 'all' && cap.channel !== channel) continue;
    const from = cap.period === 'day' ? today : mondayOf(today);
    const n = sent.filter((s) => (cap.channel === 'all' || s.channel === cap.channel) && localDay(timeZone, s.at) >= from).length;
    if (n >= cap.max) return cap;
  }
  return null;
}

/**
 * The next instant at the person's most active local hour, if it is within the window and not
 * (almost) now; null means "send now".
 */
export function activeHourTime(activeHour: number | null, timeZone: string, now: number, windowHours: number): number | null {
  if (activeHour === null || !Number.isInteger(activeHour) || activeHour < 0 || activeHour > 23) return null;
  const at = nextLocalTime(timeZone, now, activeHour * 60);
  // Already inside that hour: now is the time.
  if (at - now > (24 * 60 - 60) * 60_000) return null;
  return at - now <= windowHours * 3_600_000 ? at : null;
}
