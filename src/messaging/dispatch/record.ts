import { columnTypes, type Dialect, type SqlExecutor, type SqlParam } from '../../store/index.ts';
import type { ChannelOption, ClaimedMessage } from './types.ts';

/**
 * Writes what the dispatcher decided and what providers answered: many outbox rows per
 * statement (an UPDATE from lists zipped by unnest on DuckDB, from a JSON document on PostgreSQL), and the `Message …` events segments, journeys and
 * reports read, in the same transaction as the status they describe, under deterministic ids.
 */

/** A new state of an outbox row. Omitted fields keep their value; `null` clears reason/next_attempt_at/provider_message_id. */
export interface RowUpdate {
  message_key: string;
  status: string;
  attempts?: number;
  next_attempt_at?: number | null;
  channel?: string;
  template?: string | null;
  payload?: Record<string, unknown>;
  provider?: string;
  address?: string;
  content?: Record<string, unknown>;
  provider_message_id?: string | null;
  reason?: string | null;
  sent_at?: number;
}

type Col = { name: keyof RowUpdate; type: 'text' | 'bigint' | 'int' | 'json'; keep: boolean };
// keep: NULL in the VALUES list means "leave as is" (COALESCE); otherwise the value (or NULL) is written.
const columns: Col[] = [
  { name: 'status', type: 'text', keep: false },
  { name: 'attempts', type: 'int', keep: true },
  { name: 'next_attempt_at', type: 'bigint', keep: false },
  { name: 'channel', type: 'text', keep: true },
  { name: 'template', type: 'text', keep: true },
  { name: 'payload', type: 'json', keep: true },
  { name: 'provider', type: 'text', keep: true },
  { name: 'address', type: 'text', keep: true },
  { name: 'content', type: 'json', keep: true },
  { name: 'provider_message_id', type: 'text', keep: false },
  { name: 'reason', type: 'text', keep: false },
  { name: 'sent_at', type: 'bigint', keep: true },
];

const sets = columns.map((c) => `${c.name} = ${c.keep ? `COALESCE(v.${c.name}, outbox.${c.name})` : `v.${c.name}`}`).join(', ');

export async function updateRows(db: SqlExecutor, dialect: Dialect, workspaceId: number, now: number, rows: RowUpdate[]): Promise<void> {
  if (rows.length === 0) return;
  if (dialect === 'postgres') {
    // The rows as one JSON document, expanded by jsonb_to_recordset: the driver sends one text
    // parameter as is, where list parameters are escaped element by element in JS (a third of the
    // write's CPU). Absent and null fields are both NULL, as below.
    const types = columnTypes.postgres;
    await db.query(
      `UPDATE outbox SET ${sets}, updated_at = $2
       FROM jsonb_to_recordset($3::jsonb) AS v(message_key TEXT, ${columns.map((c) => `${c.name} ${types[c.type]}`).join(', ')})
       WHERE outbox.workspace_id = $1 AND outbox.message_key = v.message_key`,
      [workspaceId, now, JSON.stringify(rows)],
    );
    return;
  }
  // One list parameter per column (text, cast in SQL), zipped by unnest: a handful of parameters
  // whatever the batch size (a VALUES list of 13 parameters per row is slow to bind on DuckDB).
  const types = columnTypes[dialect];
  const params: SqlParam[] = [workspaceId, now, rows.map((r) => r.message_key)];
  const cols = columns.map((c) => {
    params.push(
      rows.map((r) => {
        const v = r[c.name];
        return v === undefined || v === null ? null : c.type === 'json' ? JSON.stringify(v) : String(v);
      }) as string[],
    );
    return `CAST(unnest($${params.length}::${types.text}[]) AS ${types[c.type]}) AS ${c.name}`;
  });
  await db.query(
    `UPDATE outbox SET ${sets}, updated_at = $2
     FROM (SELECT unnest($3::${types.text}[]) AS message_key, ${cols.join(', ')}) AS v
     WHERE outbox.workspace_id = $1 AND outbox.message_key = v.message_key`,
    params,
  );
}

export interface MessageEvent {
  name: 'Message Sent' | 'Message Delivered' | 'Message Failed' | 'Message Clicked' | 'Unsubscribed';
  /** Deterministic: writing the same event twice is refused by the event id, never counted twice. */
  id: string;
  userKey: number;
  properties: Record<string, unknown>;
}

/** What every message event says about its message. */
export function messageProperties(
  m: Pick<ClaimedMessage, 'message_key' | 'journey_id' | 'node_id' | 'instance_id'>,
  option: ChannelOption,
  provider: string,
): Record<string, unknown> {
  return {
    message_key: m.message_key,
    channel: option.channel,
    template: option.template,
    provider,
    journey_id: m.journey_id,
    node_id: m.node_id,
    instance_id: m.instance_id,
  };
}

export async function insertMessageEvents(
  db: SqlExecutor,
  dialect: Dialect,
  workspaceId: number,
  now: number,
  events: MessageEvent[],
): Promise<void> {
  if (events.length === 0) return;
  if (dialect === 'postgres') {
    // As in updateRows: one JSON parameter rather than lists the driver escapes in JS. The unique
    // event id makes a repeat a no-op instead of failing the whole batch (two dispatchers settling
    // the same row after a lease ran out); DuckDB has no such index to name.
    await db.query(
      `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
       SELECT $1, e.id, e."userKey", 'track', e.name, $2, $2, 'messaging', e.properties
       FROM jsonb_to_recordset($3::jsonb) AS e(id TEXT, "userKey" BIGINT, name TEXT, properties JSONB)
       ON CONFLICT DO NOTHING`,
      [workspaceId, now, JSON.stringify(events)],
    );
    return;
  }
  const t = columnTypes[dialect];
  await db.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     SELECT $1, message_id, user_key, 'track', event, $2, $2, 'messaging', CAST(properties AS ${t.json})
     FROM (SELECT unnest($3::${t.text}[]) AS message_id, unnest($4::${t.bigint}[]) AS user_key, unnest($5::${t.text}[]) AS event,
       unnest($6::${t.text}[]) AS properties) AS e`,
    [
      workspaceId,
      now,
      events.map((e) => e.id),
      events.map((e) => e.userKey),
      events.map((e) => e.name),
      events.map((e) => JSON.stringify(e.properties)),
    ],
  );
}
