/**
 * The storage port: the only thing the rest of Shopflow knows about a database. Two adapters
 * implement it (embedded DuckDB and PostgreSQL). SQL is shared between them wherever the two
 * dialects agree ($n parameters, ON CONFLICT, unnest of array parameters); the few places where
 * they differ are named in `dialect.ts`.
 */
import type { EventsInFlight } from './events-in-flight.ts';
import type { IdentityCache } from './identity-cache.ts';

export type Dialect = 'duckdb' | 'postgres';

/** Values a query may bind. Arrays bind as SQL arrays (use with `unnest($n::text[])`). */
export type SqlParam = string | number | boolean | null | readonly string[] | readonly number[];

export type ColumnType = 'text' | 'bigint' | 'int' | 'double' | 'bool' | 'json';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
}

export type Row = Record<string, unknown>;

export interface SqlExecutor {
  /** Runs one statement; BIGINT values come back as JS numbers (epoch ms and keys fit in 2^53). */
  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** Runs one INSERT, UPDATE or DELETE and answers how many rows it wrote (a count for free, where a SELECT would be a statement more). */
  execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /** Appends many rows in one go (DuckDB appender / one multi-row INSERT on PostgreSQL). */
  append(table: string, columns: readonly ColumnSpec[], rows: readonly (readonly unknown[])[]): Promise<void>;
}

/**
 * Remembers which message ids a workspace has stored, for the ingestion dedupe window.
 * PostgreSQL answers from a unique index; DuckDB (one writing process per file) keeps an
 * exact in-memory window rebuilt from the events table when the store opens.
 */
export interface MessageIdIndex {
  /** Which of `ids` are already stored. Called inside the write transaction. */
  findStored(tx: SqlExecutor, workspaceId: number, ids: readonly string[]): Promise<Set<string>>;
  /** Called after a commit with the ids it stored. */
  remember(workspaceId: number, ids: readonly string[], receivedAt: number): void;
  /**
   * Called after an import committed events it wrote set-at-a-time: `eventsSql` selects their
   * `message_id` and `ts`, all received at `receivedAt`. An index kept in memory learns them.
   */
  rememberStored(db: SqlExecutor, workspaceId: number, eventsSql: string, receivedAt: number): Promise<void>;
  /** Called once the schema is current, before the first write. */
  warm(db: SqlExecutor, now: number): Promise<void>;
}

/** One connection held for a while: temporary tables live as long as it, statements autocommit. */
export interface Session extends SqlExecutor {
  /** Runs `fn` in one transaction on this session's connection. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs a setup statement (e.g. `CREATE TEMP TABLE …`) once per underlying connection: later
   * sessions on the same connection skip it. A rolled-back transaction on the connection forgets
   * what was set up, in case it was undone with it.
   */
  once(sql: string): Promise<void>;
}

/**
 * Work another process may take at once instead of at its next tick: new events for the journey
 * engine, queued messages for the dispatcher (`serve --role`, docs/operations.md).
 */
export type WakeChannel = 'shopflow_new_events' | 'shopflow_queued_messages';

export interface Store extends SqlExecutor {
  readonly dialect: Dialect;
  /** identity → person cache; only where one process writes (DuckDB), else null. */
  readonly identityCache: IdentityCache | null;
  /** Human-readable location, e.g. the DuckDB file path or the PostgreSQL host/database. */
  readonly location: string;
  readonly messageIds: MessageIdIndex;
  /** Event writes outside ingest in flight in this process (writingEvents), which readers of new events wait for. */
  readonly eventsInFlight: EventsInFlight;
  /** Runs `fn` in one transaction; commits if it resolves, rolls back if it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs `fn` with a connection of its own (e.g. to stage a bulk load in temporary tables). */
  session<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /**
   * Wakes the processes listening on `channel` (PostgreSQL NOTIFY; notices sent while one is on its
   * way fold into one more). DuckDB has one process, whose jobs are woken in memory: a no-op there.
   */
  notify(channel: WakeChannel): Promise<void>;
  /**
   * Calls `onNotice` whenever some process notifies `channel` (PostgreSQL LISTEN on a connection of
   * its own, re-established if it drops; meanwhile the jobs' ticks find the work). A no-op on DuckDB.
   */
  listen(channel: WakeChannel, onNotice: () => void): Promise<void>;
  close(): Promise<void>;
}
