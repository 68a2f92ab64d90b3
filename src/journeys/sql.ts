import type { EventMatch } from '../segments/index.ts';
import { eventMatchSql, type SqlBuilder } from '../segments/index.ts';
import { type EventsTx, jsonObject } from '../store/index.ts';
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
  if (ctx.keyProperty && match.sameKey !== false) parts.push(`${eventKeySql(b, ctx.keyProperty)} = r.instance_key`);
  return `EXISTS (SELECT 1 FROM events e WHERE ${parts.join(' AND ')})`;
}

export interface JourneyEventRows {
  /** Rows aliased `x` with at least user_key and message_id columns. */
  from: string;
  params: readonly (string | number | boolean | null)[];
  /** (property, SQL over x) pairs of the event's properties. */
  properties: readonly (readonly [string, string])[];
}

/** Journey events of one name (`Journey Step`, `Journey Exited`…) over the rows of `from`. */
export interface JourneyEvents extends JourneyEventRows {
  name: string;
}

/**
 * Writes journey events (entered, step, exited, converted) into the event store, set-at-a-time,
 * so segments and reports can use them like any event. Message ids are deterministic per
 * instance and step, so a step can never be recorded twice. Several kinds go in one statement
 * (a step that moves some people on and ends others' paths): on DuckDB each statement costs
 * milliseconds, whatever its size. Only a single kind may carry parameters. Events the context
 * carries (see StepContext.carried) are written first, in the same statement.
 */
export async function insertJourneyEvents(
  tx: EventsTx,
  ctx: { dialect: StepContext['dialect']; workspaceId: number; now: number; carried?: JourneyEvents[] },
  written: readonly JourneyEvents[],
): Promise<void> {
  const events = [...(ctx.carried?.splice(0) ?? []), ...written];
  if (events.length === 0) return;
  if (events.length > 1 && events.some((e) => e.params.length > 0)) throw new Error('journey events with parameters go one kind at a time');
  const params: (string | number | boolean | null)[] = [
    ...(events.length === 1 ? events[0]!.params : []),
    ctx.workspaceId,
    ctx.now,
    tx.receivedAt,
  ];
  const [ws, now, received] = [params.length - 2, params.length - 1, params.length];
  const selects = events.map((e) => {
    params.push(e.name);
    // Typed: PostgreSQL types an untyped parameter of a UNION as text.
    return `SELECT CAST($${ws} AS INTEGER), x.message_id, x.user_key, 'track', CAST($${params.length} AS TEXT), CAST($${now} AS BIGINT),
       CAST($${received} AS BIGINT), 'journey', ${jsonObject(ctx.dialect, e.properties)}
     FROM ${e.from}`;
  });
  await tx.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     ${selects.join('\n     UNION ALL ')}`,
    params,
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
