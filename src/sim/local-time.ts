import { DAY, HOUR } from '../core/clock.ts';

/**
 * UTC offsets of IANA time zones, cached per UTC hour. Intl is exact (DST included) but costs
 * microseconds per call; the simulator asks millions of times for a handful of zones, so each
 * (zone, hour) is computed once.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
const cache = new Map<string, Map<number, number>>();

function computeOffset(timeZone: string, t: number): number {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(t)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const local = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!);
  const truncated = t - (((t % 60_000) + 60_000) % 60_000);
  return local - truncated;
}

/** Milliseconds to add to a UTC instant to get the wall-clock time in `timeZone`. */
export function offsetMs(timeZone: string, t: number): number {
  let byHour = cache.get(timeZone);
  if (!byHour) {
    byHour = new Map();
    cache.set(timeZone, byHour);
  }
  const hour = Math.floor(t / HOUR);
  let off = byHour.get(hour);
  if (off === undefined) {
    off = computeOffset(timeZone, hour * HOUR);
    byHour.set(hour, off);
  }
  return off;
}

/** Local hour of day (0–23) of instant `t` in `timeZone`. */
export function localHour(timeZone: string, t: number): number {
  const local = t + offsetMs(timeZone, t);
  return Math.floor((((local % DAY) + DAY) % DAY) / HOUR);
}

/** Local calendar day number (days since 1970-01-01 in local time) of instant `t`. */
export function localDay(timeZone: string, t: number): number {
  return Math.floor((t + offsetMs(timeZone, t)) / DAY);
}

/**
 * The UTC instant of local wall-clock time `minuteOfDay` on local day `day`. The offset is
 * taken near that instant, which is exact except inside the hour a DST switch skips or repeats.
 */
export function instantOfLocal(timeZone: string, day: number, minuteOfDay: number): number {
  const wall = day * DAY + minuteOfDay * 60_000;
  const guess = wall - offsetMs(timeZone, wall);
  return wall - offsetMs(timeZone, guess);
}
