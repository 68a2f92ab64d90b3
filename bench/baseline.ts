/**
 * The "plain hand-written SQL" baselines: the same rows written the simplest fast way each
 * engine offers, into plain tables with the same columns and types but no indexes, no dedupe,
 * no identity resolution. Only the writes are timed; building the rows is not.
 */
import { join } from 'node:path';
import { type DuckDBAppender, DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import type { Engine } from './bench-store.ts';

type ColType = 'int' | 'bigint' | 'text' | 'double' | 'json';
const eventCols: [string, ColType][] = [
  ['workspace_id', 'int'],
  ['message_id', 'text'],
  ['user_key', 'bigint'],
  ['type', 'text'],
  ['event', 'text'],
  ['ts', 'bigint'],
  ['received_at', 'bigint'],
  ['sent_at', 'bigint'],
  ['user_id', 'text'],
  ['anonymous_id', 'text'],
  ['order_id', 'text'],
  ['total', 'double'],
  ['currency', 'text'],
  ['product_id', 'text'],
  ['category', 'text'],
  ['source', 'text'],
  ['properties', 'json'],
  ['context', 'json'],
  ['integrations', 'json'],
];
const itemCols: [string, ColType][] = [
  ['workspace_id', 'int'],
  ['message_id', 'text'],
  ['user_key', 'bigint'],
  ['event', 'text'],
  ['ts', 'bigint'],
  ['order_id', 'text'],
  ['product_id', 'text'],
  ['category', 'text'],
  ['price', 'double'],
  ['quantity', 'int'],
];

/** Rows of `events` and `event_items`, values in column order (JSON columns as text). */
export interface PlainRows {
  events: unknown[][];
  items: unknown[][];
}

const str = (v: unknown) => (typeof v === 'string' ? v : null);
const num = (v: unknown) => (typeof v === 'number' ? v : null);

/** A hand-written mapping of one Segment event to plain rows (no validation). */
export function plainRowsOf(raw: Record<string, unknown>, userKey: number, workspaceId: number, receivedAt: number, out: PlainRows): void {
  const props = (raw.properties ?? null) as Record<string, unknown> | null;
  const lines = (Array.isArray(props?.products) ? props.products : props?.product_id ? [props] : []) as Record<string, unknown>[];
  const ts = Date.parse(String(raw.timestamp));
  const name = str(raw.event) ?? str(raw.name);
  const messageId = String(raw.messageId);
  out.events.push([
    workspaceId,
    messageId,
    userKey,
    raw.type,
    name,
    ts,
    receivedAt,
    receivedAt,
    str(raw.userId),
    str(raw.anonymousId),
    str(props?.order_id),
    num(props?.total),
    str(props?.currency),
    lines.length === 1 ? str(lines[0]?.product_id) : null,
    lines.length === 1 ? str(lines[0]?.category) : null,
    'api',
    props ? JSON.stringify(props) : null,
    raw.context ? JSON.stringify(raw.context) : null,
    null,
  ]);
  for (const l of lines) {
    out.items.push([
      workspaceId,
      messageId,
      userKey,
      name ?? String(raw.type),
      ts,
      str(props?.order_id),
      str(l.product_id),
      str(l.category),
      num(l.price),
      num(l.quantity) ?? 1,
    ]);
  }
}

function appendRow(a: DuckDBAppender, cols: [string, ColType][], row: unknown[]) {
  for (let i = 0; i < cols.length; i++) {
    const v = row[i];
    if (v === null || v === undefined) {
      a.appendNull();
      continue;
    }
    const t = cols[i]![1];
    if (t === 'text' || t === 'json') a.appendVarchar(v as string);
    else if (t === 'bigint') a.appendBigInt(BigInt(v as number));
    else if (t === 'int') a.appendInteger(v as number);
    else a.appendDouble(v as number);
  }
  a.endRow();
}

const ddl = (table: string, cols: [string, ColType][], types: Record<ColType, string>) =>
  `CREATE TABLE ${table} (${cols.map(([n, t]) => `${n} ${types[t]}`).join(', ')})`;

/** DuckDB: one appender per table into a fresh database file in `dir`. Returns timed seconds. */
async function duckdbBaseline(dir: string, chunks: Iterable<PlainRows>): Promise<number> {
  const instance = await DuckDBInstance.create(join(dir, 'baseline.duckdb'));
  const conn = await instance.connect();
  const types: Record<ColType, string> = { int: 'INTEGER', bigint: 'BIGINT', text: 'VARCHAR', double: 'DOUBLE', json: 'JSON' };
  await conn.run(ddl('plain_events', eventCols, types));
  await conn.run(ddl('plain_event_items', itemCols, types));
  let ms = 0;
  let t = performance.now();
  const ev = await conn.createAppender('plain_events');
  const it = await conn.createAppender('plain_event_items');
  ms += performance.now() - t;
  for (const chunk of chunks) {
    t = performance.now();
    for (const r of chunk.events) appendRow(ev, eventCols, r);
    for (const r of chunk.items) appendRow(it, itemCols, r);
    ms += performance.now() - t;
  }
  t = performance.now();
  ev.closeSync();
  it.closeSync();
  await conn.run('CHECKPOINT');
  ms += performance.now() - t;
  conn.closeSync();
  instance.closeSync();
  return ms / 1000;
}

/** One INSERT … SELECT FROM unnest($1::type[], …) per chunk and table, as plain as it gets. */
function unnestInsert(table: string, cols: [string, ColType][]): string {
  const pgArray: Record<ColType, string> = { int: 'int[]', bigint: 'bigint[]', text: 'text[]', double: 'float8[]', json: 'text[]' };
  const names = cols.map(([n]) => n).join(', ');
  const selects = cols.map(([n, t]) => (t === 'json' ? `${n}::jsonb` : n)).join(', ');
  const args = cols.map(([, t], i) => `$${i + 1}::${pgArray[t]}`).join(', ');
  return `INSERT INTO ${table} (${names}) SELECT ${selects} FROM unnest(${args}) AS u(${names})`;
}

/** PostgreSQL: multi-row INSERT via unnest, one statement (autocommit) per chunk and table. */
async function postgresBaseline(url: string, chunks: Iterable<PlainRows>): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const types: Record<ColType, string> = { int: 'INTEGER', bigint: 'BIGINT', text: 'TEXT', double: 'DOUBLE PRECISION', json: 'JSONB' };
    await client.query(ddl('plain_events', eventCols, types));
    await client.query(ddl('plain_event_items', itemCols, types));
    const insertEvents = unnestInsert('plain_events', eventCols);
    const insertItems = unnestInsert('plain_event_items', itemCols);
    const columns = (rows: unknown[][], n: number) => Array.from({ length: n }, (_, i) => rows.map((r) => r[i]));
    let ms = 0;
    for (const chunk of chunks) {
      const ev = columns(chunk.events, eventCols.length);
      const it = columns(chunk.items, itemCols.length);
      const t = performance.now();
      await client.query(insertEvents, ev);
      if (chunk.items.length > 0) await client.query(insertItems, it);
      ms += performance.now() - t;
    }
    return ms / 1000;
  } finally {
    await client.end();
  }
}

/** Writes the chunks with the engine's plain baseline; returns the seconds spent writing. */
export function plainWrite(engine: Engine, target: { dir: string; pgUrl: string | null }, chunks: Iterable<PlainRows>): Promise<number> {
  if (engine === 'duckdb') return duckdbBaseline(target.dir, chunks);
  if (!target.pgUrl) throw new Error('postgres baseline needs a URL');
  return postgresBaseline(target.pgUrl, chunks);
}
