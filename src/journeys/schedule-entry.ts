import { isValidTimeZone } from '../core/identities.ts';
import { nextCronRun } from '../segments/index.ts';
import type { SqlExecutor } from '../store/index.ts';
import type { Trigger } from './definition.ts';

type Schedule = Extract<Trigger, { kind: 'schedule' }>;

export interface ScheduleCursor {
  /** Runs up to this instant have been handled. */
  entryCursor: number | null;
  /** When to look again. */
  nextFireAt: number | null;
}

/** When a newly started schedule is first due: its next run, or (per-person zones) now, to learn the zones. */
export function firstFireAt(trigger: Schedule, now: number): number | null {
  return trigger.timezone === 'user' ? now : nextCronRun(trigger.cron, trigger.timezone, now);
}

/** The audience of a schedule as SQL over `users u` ($1 = workspace). */
function audienceSql(trigger: Schedule): string {
  const members = trigger.segmentId
    ? ` AND u.user_key IN (SELECT user_key FROM segment_members WHERE workspace_id = $1 AND segment_id = ${Number(trigger.segmentId)})`
    : '';
  return `users u WHERE u.workspace_id = $1 AND u.merged_into IS NULL${members}`;
}

/**
 * Puts the audience of a due schedule run into `candidates`. In one time zone, the run that came
 * due; with `timezone: "user"`, each person at the cron time of their own zone (`timezone` trait,
 * else `fallbackZone`): per zone present, its latest run since the last look.
 */
export async function collectScheduled(
  tx: SqlExecutor,
  workspaceId: number,
  trigger: Schedule,
  cursor: ScheduleCursor,
  now: number,
  fallbackZone: string,
): Promise<ScheduleCursor> {
  if (cursor.nextFireAt === null || cursor.nextFireAt > now) return cursor;
  const insert = `INSERT INTO candidates SELECT u.user_key, '', 't' || CAST($2 AS BIGINT) || '.' || u.user_key, NULL, NULL, CAST($2 AS BIGINT) FROM`;
  if (trigger.timezone !== 'user') {
    await tx.query(`${insert} ${audienceSql(trigger)}`, [workspaceId, cursor.nextFireAt]);
    return { entryCursor: cursor.nextFireAt, nextFireAt: nextCronRun(trigger.cron, trigger.timezone, now) };
  }
  const since = cursor.entryCursor ?? now;
  const zones = await tx.query<{ tz: string | null }>(`SELECT DISTINCT u.traits ->> 'timezone' AS tz FROM ${audienceSql(trigger)}`, [
    workspaceId,
  ]);
  let next: number | null = null;
  for (const { tz } of zones) {
    const zone = tz && isValidTimeZone(tz) ? tz : fallbackZone;
    const fire = latestRun(trigger.cron, zone, since, now);
    if (fire !== null)
      await tx.query(`${insert} ${audienceSql(trigger)} AND COALESCE(u.traits ->> 'timezone', '') = $3`, [workspaceId, fire, tz ?? '']);
    const upcoming = nextCronRun(trigger.cron, zone, now);
    if (upcoming !== null && (next === null || upcoming < next)) next = upcoming;
  }
  return { entryCursor: now, nextFireAt: next };
}

/** The latest run of `cron` in `zone` in (after, upTo], or null. */
function latestRun(cron: string, zone: string, after: number, upTo: number): number | null {
  let last: number | null = null;
  // Bounded: a minutely cron after a long pause would otherwise be walked run by run.
  let at: number | null = Math.max(after, upTo - 7 * 86_400_000);
  for (let i = 0; i < 20_000; i++) {
    at = nextCronRun(cron, zone, at);
    if (at === null || at > upTo) break;
    last = at;
  }
  return last;
}
