import { type Dialect, type EventsTx, jsonRecords, type SqlExecutor } from '../../store/index.ts';
import type { ChannelOption, ClaimedMessage } from './types.ts';

/**
 * Writes what the dispatcher decided and what providers answered: many outbox rows per
 * statement (from one JSON document parameter), and the `Message …` events segments, journeys and
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
// keep: an absent or null field means "leave as is" (COALESCE); otherwise the value (or NULL) is written.
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

/**
 * One UPDATE for many rows, from a JSON document of the updates. Only the columns some update of
 * the batch names are written, plus the ones an omission clears: an outcome batch (status, provider
 * id, reason) leaves the attempt's content and address alone, which on DuckDB halves the write.
 * With `onlyFrom`, only rows whose status is still that are written. Returns how many were.
 */
export async function updateRows(
  db: SqlExecutor,
  dialect: Dialect,
  workspaceId: number,
  now: number,
  rows: RowUpdate[],
  onlyFrom?: string,
): Promise<number> {
  if (rows.length === 0) return 0;
  const written = columns.filter((c) => !c.keep || rows.some((r) => r[c.name] !== undefined && r[c.name] !== null));
  const sets = written.map((c) => `${c.name} = ${c.keep ? `COALESCE(v.${c.name}, outbox.${c.name})` : `v.${c.name}`}`);
  const fields = jsonRecords(dialect, 3, [['message_key', 'text'], ...written.map((c) => [c.name, c.type] as const)], 'v');
  return db.execute(
    `UPDATE outbox SET ${sets.join(', ')}, updated_at = $2 FROM ${fields}
     WHERE outbox.workspace_id = $1 AND outbox.message_key = v.message_key${onlyFrom === undefined ? '' : ' AND outbox.status = $4'}`,
    [workspaceId, now, JSON.stringify(rows), ...(onlyFrom === undefined ? [] : [onlyFrom])],
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
  db: EventsTx,
  dialect: Dialect,
  workspaceId: number,
  now: number,
  events: MessageEvent[],
): Promise<void> {
  if (events.length === 0) return;
  // The unique event id makes a repeat a no-op on PostgreSQL instead of failing the whole batch
  // (two dispatchers settling the same row after a lease ran out); DuckDB has no such index to name
  // and one dispatcher process.
  const rows = events.map((e) => ({ message_id: e.id, user_key: e.userKey, event: e.name, properties: e.properties }));
  const fields = jsonRecords(
    dialect,
    3,
    [
      ['message_id', 'text'],
      ['user_key', 'bigint'],
      ['event', 'text'],
      ['properties', 'json'],
    ],
    'e',
  );
  await db.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, source, properties)
     SELECT $1, e.message_id, e.user_key, 'track', e.event, $2, $4, 'messaging', e.properties FROM ${fields}
     ${dialect === 'postgres' ? 'ON CONFLICT DO NOTHING' : ''}`,
    [workspaceId, now, JSON.stringify(rows), db.receivedAt],
  );
}
