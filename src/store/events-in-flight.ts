import type { Clock } from '../core/clock.ts';
import type { Session, SqlExecutor, Store } from './port.ts';

/**
 * Events that Shopflow writes itself, outside the ingest path — journey steps, message outcomes
 * and clicks, membership moves, coupon states — are stamped received by their writer and become
 * visible when its transaction commits, which may be long after (a bulk journey step over a
 * million people, points earned for a large import). Readers of new events (journey engine,
 * segment refresher, computed traits) find them by `received_at` and move their cursors on; a
 * cursor that passed a stamp before its write committed would never read those events: a journey
 * triggered by `Coupon Redeemed` would not start, a segment on `Journey Step` would miss people.
 *
 * So such a write registers while it is in flight, and readers stop just before the oldest one:
 * - in this process exactly, here (`horizon`). A write registered after a reader moved past the
 *   time its caller took is stamped just after where the reader stopped instead (`begin`), so no
 *   reader has already passed it;
 * - across PostgreSQL processes, by naming the transaction (`SET LOCAL application_name`), which
 *   other processes read in `pg_stat_activity` (eventsSettledAt). What lies between a writer's
 *   stamp and the moment it names its transaction (a statement or two) the readers' overlap covers.
 *
 * Ingest writes do not register: they stamp at their workspace's turn, which readers take (events-settled.ts).
 */
export class EventsInFlight {
  private readonly writing = new Map<number, number[]>();
  private readonly readTo = new Map<number, number>();

  /** Registers a write of events of `workspaceId` taken at `now`; `at` is the receive time to stamp them with. */
  begin(workspaceId: number, now: number): { at: number; end: () => void } {
    const readTo = this.readTo.get(workspaceId);
    const at = readTo === undefined || now > readTo ? now : readTo + 1;
    const stamps = this.writing.get(workspaceId) ?? [];
    stamps.push(at);
    this.writing.set(workspaceId, stamps);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      stamps.splice(stamps.indexOf(at), 1);
      if (stamps.length === 0) this.writing.delete(workspaceId);
    };
    return { at, end };
  }

  /** The oldest write in flight per workspace, in this process. */
  oldest(): { workspaceId: number; since: number }[] {
    return [...this.writing].map(([workspaceId, stamps]) => ({ workspaceId, since: Math.min(...stamps) }));
  }

  /** How far a reader may move its cursor, given how far it could otherwise (`upTo`): just before the oldest write in flight. */
  horizon(workspaceId: number, upTo: number): number {
    const stamps = this.writing.get(workspaceId);
    const horizon = stamps ? Math.min(upTo, Math.min(...stamps) - 1) : upTo;
    this.readTo.set(workspaceId, Math.max(this.readTo.get(workspaceId) ?? horizon, horizon));
    return horizon;
  }
}

/** A transaction registered as writing events outside ingest: they are stamped received at `receivedAt`. */
export interface EventsTx extends SqlExecutor {
  readonly receivedAt: number;
}

const markPrefix = 'shopflow:events';

/**
 * Runs `fn` in a transaction (on `on`, by default a connection of the store's) that may write
 * events outside ingest, registered in flight until it commits or rolls back. `now` is the
 * caller's time; the events must be stamped `tx.receivedAt` (the event writers do).
 */
export async function writingEvents<T>(
  store: Store,
  workspaceId: number,
  now: number,
  fn: (tx: EventsTx) => Promise<T>,
  on: Pick<Session, 'transaction'> = store,
): Promise<T> {
  const write = store.eventsInFlight.begin(workspaceId, now);
  try {
    return await on.transaction(async (tx) => {
      if (store.dialect === 'postgres') {
        // Both are integers of ours; SET takes no parameters.
        await tx.query(`SET LOCAL application_name = '${markPrefix}:${Math.trunc(workspaceId)}:${Math.trunc(write.at)}'`);
      }
      return fn({
        receivedAt: write.at,
        query: (sql, params) => tx.query(sql, params),
        execute: (sql, params) => tx.execute(sql, params),
        append: (table, columns, rows) => tx.append(table, columns, rows),
      });
    });
  } finally {
    write.end();
  }
}

/** PostgreSQL: the oldest receive time of the workspace's event writes in flight in any process (named by writingEvents), or null. */
export async function oldestMarkedWrite(db: SqlExecutor, workspaceId: number): Promise<number | null> {
  const prefix = `${markPrefix}:${Math.trunc(workspaceId)}:`;
  const [row] = await db.query<{ at: number | null }>(
    `SELECT min(CAST(substr(application_name, ${prefix.length + 1}) AS BIGINT)) AS at FROM pg_stat_activity
     WHERE datname = current_database() AND starts_with(application_name, $1)`,
    [prefix],
  );
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

/**
 * Event writes in flight since before `before`, oldest per workspace: in any process (PostgreSQL)
 * or in this one (DuckDB). Each holds back every reader of new events of its workspace until it
 * ends, so one that lasts (a hung transaction, a connection left idle in one) is worth a warning.
 */
export async function eventWritesInFlightSince(store: Store, before: number): Promise<{ workspaceId: number; since: number }[]> {
  if (store.dialect !== 'postgres') return store.eventsInFlight.oldest().filter((w) => w.since < before);
  const rows = await store.query<{ workspace_id: number; since: number }>(
    `SELECT CAST(split_part(application_name, ':', 3) AS INTEGER) AS workspace_id, min(CAST(split_part(application_name, ':', 4) AS BIGINT)) AS since
     FROM pg_stat_activity WHERE datname = current_database() AND starts_with(application_name, $1)
     GROUP BY 1 ORDER BY 1`,
    [`${markPrefix}:`],
  );
  return rows.map((r) => ({ workspaceId: Number(r.workspace_id), since: Number(r.since) })).filter((w) => w.since < before);
}

/**
 * A check to run every few seconds where readers run: calls `warn` once for each event write in
 * flight for longer than `afterMs`, with what it holds back.
 */
export function longEventWriteWarnings(
  store: Store,
  clock: Clock,
  warn: (fields: { workspaceId: number; since: string; seconds: number }, message: string) => void,
  afterMs = 60_000,
): () => Promise<void> {
  let warned = new Set<string>();
  return async () => {
    const now = clock.now();
    const still = new Set<string>();
    for (const w of await eventWritesInFlightSince(store, now - afterMs)) {
      const key = `${w.workspaceId}:${w.since}`;
      still.add(key);
      if (warned.has(key)) continue;
      warn(
        { workspaceId: w.workspaceId, since: new Date(w.since).toISOString(), seconds: Math.round((now - w.since) / 1000) },
        'an event write (journey step, message, membership or coupon events) has been in flight for long: until it ends, the journeys, segments and computed traits of its workspace do not read events received after it began',
      );
    }
    warned = still;
  };
}
