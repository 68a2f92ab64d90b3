import { Cron } from 'croner';
import { z } from 'zod';
import { isValidTimeZone } from '../core/identities.ts';

/**
 * How a segment's membership is kept current.
 * - realtime: people touched by new events are re-evaluated within seconds; definitions whose
 *   answer changes with time alone ("active in the last 7 days") are also re-evaluated whole
 *   every `timeRefreshMs` (server option, default one minute), so people leave without a new event.
 * - scheduled: re-evaluated whole on a cron schedule in a time zone (e.g. every Monday 09:00).
 * - manual: only when asked (`POST /api/segments/{id}/refresh`).
 */
/** A cron expression (minute hour day month weekday), checked by croner. */
export const cronSchema = z.string().min(1).refine(validCron, 'a cron expression like "0 9 * * 1" (minute hour day month weekday)');

/** The next run of a cron expression in a time zone strictly after `after`, or null if it never runs again. */
export function nextCronRun(cron: string, timezone: string, after: number): number | null {
  const next = new Cron(cron, { paused: true, timezone }).nextRun(new Date(after));
  return next ? next.getTime() : null;
}

export const refreshSchema = z
  .discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('realtime') }),
    z.strictObject({
      mode: z.literal('scheduled'),
      cron: cronSchema.describe('When to refresh, e.g. "0 9 * * 1" = Mondays at 09:00'),
      timezone: z.string().refine(isValidTimeZone, 'an IANA time zone like Asia/Shanghai').default('UTC'),
    }),
    z.strictObject({ mode: z.literal('manual') }),
  ])
  .describe('How membership is kept current');
export type RefreshSettings = z.infer<typeof refreshSchema>;

function validCron(expression: string): boolean {
  try {
    new Cron(expression, { paused: true });
    return true;
  } catch {
    return false;
  }
}

/** The next scheduled refresh strictly after `after`, or null (realtime/manual, or a schedule that never fires again). */
export function nextScheduledRefresh(refresh: RefreshSettings, after: number): number | null {
  if (refresh.mode !== 'scheduled') return null;
  return nextCronRun(refresh.cron, refresh.timezone, after);
}
