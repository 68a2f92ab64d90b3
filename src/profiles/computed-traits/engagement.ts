import { DAY } from '../../core/clock.ts';
import { activityTypes, channels, RESPONSE_EVENTS, sqlList, systemEvents } from './definitions.ts';
import type { TraitSources } from './sources.ts';

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
    SELECT user_key, properties ->> 'channel' AS channel, count(*) AS n, max(ts) AS last_at
    FROM ${src.events} ev
    WHERE event IN ${sqlList(RESPONSE_EVENTS)}
    GROUP BY user_key, properties ->> 'channel'),
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
 */
export function activeHourCtes(src: TraitSources, now: number): string {
  const from = activeHourFirstDay(now) * DAY;
  return `
  activity AS (
    SELECT ev.ts, ev.user_key,
      coalesce(p.tz, CASE WHEN ev.context ->> 'timezone' IN (SELECT tz FROM ${src.tzDays}) THEN ev.context ->> 'timezone' END, 'UTC') AS tz
    FROM ${src.events} ev JOIN ${src.people} p ON p.user_key = ev.user_key
    WHERE ev.ts >= ${from} AND ev.type IN ${sqlList(activityTypes)}
      AND (ev.event IS NULL OR ev.event NOT IN ${sqlList(systemEvents)})),
  hour_counts AS (
    SELECT a.user_key, CAST(floor((a.ts + z.offset_ms) / 3600000.0) AS BIGINT) % 24 AS hour, count(*) AS n
    FROM activity a JOIN ${src.tzDays} z ON z.tz = a.tz AND z.day = CAST(floor(a.ts / 86400000.0) AS BIGINT)
    GROUP BY a.user_key, CAST(floor((a.ts + z.offset_ms) / 3600000.0) AS BIGINT) % 24),
  act_hour AS (
    SELECT user_key, hour FROM (
      SELECT user_key, hour, row_number() OVER (PARTITION BY user_key ORDER BY n DESC, hour) AS rn FROM hour_counts) t
    WHERE rn = 1)`;
}
