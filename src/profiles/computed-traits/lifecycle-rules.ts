import { z } from 'zod';
import { DAY } from '../../core/clock.ts';
import type { SqlExecutor } from '../../store/index.ts';

/**
 * The lifecycle stages a person can be in, in the order they are tested (first match wins):
 * prospect → churned → dormant → new → active_returning → returning.
 */
export const lifecycleStages = ['prospect', 'new', 'returning', 'active_returning', 'dormant', 'churned'] as const;
export type LifecycleStage = (typeof lifecycleStages)[number];

const days = (what: string) => z.number().int().min(1).max(3650).describe(what);

/**
 * Per-workspace lifecycle rules. Defaults suit a fashion brand: seasons are ~90 days, so a buyer
 * who skips two seasons (180 days) is dormant and one who skips a year is churned.
 */
export const lifecycleRulesSchema = z
  // Strict: a misspelt field must be an error, not silently replaced by its default.
  .strictObject({
    newWithinDays: days('A buyer is "new" while their first paid order is at most this many days old').default(30),
    newMaxOrders: z
      .number()
      .int()
      .min(1)
      .max(100)
      .describe('…and they have at most this many paid orders (1: a second order makes them returning)')
      .default(1),
    activeMinOrders: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .describe('An "active_returning" buyer has at least this many paid orders…')
      .default(2),
    activeWithinDays: days('…and their last paid order is at most this many days old').default(90),
    dormantAfterDays: days('A buyer whose last paid order is older than this is "dormant"').default(180),
    churnedAfterDays: days('A buyer whose last paid order is older than this is "churned"').default(365),
  })
  .superRefine((r, ctx) => {
    if (r.churnedAfterDays <= r.dormantAfterDays) {
      ctx.addIssue({ code: 'custom', path: ['churnedAfterDays'], message: 'must be greater than dormantAfterDays' });
    }
    if (r.activeWithinDays > r.dormantAfterDays) {
      ctx.addIssue({ code: 'custom', path: ['activeWithinDays'], message: 'must not be greater than dormantAfterDays' });
    }
    if (r.newWithinDays > r.dormantAfterDays) {
      ctx.addIssue({ code: 'custom', path: ['newWithinDays'], message: 'must not be greater than dormantAfterDays' });
    }
  })
  .describe('Lifecycle rules: how buyers are split into new / returning / active_returning / dormant / churned');

export type LifecycleRules = z.infer<typeof lifecycleRulesSchema>;

export const defaultLifecycleRules: LifecycleRules = lifecycleRulesSchema.parse({});

/** The `workspace_settings` key the rules are stored under. */
export const LIFECYCLE_SETTINGS_KEY = 'lifecycle_rules';

/** The workspace's rules, or the defaults when none were saved (or the saved ones no longer validate). */
export async function getLifecycleRules(db: SqlExecutor, workspaceId: number): Promise<LifecycleRules> {
  const [row] = await db.query<{ value: unknown }>('SELECT value FROM workspace_settings WHERE workspace_id = $1 AND key = $2', [
    workspaceId,
    LIFECYCLE_SETTINGS_KEY,
  ]);
  if (!row) return defaultLifecycleRules;
  const value = typeof row.value === 'string' ? JSON.parse(row.value) : row.value;
  // A document saved by an older version may lack newer fields; the schema's defaults fill them.
  const parsed = lifecycleRulesSchema.safeParse(value);
  return parsed.success ? parsed.data : defaultLifecycleRules;
}

/** Saves already-validated rules (upsert). */
export async function saveLifecycleRules(db: SqlExecutor, workspaceId: number, rules: LifecycleRules, now: number): Promise<void> {
  await db.query(
    `INSERT INTO workspace_settings (workspace_id, key, value, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (workspace_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    [workspaceId, LIFECYCLE_SETTINGS_KEY, JSON.stringify(rules), now],
  );
}

/**
 * The lifecycle stage as one SQL CASE over a row's order_count, first_order_at and last_order_at.
 * Only those stored columns and `now` are used, so the stage of every person can be re-evaluated
 * with one UPDATE as time passes, without reading events. The numbers are validated integers,
 * inlined so the same expression serves INSERT and UPDATE statements with different parameters.
 */
export function lifecycleSql(rules: LifecycleRules, now: number, col: (name: string) => string = (n) => n): string {
  const before = (d: number) => String(Math.trunc(now - d * DAY));
  const count = col('order_count');
  const first = col('first_order_at');
  const last = col('last_order_at');
  return `CASE
    WHEN ${count} = 0 THEN 'prospect'
    WHEN ${last} < ${before(rules.churnedAfterDays)} THEN 'churned'
    WHEN ${last} < ${before(rules.dormantAfterDays)} THEN 'dormant'
    WHEN ${count} <= ${Math.trunc(rules.newMaxOrders)} AND ${first} >= ${before(rules.newWithinDays)} THEN 'new'
    WHEN ${count} >= ${Math.trunc(rules.activeMinOrders)} AND ${last} >= ${before(rules.activeWithinDays)} THEN 'active_returning'
    ELSE 'returning' END`;
}
