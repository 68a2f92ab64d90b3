/**
 * Setup and plain-SQL baselines of the `journeys` benchmark's bulk measurements: people generated
 * inside the database, a published journey entry → send → wait 1d, one million people enrolled
 * through the engine's own admission (`admit`, as the API and segment triggers enrol), and a
 * second set of the same instances for the hand-written baselines.
 */
import type { Progress } from '../src/cli/progress.ts';
import { DAY } from '../src/core/clock.ts';
import { admitCandidates } from '../src/journeys/enroll.ts';
import { createJourney, journeyDefinitionSchema, publishJourney, versionDefinition } from '../src/journeys/index.ts';
import { createTemplate } from '../src/messaging/index.ts';
import { reserveKeys, type Store } from '../src/store/index.ts';
import { GenSql } from './segment-data.ts';

/** Everyone goes through the send node into the outbox, then waits a day; the wait ends the path. */
export const sendJourney = {
  nodes: [
    { id: 'entry', type: 'entry', trigger: { kind: 'api' } },
    { id: 'send', type: 'send', channel: 'email', template: 'spring-sale' },
    { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
  ],
  edges: [
    { from: 'entry', to: 'send' },
    { from: 'send', to: 'wait' },
  ],
};
export const WAIT_MS = DAY;

/** The properties every instance was enrolled with (what an API call would pass). */
export const TRIGGER_PROPS = '{"campaign":"spring-sale","source":"bench"}';

const json = (s: Store) => (s.dialect === 'duckdb' ? 'JSON' : 'JSONB');

/** `users` people (keys 1..users) with a few traits, straight into `users`, 1M rows per statement. */
export async function generatePeople(store: Store, ws: number, users: number, now: number, progress: Progress): Promise<void> {
  const g = new GenSql(store.dialect, 1);
  const chunk = 1_000_000;
  progress.start('generate people', users);
  for (let lo = 0; lo < users; lo += chunk) {
    const hi = Math.min(users, lo + chunk);
    const key = g.str('i + 1');
    const traits = `'{"email":"u' || ${key} || '@example.com","first_name":"' || ${g.pick(['Li', 'Wang', 'Zhang', 'Liu', 'Chen'], 'i')} || '","city":"' || ${g.pick(['Shanghai', 'Beijing', 'Shenzhen'], 'i >> 3')} || '"}'`;
    await store.query(`INSERT INTO users (workspace_id, user_key, created_at, updated_at, merged_into, traits)
      SELECT ${ws}, i + 1, ${now - 30 * DAY}, ${now - 30 * DAY}, NULL, CAST(${traits} AS ${json(store)}) FROM ${g.series(lo, hi)}`);
    progress.update(hi);
  }
  progress.stop();
  await store.query(`UPDATE key_ranges SET next_value = ${users + 1} WHERE name = 'user_key' AND next_value <= ${users}`);
}

/** Creates and publishes the send journey; returns its id. */
export async function publishSendJourney(store: Store, ws: number, now: number): Promise<number> {
  const definition = journeyDefinitionSchema.parse(sendJourney);
  await createTemplate(
    store,
    ws,
    {
      name: 'spring-sale',
      channel: 'email',
      fields: { subject: 'Spring sale', html: '<p>{{ person.traits.firstName | default: "Hi" }}, 20 % off</p>' },
    },
    now,
  );
  const j = await createJourney(store, ws, { name: 'Spring sale (bench)', definition }, now);
  await publishJourney(store, ws, j.journeyId, now);
  return j.journeyId;
}

/**
 * Enrols every person through the engine's admission (re-entry rules, holdout draw, entry guard,
 * `Journey Entered` events), as `POST /api/journeys/{id}/enroll` does for one person: candidates
 * in a temporary table, then `admit`, in one transaction. Returns how many entered.
 */
export async function enrolEveryone(store: Store, ws: number, journeyId: number, now: number): Promise<number> {
  const definition = await versionDefinition(store, ws, journeyId, 1);
  const journey = { journeyId, version: 1, publishedAt: now, entryCursor: null, nextFireAt: null };
  return admitCandidates(store, { workspaceId: ws, journey, definition, now }, (tx) =>
    tx.query(
      `INSERT INTO candidates SELECT user_key, '', 'a.bench.' || CAST(user_key AS TEXT), CAST('${TRIGGER_PROPS}' AS ${json(store)}), NULL, $2
       FROM users WHERE workspace_id = $1 AND merged_into IS NULL`,
      [ws, now],
    ),
  );
}

/**
 * Instances of `journeyId` for every person at the entry node, as `admit` leaves them, written by
 * one plain INSERT … SELECT (no `Journey Entered` events). Returns how many.
 */
export async function insertInstances(store: Store, ws: number, journeyId: number, users: number, now: number): Promise<number> {
  const base = await reserveKeys(store, 'journey_instance', users);
  await store.query(
    `INSERT INTO journey_instances (workspace_id, journey_id, version, instance_id, user_key, instance_key, entry_key, holdout, status,
       node_id, node_state, due_at, entered_at, node_entered_at, step_no, trigger_props, trigger_total)
     SELECT $1, $2, 1, $3 + user_key - 1, user_key, '', 'a.bench.' || CAST(user_key AS TEXT), FALSE, 'active',
       'entry', 0, $4, $4, $4, 0, CAST('${TRIGGER_PROPS}' AS ${json(store)}), NULL
     FROM users WHERE workspace_id = $1 AND merged_into IS NULL AND user_key <= $5`,
    [ws, journeyId, base, now, users],
  );
  const [row] = await store.query<{ n: number }>(
    'SELECT count(*) AS n FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2',
    [ws, journeyId],
  );
  return Number(row?.n ?? 0);
}

/**
 * The baseline's own instances: the same people at the entry node, under a journey id of their
 * own (reserved, with no `journeys` row, so the engine never ticks them).
 */
export async function insertBaselineInstances(store: Store, ws: number, users: number, now: number): Promise<number> {
  const journeyId = await reserveKeys(store, 'journey_id', 1);
  await insertInstances(store, ws, journeyId, users, now);
  return journeyId;
}

/**
 * Baseline of "everyone through the send node": one INSERT INTO outbox … SELECT of the ready
 * instances (same columns, message key and payload as the engine's) and one UPDATE moving them to
 * the wait with their wake-up time, in one transaction. Returns the outbox rows written.
 */
export async function baselineSend(store: Store, ws: number, journeyId: number, now: number): Promise<void> {
  const payload =
    store.dialect === 'duckdb'
      ? `json_object('transactional', FALSE, 'trigger', trigger_props)`
      : `jsonb_build_object('transactional', FALSE, 'trigger', trigger_props)`;
  const ready = `workspace_id = $1 AND journey_id = $2 AND status = 'active' AND node_id = 'entry' AND due_at <= $3`;
  await store.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel, template, payload, status, created_at)
       SELECT $1, 'j${Number(journeyId)}.v1.i' || CAST(instance_id AS TEXT) || '.send.s2', $2, 1, instance_id, 'send', user_key,
         'message', 'email', 'spring-sale', ${payload}, 'queued', $3
       FROM journey_instances WHERE ${ready} AND NOT holdout`,
      [ws, journeyId, now],
    );
    await tx.query(
      `UPDATE journey_instances SET node_id = 'wait', node_state = 1, due_at = $3 + ${WAIT_MS}, node_entered_at = $3, step_no = step_no + 2
       WHERE ${ready}`,
      [ws, journeyId, now],
    );
  });
}

/** Baseline of "the timers due now go on (end of path)": one UPDATE of the due instances. */
export async function baselineTimers(store: Store, ws: number, journeyId: number, now: number): Promise<void> {
  await store.query(
    `UPDATE journey_instances SET status = 'completed', exit_reason = 'end_of_path', exited_at = $3, due_at = NULL, step_no = step_no + 1
     WHERE workspace_id = $1 AND journey_id = $2 AND status = 'active' AND node_id = 'wait' AND due_at <= $3`,
    [ws, journeyId, now],
  );
}

async function count(store: Store, sql: string, params: readonly (number | string)[]): Promise<number> {
  const [row] = await store.query<{ n: number }>(sql, params);
  return Number(row?.n ?? 0);
}

/** Outbox rows of a journey. */
export const outboxRows = (store: Store, ws: number, journeyId: number) =>
  count(store, 'SELECT count(*) AS n FROM outbox WHERE workspace_id = $1 AND journey_id = $2', [ws, journeyId]);

/** Instances of a journey by status and node (e.g. "active@wait", "completed@wait"). */
export async function instanceStates(store: Store, ws: number, journeyId: number): Promise<Record<string, number>> {
  const rows = await store.query<{ status: string; node_id: string | null; n: number }>(
    `SELECT status, node_id, count(*) AS n FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 GROUP BY status, node_id`,
    [ws, journeyId],
  );
  return Object.fromEntries(rows.map((r) => [`${r.status}@${r.node_id}`, Number(r.n)]));
}

/** Before a timed phase: DuckDB writes its WAL into the file; PostgreSQL gets what autovacuum would have done by now. */
export async function settle(store: Store): Promise<void> {
  if (store.dialect === 'duckdb') {
    await store.query('CHECKPOINT');
    return;
  }
  for (const t of ['users', 'journey_instances', 'journey_steps', 'outbox', 'events']) await store.query(`VACUUM (ANALYZE) ${t}`);
}
