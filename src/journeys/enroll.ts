import { bucketSql, saltHash } from '../core/buckets.ts';
import { HOUR } from '../core/clock.ts';
import { eventMatchSql, SqlBuilder } from '../segments/index.ts';
import { type EventsTx, type SqlExecutor, type Store, takeKeys, writingEvents } from '../store/index.ts';
import { waitOnArrival } from './advance.ts';
import type { JourneyDefinition, NodeOf, Trigger } from './definition.ts';
import { collectScheduled } from './schedule-entry.ts';
import { prepareScratchTables } from './scratch.ts';
import { journeyWrites } from './serial.ts';
import { eventKeySql, insertJourneyEvents, type JourneyEvents } from './sql.ts';

/** The journey row fields enrolment reads and moves. */
export interface EntryState {
  journeyId: number;
  version: number;
  publishedAt: number;
  entryCursor: number | null;
  nextFireAt: number | null;
}

export interface EnrollContext {
  store: Store;
  workspaceId: number;
  journey: EntryState;
  definition: JourneyDefinition;
  now: number;
  /** Re-read events received this long before the cursor (a batch may commit late). */
  overlapMs: number;
  /** Events received up to here are all stored: the event cursor moves here. */
  settled: number;
}

export const entryNode = (def: JourneyDefinition) => def.nodes.find((n) => n.type === 'entry') as NodeOf<'entry'>;

/** The event property a keyed journey has one instance per (e.g. order_id), or null when it is not keyed. */
export function triggerKey(def: JourneyDefinition): string | null {
  const trigger = entryNode(def).trigger;
  return 'key' in trigger && trigger.key ? trigger.key : null;
}

/**
 * Enrols whoever the trigger brought since the last tick, in the caller's transaction with the
 * cursor move: candidates into a temporary table (prepareScratchTables made it on this
 * connection), then one INSERT…SELECT applying the re-entry rules, the holdout draw and the entry
 * guard (a unique index on the entry key), so reading a trigger twice never enrols anyone twice.
 * The entrants' `Journey Entered` events go into `carried` when given (see admit). Returns how many entered.
 */
export async function enroll(tx: EventsTx, ctx: EnrollContext, carried?: JourneyEvents[]): Promise<number> {
  const trigger = entryNode(ctx.definition).trigger;
  if (trigger.kind === 'api') return 0;
  return withCandidates(tx, async () => {
    const cursor = await collect(tx, ctx, trigger);
    const { entered } = await admit(tx, ctx, { carried });
    await tx.query('UPDATE journeys SET entry_cursor = $3, next_fire_at = $4 WHERE workspace_id = $1 AND journey_id = $2', [
      ctx.workspaceId,
      ctx.journey.journeyId,
      cursor.entryCursor,
      cursor.nextFireAt,
    ]);
    return entered;
  });
}

/** Runs `fn` with an empty `candidates` table (prepareScratchTables made it on this connection). */
async function withCandidates<T>(tx: SqlExecutor, fn: () => Promise<T>): Promise<T> {
  await tx.query('DELETE FROM candidates');
  return fn();
}

/**
 * Admits the candidates that `fill` writes, in a transaction of its own, under the same rules
 * as any trigger: for entries that come from outside a trigger's cursor (an API call, a load).
 */
export function admitCandidates(
  store: Store,
  ctx: Pick<EnrollContext, 'workspaceId' | 'journey' | 'definition' | 'now'>,
  fill: (tx: SqlExecutor) => Promise<unknown>,
): Promise<number> {
  return journeyWrites(store, () =>
    store.session(async (session) => {
      await prepareScratchTables(session, store.dialect);
      return writingEvents(
        store,
        ctx.workspaceId,
        ctx.now,
        (tx) =>
          withCandidates(tx, async () => {
            await fill(tx);
            return (await admit(tx, { ...ctx, store, overlapMs: 0, settled: ctx.now })).entered;
          }),
        session,
      );
    }),
  );
}

/** Fills `candidates` from the trigger; returns the cursors to store. */
async function collect(
  tx: SqlExecutor,
  ctx: EnrollContext,
  trigger: Exclude<Trigger, { kind: 'api' }>,
): Promise<Pick<EntryState, 'entryCursor' | 'nextFireAt'>> {
  const ws = ctx.workspaceId;
  const j = ctx.journey;
  switch (trigger.kind) {
    case 'segment': {
      const [seg] = await tx.query<{ refresh_no: number }>('SELECT refresh_no FROM segments WHERE workspace_id = $1 AND segment_id = $2', [
        ws,
        trigger.segmentId,
      ]);
      const refreshNo = Number(seg?.refresh_no ?? 0);
      if (j.entryCursor === null) {
        // First run: the current members (if asked), then entries after this refresh.
        if (trigger.existing) {
          await tx.query(
            `INSERT INTO candidates SELECT user_key, '', 's0.' || user_key, NULL, NULL, CAST($3 AS BIGINT) FROM segment_members
             WHERE workspace_id = $1 AND segment_id = $2`,
            [ws, trigger.segmentId, ctx.now],
          );
        }
        return { entryCursor: refreshNo, nextFireAt: null };
      }
      await tx.query(
        `INSERT INTO candidates SELECT user_key, '', 's' || refresh_no || '.' || user_key, NULL, NULL, changed_at FROM segment_changes
         WHERE workspace_id = $1 AND segment_id = $2 AND change = 'entered' AND refresh_no > $3 AND refresh_no <= $4`,
        [ws, trigger.segmentId, j.entryCursor, refreshNo],
      );
      return { entryCursor: refreshNo, nextFireAt: null };
    }
    case 'event': {
      const b = new SqlBuilder(ctx.store.dialect);
      const received = `e.received_at > ${b.param((j.entryCursor ?? ctx.now) - ctx.overlapMs)} AND e.received_at <= ${b.param(ctx.settled)}`;
      await tx.query(`INSERT INTO candidates ${eventCandidatesSql(b, ctx, trigger, received)}`, b.params);
      return { entryCursor: ctx.settled, nextFireAt: null };
    }
    case 'schedule':
      return collectScheduled(tx, ws, trigger, j, ctx.now, ctx.definition.settings.timezone);
    default: {
      const unknown: never = trigger;
      throw new Error(`unknown trigger ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * The trigger's events among those `received` selects (SQL over alias `e`, with `b`'s
 * parameters), as rows of `candidates` with its column names. Events that enrolled someone
 * already (the fast path takes most before a tick re-reads them) are refused by admission's entry
 * guard, not here: an anti-join on the entry key per event is planned as a scan of the journey's
 * instances on PostgreSQL until the table has statistics.
 */
function eventCandidatesSql(
  b: SqlBuilder,
  ctx: Pick<EnrollContext, 'workspaceId' | 'journey' | 'now'>,
  trigger: Extract<Trigger, { kind: 'event' }>,
  received: string,
): string {
  const wsP = b.param(ctx.workspaceId);
  const key = trigger.key ? eventKeySql(b, trigger.key) : "''";
  // Only what happened since the journey started: importing last year's orders must not enrol anyone.
  const startedAt = b.param(ctx.journey.publishedAt - HOUR);
  return `SELECT e.user_key AS user_key, ${key} AS instance_key, 'e.' || e.message_id AS entry_key, e.properties AS trigger_props,
       e.total AS trigger_total, e.ts AS ts
     FROM events e
     WHERE e.workspace_id = ${wsP} AND ${received} AND e.ts >= ${startedAt}
       AND ${eventMatchSql(b, wsP, trigger, ctx.now)}${trigger.key ? ` AND ${key} IS NOT NULL` : ''}`;
}

/** The events of one committed ingest batch, as the fast path hands them over. */
export interface EventBatch {
  messageIds: readonly string[];
  /** Receive times of the batch (lets DuckDB skip row groups without an index on message ids). */
  firstReceivedAt: number;
  lastReceivedAt: number;
}

/**
 * Admits those of `batch` that match the journey's event trigger, in the caller's transaction,
 * without moving the journey's cursor: the next tick re-reads them (and finds them entered), so
 * a batch this misses — a crash before it ran — is still enrolled by a tick. Returns null when
 * the journey is no longer published at `ctx.journey.version` (nothing is admitted then). The
 * entrants' `Journey Entered` events go into `carried`, for the caller to write (see StepContext).
 */
export async function admitEventBatch(
  tx: EventsTx,
  ctx: Omit<EnrollContext, 'overlapMs' | 'settled'>,
  batch: EventBatch,
  carried: JourneyEvents[],
): Promise<Admitted | null> {
  const trigger = entryNode(ctx.definition).trigger;
  if (trigger.kind !== 'event') return null;
  const candidatesSql = (b: SqlBuilder) => {
    const ws = b.param(ctx.workspaceId);
    // The journey's state rides along as a condition (a statement fewer than reading it first).
    const received = `e.received_at >= ${b.param(batch.firstReceivedAt)} AND e.received_at <= ${b.param(batch.lastReceivedAt)}
      AND ${b.inList('e.message_id', batch.messageIds)}
      AND EXISTS (SELECT 1 FROM journeys j WHERE j.workspace_id = ${ws} AND j.journey_id = ${b.param(ctx.journey.journeyId)}
        AND j.version = ${b.param(ctx.journey.version)} AND j.status = 'published')`;
    return eventCandidatesSql(b, ctx, trigger, received);
  };
  const admitted = await admit(
    tx,
    { ...ctx, overlapMs: 0, settled: ctx.now },
    { candidates: { sql: candidatesSql, atMost: batch.messageIds.length }, carried },
  );
  if (admitted.entered > 0) return admitted;
  const [live] = await tx.query(
    `SELECT 1 AS ok FROM journeys WHERE workspace_id = $1 AND journey_id = $2 AND version = $3 AND status = 'published'`,
    [ctx.workspaceId, ctx.journey.journeyId, ctx.journey.version],
  );
  return live ? admitted : null;
}

/** How many entered, and the range of instance ids they may have (new instances have ids in [from, to)). */
export interface Admitted {
  entered: number;
  from: number;
  to: number;
}

export interface AdmitOptions {
  /**
   * Who may enter, as a SELECT with the columns of `candidates` (written with the admission's
   * builder), and a bound on how many: admission reads it as a CTE named `candidates`, which
   * hides the table. An event batch (the fast path) saves filling and emptying the table, two
   * statements of ~1–3 ms each on DuckDB. Without it, the `candidates` table.
   */
  candidates?: { sql: (b: SqlBuilder) => string; atMost: number };
  /** Where the entrants' `Journey Entered` events go, for the caller's next journey events statement. */
  carried?: JourneyEvents[];
}

/**
 * Admits the candidates (re-entry rules, one per key, concurrency cap, holdout draw) and records
 * their entry: its events are written now, or added to `carried` (see AdmitOptions).
 */
export async function admit(tx: EventsTx, ctx: EnrollContext, o: AdmitOptions = {}): Promise<Admitted> {
  const { carried } = o;
  // Candidates whose entry key has not entered yet: a bound on who may enter. A tick re-reads the
  // events the event fast path already enrolled, so this is often 0, and the admission is skipped.
  // An anti-join as LEFT JOIN … IS NULL, as in the admission below (why: there).
  const n =
    o.candidates?.atMost ??
    Number(
      (
        (await tx.query<{ n: number }>(
          `SELECT count(*) AS n FROM candidates c
             LEFT JOIN journey_instances p ON p.workspace_id = $1 AND p.journey_id = $2 AND p.entry_key = c.entry_key
           WHERE p.entry_key IS NULL`,
          [ctx.workspaceId, ctx.journey.journeyId],
        )) as [{ n: number }]
      )[0].n,
    );
  if (n === 0) return { entered: 0, from: 0, to: 0 };
  const { settings } = ctx.definition;
  const keyed = triggerKey(ctx.definition) !== null;
  // From the store, not the transaction: a block outlives it, and PostgreSQL does not hold the counter's lock until commit.
  const base = await takeKeys(ctx.store, 'journey_instance', Number(n));
  const b = new SqlBuilder(ctx.store.dialect);
  const ws = b.param(ctx.workspaceId);
  const jid = b.param(ctx.journey.journeyId);
  const now = b.param(ctx.now);
  const sameInstance = `p.workspace_id = ${ws} AND p.journey_id = ${jid} AND p.user_key = c.user_key AND p.instance_key = c.instance_key`;
  const reentry = settings.reentry;
  const blocking =
    reentry.mode === 'once'
      ? sameInstance
      : reentry.mode === 'after_exit'
        ? `${sameInstance} AND p.status = 'active'`
        : `${sameInstance} AND (p.status = 'active' OR p.entered_at > ${b.param(ctx.now - reentry.days * 86_400_000)})`;
  // Keyed journeys cap a person's instances at once; unkeyed ones need no count: the re-entry
  // rule already refuses anyone with an active instance, and one candidate per person is kept.
  const concurrency = keyed
    ? {
        join: `LEFT JOIN (SELECT a.user_key, count(*) AS n FROM journey_instances a
            WHERE a.workspace_id = ${ws} AND a.journey_id = ${jid} AND a.status = 'active' AND a.user_key IN (SELECT user_key FROM candidates)
            GROUP BY a.user_key) active ON active.user_key = x.user_key`,
        check: `x.per_person + COALESCE(active.n, 0) <= ${b.param(settings.maxConcurrent)}`,
      }
    : { join: '', check: 'x.per_person = 1' };
  const start = startingPoint(ctx.definition, ctx.now);
  const holdout = `${bucketSql('x.user_key', b.param(saltHash(`journey:${ctx.journey.journeyId}`)))} < ${b.param(settings.holdoutPercent)}`;
  // A lone candidate (an event fast path at a few orders a second) is first in every ranking: the
  // same statement without its three window functions, each a pipeline that DuckDB plans and runs.
  const lone = Number(n) === 1;
  const ranks = lone
    ? '0 AS seq, 1 AS per_key, 1 AS per_person'
    : `row_number() OVER (ORDER BY c.ts, c.entry_key) - 1 AS seq,
         row_number() OVER (PARTITION BY c.user_key, c.instance_key ORDER BY c.ts, c.entry_key) AS per_key,
         row_number() OVER (PARTITION BY c.user_key ORDER BY c.ts, c.entry_key) AS per_person`;
  // The blocking rule and the entry key are anti-joins written as LEFT JOIN … IS NULL: DuckDB
  // plans NOT EXISTS as delim joins (a dozen small pipelines), this as two hash joins built on
  // the candidates, whatever the number of instances; PostgreSQL plans both as anti-joins (the
  // column tested for NULL is one the join compares, so only a missing row leaves it NULL).
  // They keep out every entry key that entered, so ON CONFLICT only settles duplicates among the
  // candidates — impossible for a lone one, and for an event batch, whose message ids ingest
  // deduplicated — and entries racing in from another process — impossible on DuckDB, whose one
  // process serialises journey writes (and where ON CONFLICT is a MERGE that groups the rows by
  // key). A lone candidate's admission took 6.5–6.8 ms instead of 14.6–15.8 ms (with 0 and
  // 1,000,000 instances; docs/benchmarks.md, session 16). Should a batch ever hold a key twice, the
  // unique index refuses the statement: the fast path fails and a tick enrols them, with ON CONFLICT.
  const onConflict = (lone || o.candidates) && ctx.store.dialect === 'duckdb' ? '' : 'ON CONFLICT DO NOTHING';
  const given = o.candidates ? `WITH candidates AS (${o.candidates.sql(b)})\n     ` : '';
  const entered = await tx.execute(
    `INSERT INTO journey_instances (workspace_id, journey_id, version, instance_id, user_key, instance_key, entry_key, holdout, status,
       node_id, node_state, due_at, entered_at, node_entered_at, step_no, trigger_props, trigger_total)
     ${given}SELECT ${ws}, ${jid}, ${b.param(ctx.journey.version)}, ${b.param(base)} + x.seq, x.user_key, x.instance_key, x.entry_key, ${holdout}, 'active',
       ${b.param(start.nodeId)}, ${start.state}, ${b.param(start.dueAt)}, x.ts, ${now}, 0, x.trigger_props, x.trigger_total
     FROM (
       SELECT c.*, ${ranks}
       FROM candidates c JOIN users u ON u.workspace_id = ${ws} AND u.user_key = c.user_key AND u.merged_into IS NULL
         LEFT JOIN journey_instances p ON ${blocking}
         LEFT JOIN journey_instances entered ON entered.workspace_id = ${ws} AND entered.journey_id = ${jid} AND entered.entry_key = c.entry_key
       WHERE p.user_key IS NULL AND entered.entry_key IS NULL
     ) x ${concurrency.join}
     WHERE x.per_key = 1 AND ${concurrency.check}
     ${onConflict}`,
    b.params,
  );
  if (entered === 0) return { entered: 0, from: base, to: base + Number(n) };
  // Integers written into the SQL: carried events share a statement with other kinds, and such a statement takes no parameters.
  const [wsId, journeyId, from, to] = [ctx.workspaceId, ctx.journey.journeyId, base, base + Number(n)].map((v) => Math.trunc(Number(v)));
  const fresh = `journey_instances WHERE workspace_id = ${wsId} AND journey_id = ${journeyId} AND instance_id >= ${from} AND instance_id < ${to}`;
  const events: JourneyEvents = {
    name: 'Journey Entered',
    from: `(SELECT user_key, instance_id, instance_key, holdout, version, 'j' || journey_id || '.i' || instance_id || '.enter' AS message_id FROM ${fresh}) x`,
    params: [],
    properties: [
      ['journey_id', String(journeyId)],
      ['version', 'x.version'],
      ['instance_id', 'x.instance_id'],
      ['key', "NULLIF(x.instance_key, '')"],
      ['holdout', 'x.holdout'],
    ],
  };
  if (carried) carried.push(events);
  else await insertJourneyEvents(tx, { dialect: ctx.store.dialect, workspaceId: ctx.workspaceId, now: ctx.now }, [events]);
  return { entered, from: base, to: base + Number(n) };
}

/**
 * Where new instances start: the entry node only passes people on, so they start at the node
 * after it (waiting already, if that is a fixed wait) — one step and one whole-table UPDATE fewer
 * per entry. An entry with nothing after it keeps them, and its step ends them.
 */
export function startingPoint(definition: JourneyDefinition, now: number): { nodeId: string; state: number; dueAt: number } {
  const entry = entryNode(definition);
  const next = definition.edges.find((e) => e.from === entry.id)?.to;
  if (!next) return { nodeId: entry.id, state: 0, dueAt: now };
  const wait = waitOnArrival(definition, next);
  return wait === null ? { nodeId: next, state: 0, dueAt: now } : { nodeId: next, state: 1, dueAt: now + wait };
}
