import type { EventMatch } from '../segments/index.ts';
import { eventMatchSql, type SqlBuilder } from '../segments/index.ts';
import { jsonObject, type SqlExecutor } from '../store/index.ts';
import type { StepContext } from './step-context.ts';

/** The key of an event row (alias `e`) for a keyed journey; order_id reads its typed column. */
export function eventKeySql(b: SqlBuilder, keyProperty: string): string {
  return keyProperty === 'order_id' ? 'e.order_id' : b.jsonText('e.properties', keyProperty);
}

/**
 * "A matching event of the instance's person since `sinceColumn`" for alias `r` (an instance
 * row): names and filters, and for keyed journeys with `sameKey` the same key.
 */
export function instanceEventSql(
  b: SqlBuilder,
  ctx: StepContext,
  match: EventMatch & { sameKey?: boolean },
  sinceColumn: string,
  extra: string[] = [],
): string {
  const ws = b.param(ctx.workspaceId);
  const parts = [
    `e.workspace_id = ${ws}`,
    `e.user_key = r.user_key`,
    `e.ts >= ${sinceColumn}`,
    eventMatchSql(b, ws, match, ctx.now),
    ...extra,
  ];
  if (ctx.keyed && ctx.keyProperty && match.sameKey !== false) parts.push(`${eventKeySql(b, ctx.keyProperty)} = r.instance_key`);
  return `EXISTS (SELECT 1 FROM events e WHERE ${parts.join(' AND ')})`;
}

export interface JourneyEventRows {
  /** Rows aliased `x` with at least user_key and message_id columns. */
  from: string;
  params: readonly (string | number | boolean | null)[];
  /** (property, SQL over x) pairs of the event's properties. */
  properties: readonly (readonly [string, string])[];
}

/**
 * Writes journey events (entered, step, exited, converted) into the event store, set-at-a-time,
 * so segments and reports can use them like any event. Message ids are deterministic per
 * instance and step, so a step can never be recorded twice.
 */
export async function insertJourneyEvents(
  tx: SqlExecutor,
  ctx: { dialect: StepContext['dialect']; workspaceId: number; now: number },
  name: string,
  rows: JourneyEventRows,
): Promise<void> {
  const n = rows.params.length;
  await tx.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     SELECT $${n + 1}, x.message_id, x.user_key, 'track', $${n + 2}, $${n + 3}, $${n + 3}, 'journey', ${jsonObject(ctx.dialect, rows.properties)}
     FROM ${rows.from}`,
    [...rows.params, ctx.workspaceId, name, ctx.now],
  );
}

/** Properties of a `Journey Exited` event over x (user_key, instance_id, node_id); `reason` is SQL. */
export function exitProperties(journeyId: number, reason: string): [string, string][] {
  return [
    ['journey_id', String(Number(journeyId))],
    ['instance_id', 'x.instance_id'],
    ['node_id', 'x.node_id'],
    ['reason', reason],
  ];
}
