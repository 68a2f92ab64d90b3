import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBMaterializedResult,
  DuckDBResultReader,
  ResultReturnType,
} from '@duckdb/node-api';
import { AppError } from '../../core/errors.ts';
import { ConnectionSetup } from '../connection-setup.ts';
import { jsonRecords } from '../dialect.ts';
import { EventsInFlight } from '../events-in-flight.ts';
import { IdentityCache } from '../identity-cache.ts';
import type { ColumnSpec, Row, Session, SqlExecutor, SqlParam, Store } from '../port.ts';
import { bindParams } from './bind.ts';
import { columnLiteral, inlineParams } from './inline.ts';
import { MessageIdWindow } from './message-window.ts';

export interface DuckDbOptions {
  /** Path of the database file, or ':memory:'. */
  file: string;
  /** Days of message ids kept for dedupe. */
  dedupeDays: number;
  /** identity → person entries kept in memory (about 100 bytes each). */
  identityCacheEntries?: number;
  /** Connections in the pool; each runs one statement at a time. */
  connections?: number;
  /** DuckDB worker threads (default: DuckDB's own, one per core). */
  threads?: number;
}

/** A tiny exclusive-use pool: DuckDB connections must not run two statements at once. */
class ConnectionPool {
  private readonly idle: DuckDBConnection[] = [];
  private readonly waiting: ((c: DuckDBConnection) => void)[] = [];

  constructor(connections: DuckDBConnection[]) {
    this.idle.push(...connections);
  }

  async use<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const conn = this.idle.pop() ?? (await new Promise<DuckDBConnection>((r) => this.waiting.push(r)));
    try {
      return await fn(conn);
    } finally {
      const next = this.waiting.shift();
      if (next) next(conn);
      else this.idle.push(conn);
    }
  }

  all(): DuckDBConnection[] {
    return this.idle;
  }
}

function readRows<T>(reader: DuckDBResultReader): T[] {
  const types = reader.columnTypes();
  const names = reader.columnNames();
  const jsonColumns = names.filter((_, i) => types[i]?.alias === 'JSON');
  const rows = reader.getRowObjectsJS() as Record<string, unknown>[];
  for (const row of rows) {
    for (const key of names) {
      const v = row[key];
      if (typeof v === 'bigint') row[key] = Number(v);
    }
    for (const key of jsonColumns) {
      const v = row[key];
      if (typeof v === 'string') row[key] = JSON.parse(v);
    }
  }
  return rows as T[];
}

async function run(conn: DuckDBConnection, sql: string, params: readonly SqlParam[] = []): Promise<DuckDBMaterializedResult> {
  const inlined = params.length === 0 ? sql : inlineParams(sql, params);
  if (inlined !== null) return conn.run(inlined);
  const { values, types } = bindParams(params);
  return conn.run(sql, values, types);
}

async function runQuery<T>(conn: DuckDBConnection, sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
  const result = await run(conn, sql, params);
  // INSERT/UPDATE/DELETE without RETURNING answer a row count: no rows, as on PostgreSQL, and no
  // fetch round trips for it.
  if (result.returnType !== ResultReturnType.QUERY_RESULT) return [];
  const reader = new DuckDBResultReader(result);
  await reader.readAll();
  return readRows<T>(reader);
}

/** Up to this many rows, an append is an INSERT of literals, up to `smallAppend` one from JSON (see appendRows). */
const literalAppend = 4;
const smallAppend = 64;

/** `INSERT … VALUES` of typed literals, or null when a value is too long to write into SQL (see columnLiteral). */
function literalInsert(table: string, columns: readonly ColumnSpec[], rows: readonly (readonly unknown[])[]): string | null {
  const tuples: string[] = [];
  for (const row of rows) {
    const values: string[] = [];
    for (let i = 0; i < columns.length; i++) {
      const l = columnLiteral(row[i], columns[i]!.type);
      if (l === null) return null;
      values.push(l);
    }
    tuples.push(`(${values.join(', ')})`);
  }
  return `INSERT INTO ${table} (${columns.map((c) => c.name).join(', ')}) VALUES ${tuples.join(', ')}`;
}

async function appendRows(conn: DuckDBConnection, table: string, columns: readonly ColumnSpec[], rows: readonly (readonly unknown[])[]) {
  if (rows.length === 0) return;
  // An appender's close flushes into the table (indexes included) on the JS thread: profiled at a
  // fifth of the event loop with 100 small ingest batches a second. A few rows go in as one
  // INSERT instead, which DuckDB runs off the JS thread; many rows keep the faster appender. A
  // lone event's rows (what a browser sends, one event a request) go in as literals: a one-row
  // `events` insert took 1.6–2.0 ms against 2.2–2.8 ms through from_json, whose plan costs more;
  // from about eight rows on, parsing the literals costs more than that (docs/benchmarks.md, session 17).
  const literals = rows.length <= literalAppend ? literalInsert(table, columns, rows) : null;
  if (literals !== null) {
    await conn.run(literals);
    return;
  }
  if (rows.length <= smallAppend) {
    const records = rows.map((row) =>
      Object.fromEntries(
        columns.map((c, i) => {
          const v = row[i];
          return [c.name, c.type === 'json' && typeof v === 'string' ? JSON.parse(v) : v === undefined ? null : v];
        }),
      ),
    );
    const names = columns.map((c) => c.name);
    const from = jsonRecords(
      'duckdb',
      1,
      columns.map((c) => [c.name, c.type] as const),
      'r',
    );
    await runQuery(conn, `INSERT INTO ${table} (${names.join(', ')}) SELECT ${names.map((n) => `r.${n}`).join(', ')} FROM ${from}`, [
      JSON.stringify(records),
    ]);
    return;
  }
  const appender = await conn.createAppender(table);
  try {
    for (const row of rows) {
      for (let i = 0; i < columns.length; i++) {
        const v = row[i];
        if (v === null || v === undefined) {
          appender.appendNull();
          continue;
        }
        const type = columns[i]!.type;
        switch (type) {
          case 'text':
            appender.appendVarchar(String(v));
            break;
          case 'json':
            appender.appendVarchar(typeof v === 'string' ? v : JSON.stringify(v));
            break;
          case 'bigint':
            appender.appendBigInt(BigInt(v as number));
            break;
          case 'int':
            appender.appendInteger(v as number);
            break;
          case 'double':
            appender.appendDouble(v as number);
            break;
          case 'bool':
            appender.appendBoolean(v as boolean);
            break;
          default: {
            const never: never = type;
            throw new Error(`unknown column type ${never}`);
          }
        }
      }
      appender.endRow();
    }
  } finally {
    appender.closeSync();
  }
}

async function runExecute(conn: DuckDBConnection, sql: string, params?: readonly SqlParam[]): Promise<number> {
  return Number((await run(conn, sql, params)).rowsChanged);
}

function executorFor(conn: DuckDBConnection): SqlExecutor {
  return {
    query: <T extends Row>(sql: string, params?: readonly SqlParam[]) => runQuery<T>(conn, sql, params),
    execute: (sql, params) => runExecute(conn, sql, params),
    append: (table, columns, rows) => appendRows(conn, table, columns, rows),
  };
}

const setup = new ConnectionSetup<DuckDBConnection>();

async function inTransaction<T>(conn: DuckDBConnection, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  await conn.run('BEGIN TRANSACTION');
  try {
    const result = await fn(executorFor(conn));
    await conn.run('COMMIT');
    return result;
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => {});
    setup.forget(conn);
    throw err;
  }
}

function sessionFor(conn: DuckDBConnection): Session {
  return {
    ...executorFor(conn),
    transaction: (fn) => inTransaction(conn, fn),
    once: (sql) => setup.once(conn, sql, (s) => conn.run(s)),
  };
}

/** Opens (creating if needed) the embedded DuckDB store. Refuses if another process holds the file. */
export async function openDuckDbStore(options: DuckDbOptions): Promise<Store> {
  const file = options.file === ':memory:' ? ':memory:' : resolve(options.file);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  let instance: DuckDBInstance;
  try {
    // A larger WAL before checkpointing: ingestion commits every few milliseconds, and each
    // checkpoint rewrites changed row groups (measured ~25 % of write time at the 16 MB default).
    instance = await DuckDBInstance.create(file, {
      checkpoint_threshold: '256MB',
      ...(options.threads ? { threads: String(options.threads) } : {}),
    });
  } catch (err) {
    const message = String((err as Error).message ?? err);
    if (/lock/i.test(message)) {
      const pid = /PID (\d+)/.exec(message)?.[1];
      throw new AppError(
        'store_locked',
        `The DuckDB store ${file} is already open in another process${pid ? ` (PID ${pid})` : ''}. ` +
          'DuckDB allows one writing process per file: stop that process, or run Shopflow on PostgreSQL ' +
          '(--store postgres://…) to use several processes.',
      );
    }
    throw err;
  }
  const conns: DuckDBConnection[] = [];
  for (let i = 0; i < (options.connections ?? 4); i++) {
    const conn = await instance.connect();
    // Dates without a zone (a trait "1990-05-01") are read as UTC, as in JavaScript and on PostgreSQL.
    await conn.run("SET TimeZone = 'UTC'");
    conns.push(conn);
  }
  const pool = new ConnectionPool(conns);
  const messageIds = new MessageIdWindow(options.dedupeDays);

  const store: Store = {
    dialect: 'duckdb',
    location: file,
    messageIds,
    eventsInFlight: new EventsInFlight(),
    identityCache: new IdentityCache(options.identityCacheEntries ?? 5_000_000),
    query: (sql, params) => pool.use((c) => runQuery(c, sql, params)),
    execute: (sql, params) => pool.use((c) => runExecute(c, sql, params)),
    append: (table, columns, rows) => pool.use((c) => appendRows(c, table, columns, rows)),
    transaction: (fn) => pool.use((c) => inTransaction(c, fn)),
    session: (fn) => pool.use((c) => fn(sessionFor(c))),
    // One process per file: its jobs are woken in memory.
    notify: async () => {},
    listen: async () => {},
    async close() {
      for (const c of pool.all()) c.closeSync();
      instance.closeSync();
    },
  };
  return store;
}
