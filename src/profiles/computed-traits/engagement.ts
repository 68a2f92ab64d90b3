import { DAY } from '../../core/clock.ts';
import { activityTypes, channels, RESPONSE_EVENTS, sqlList, systemEvents } from './definitions.ts';
import type { TraitSources } from './sources.ts';
import type { TraitDialect } from './sql-dialect.ts';

/**
 * active_hour looks at this many days of activity before `now`: send-time habits change, and a
 * bounded window keeps the scan to recent row groups (events arrive roughly in time order).
 */
export const ACTIVE_HOUR_WINDOW_DAYS = 180;

/** First UTC day number of the active-hour window. */
export function activeHourFirstDay(now: number): number {
  return Math.floor((now - ACTIVE_HOUR_WINDOW_DAYS * DAY) / DAY);
}

/**
 * `pref_channel(user_key, channel)`: the channel of the person's most responses (`Message
 * Clicked` + `Journey Converted`); ties go to the channel responded to most recently, then the
 * alphabetically first. Deliveries are not responses, so someone who never clicks has none.
 */
export function channelCtes(src: TraitSources): string {
  return `
  responses AS (
    SELECT ev.user_key, ${src.fields.channel} AS channel, count(*) AS n, max(ev.ts) AS last_at
    FROM ${src.events} ev
    WHERE ev.event IN ${sqlList(RESPONSE_EVENTS)}
    GROUP BY ev.user_key, ${src.fields.channel}),
  pref_channel AS (
    SELECT user_key, channel FROM (
      SELECT user_key, channel, row_number() OVER (PARTITION BY user_key ORDER BY n DESC, last_at DESC, channel) AS rn
      FROM responses WHERE channel IN ${sqlList(channels)}) t
    WHERE rn = 1)`;
}

/**
 * `act_hour(user_key, hour)`: the most frequent local hour of day of the person's activity
 * (track/page/screen calls, system events excluded) in the window; ties go to the earlier hour.
 * The zone is the person's `timezone` trait, else the event's `context.timezone`, else UTC.
 * Converting each event with the database's time-zone functions is far too slow (microseconds
 * per row on DuckDB), so each zone's UTC offset is looked up per UTC day (`tzDays`, a few
 * thousand conversions); only activity in the hours around a DST switch may land an hour off.
 *
 * A context zone counts only when the database knows it, i.e. when it is in `tzDays`; otherwise,
 * like a missing zone, it means UTC (offset 0). A LEFT JOIN on `tzDays` says exactly that without
 * a per-row `IN (SELECT …)`. Only days up to today are in `tzDays`, so later (future-stamped)
 * activity is left out, as it always was.
 */
export function activeHourCtes(d: TraitDialect, src: TraitSources, now: number): string {
  const from = activeHourFirstDay(now) * DAY;
  const to = (Math.floor(now / DAY) + 1) * DAY;
  return `
  activity AS (
    SELECT ev.ts, ev.user_key, coalesce(p.tz, ${src.fields.contextTz}) AS tz
    FROM ${src.events} ev JOIN ${src.people} p ON p.user_key = ev.user_key
    WHERE ev.ts >= ${from} AND ev.ts < ${to} AND ev.type IN ${sqlList(activityTypes)}
      AND (ev.event IS NULL OR ev.event NOT IN ${sqlList(systemEvents)})),
  hour_counts AS (
    SELECT h.user_key, h.hour, count(*) AS n FROM (
      SELECT a.user_key, CAST(floor((a.ts + coalesce(z.offset_ms, 0)) / 3600000.0) AS BIGINT) % 24 AS hour
      FROM activity a LEFT JOIN ${src.tzDays} z ON z.tz = a.tz AND z.day = CAST(floor(a.ts / 86400000.0) AS BIGINT)) h
    GROUP BY h.user_key, h.hour),
  act_hour AS (${d.topPerUser(
    'hour_counts',
    ['hour'],
    [
      { expr: 'n', desc: true },
      { expr: 'hour', desc: false },
    ],
    1,
  )})`;
}
