import { DAY, HOUR } from './clock.ts';

/**
 * UTC offsets of IANA time zones, cached per UTC hour (filled a day at a time). Intl is exact (DST included) but costs
 * microseconds per call; the simulator asks millions of times for a handful of zones, so each
 * (zone, hour) is computed once.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
/** Per zone: chunks of 1024 hours (hour >> 10) → offset in ms, UNSET until computed. */
const cache = new Map<string, Map<number, Int32Array>>();
const UNSET = 0x7fffffff;

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

function chunkOf(chunks: Map<number, Int32Array>, hour: number): Int32Array {
  let chunk = chunks.get(hour >> 10);
  if (!chunk) {
    chunk = new Int32Array(1024).fill(UNSET);
    chunks.set(hour >> 10, chunk);
  }
  return chunk;
}

/** Fills the cache for one UTC day: one Intl call per end of the day unless a DST switch is inside. */
function fillDay(timeZone: string, day: number, chunks: Map<number, Int32Array>): void {
  const first = day * 24;
  const a = computeOffset(timeZone, first * HOUR);
  const b = computeOffset(timeZone, (first + 23) * HOUR);
  for (let h = first; h < first + 24; h++) chunkOf(chunks, h)[h & 1023] = a === b ? a : computeOffset(timeZone, h * HOUR);
}

let lastZone = '';
let lastChunks = new Map<number, Int32Array>();

/** Milliseconds to add to a UTC instant to get the wall-clock time in `timeZone`. */
export function offsetMs(timeZone: string, t: number): number {
  if (timeZone !== lastZone) {
    let chunks = cache.get(timeZone);
    if (!chunks) {
      chunks = new Map();
      cache.set(timeZone, chunks);
    }
    lastZone = timeZone;
    lastChunks = chunks;
  }
  const hour = Math.floor(t / HOUR);
  const chunk = chunkOf(lastChunks, hour);
  if (chunk[hour & 1023] === UNSET) fillDay(timeZone, Math.floor(hour / 24), lastChunks);
  return chunk[hour & 1023]!;
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

/** Day of week (0 = Sunday … 6 = Saturday) of local day number `day` (1970-01-01 was a Thursday). */
export function weekdayOfLocalDay(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

/**
 * The first instant strictly after `after` whose local wall-clock time in `timeZone` is
 * `minuteOfDay`, on one of `weekdays` (0 = Sunday; all days when omitted). On a day a DST switch
 * skips that time, it is the instant the clocks jump to; when it repeats, the first of the two.
 */
export function nextLocalTime(timeZone: string, after: number, minuteOfDay: number, weekdays?: readonly number[]): number {
  const today = localDay(timeZone, after);
  for (let day = today; day <= today + 8; day++) {
    if (weekdays && weekdays.length > 0 && !weekdays.includes(weekdayOfLocalDay(day))) continue;
    const at = instantOfLocal(timeZone, day, minuteOfDay);
    if (at > after) return at;
  }
  throw new Error(`no local time ${minuteOfDay} on weekdays ${weekdays} after ${after}`);
}
