import { isValidTimeZone } from '../../core/identities.ts';
import { nextLocalTime } from '../../core/local-time.ts';
import { computedTraitKinds, durationMs, SqlBuilder } from '../../segments/index.ts';
import { type WaitSpec, weekdayNames } from '../definition.ts';
import { everyone, moveAll, type NodeHandler, type StepContext } from '../step-context.ts';

/** Signed duration ("-3d") in milliseconds. */
export function signedDurationMs(offset: string): number {
  const sign = offset.startsWith('-') ? -1 : 1;
  return sign * durationMs(offset.replace(/^[+-]/, '') as `${number}d`);
}

/**
 * Waits. On arrival (node_state 0) each instance gets its wake-up time (due_at) and state 1;
 * the engine brings it back as ready when that time comes, and it goes on.
 */
export const waitHandler: NodeHandler<'wait'> = {
  branches: () => ['next'],
  waits: true,
  waitOnArrival: (node) => (node.wait.kind === 'duration' ? durationMs(node.wait.duration) : null),
  async step(ctx, node) {
    // Nobody just arrived: everyone ready is a waiter whose time has come (a timer drain).
    if ((await setWakeTimes(ctx, node.wait)) === 0) return everyone('next');
    await moveAll(ctx, 'next', 'r.node_state = 1');
  },
};

const arrivals = (ctx: StepContext) =>
  `FROM ready r WHERE journey_instances.instance_id = r.instance_id AND r.node_state = 0 AND journey_instances.workspace_id = ${Number(ctx.workspaceId)}`;

/**
 * Gives the arrivals (node_state 0) their wake-up time. Returns how many arrived (each arrival is
 * one instance row updated), or null when that is not known (local times skip arrivals without a
 * profile row, so the rows updated may be fewer).
 */
async function setWakeTimes(ctx: StepContext, wait: WaitSpec): Promise<number | null> {
  switch (wait.kind) {
    case 'duration':
      return ctx.tx.execute(`UPDATE journey_instances SET node_state = 1, due_at = r.node_entered_at + $1 ${arrivals(ctx)}`, [
        durationMs(wait.duration),
      ]);
    case 'local_time':
      await setLocalTimes(ctx, wait);
      return null;
    case 'trait': {
      const b = new SqlBuilder(ctx.dialect);
      const offset = b.param(signedDurationMs(wait.offset));
      const now = b.param(ctx.now);
      const at = traitInstantSql(b, wait.trait);
      return ctx.tx.execute(
        `UPDATE journey_instances SET node_state = 1, due_at = COALESCE((${at}) + ${offset}, ${now}) ${arrivals(ctx)}`,
        b.params,
      );
    }
    default: {
      const unknown: never = wait;
      throw new Error(`unknown wait ${JSON.stringify(unknown)}`);
    }
  }
}

/** The instant (epoch ms) of a date trait of the person `r.user_key`: a computed one, or an ISO date in the profile. */
function traitInstantSql(b: SqlBuilder, trait: string): string {
  const ws = 'journey_instances.workspace_id';
  if (trait === 'expected_next_order_at') {
    return `SELECT cp.expected_next_order_at FROM customer_predictions cp WHERE cp.workspace_id = ${ws} AND cp.user_key = r.user_key`;
  }
  if ((computedTraitKinds as Record<string, string>)[trait] === 'time') {
    return `SELECT ct.${trait} FROM computed_traits ct WHERE ct.workspace_id = ${ws} AND ct.user_key = r.user_key`;
  }
  return `SELECT ${b.toEpochMs(b.jsonText('u.traits', trait))} FROM users u WHERE u.workspace_id = ${ws} AND u.user_key = r.user_key`;
}

/**
 * "Until 10:00 in the person's time zone": the next such instant depends only on the zone, so it
 * is computed once per zone among the arrivals (in JS, DST-exact) and applied in one UPDATE.
 */
async function setLocalTimes(ctx: StepContext, wait: Extract<WaitSpec, { kind: 'local_time' }>): Promise<void> {
  const zones = await ctx.tx.query<{ tz: string | null }>(
    `SELECT DISTINCT u.traits ->> 'timezone' AS tz FROM ready r JOIN users u ON u.workspace_id = $1 AND u.user_key = r.user_key WHERE r.node_state = 0`,
    [ctx.workspaceId],
  );
  const [h, m] = wait.at.split(':').map(Number) as [number, number];
  const weekdays = wait.weekdays?.map((d) => weekdayNames.indexOf(d));
  const fallback = ctx.definition.settings.timezone;
  const names: string[] = [];
  const dues: number[] = [];
  for (const { tz } of zones) {
    const zone = tz && isValidTimeZone(tz) ? tz : fallback;
    names.push(tz ?? '');
    dues.push(nextLocalTime(zone, ctx.now, h * 60 + m, weekdays));
  }
  await ctx.tx.query(
    `UPDATE journey_instances SET node_state = 1, due_at = z.due
     FROM ready r, users u, (SELECT unnest($2::TEXT[]) AS tz, unnest($3::BIGINT[]) AS due) z
     WHERE journey_instances.instance_id = r.instance_id AND r.node_state = 0 AND journey_instances.workspace_id = $1
       AND u.workspace_id = $1 AND u.user_key = r.user_key AND COALESCE(u.traits ->> 'timezone', '') = z.tz`,
    [ctx.workspaceId, names, dues],
  );
}
