import { z } from 'zod';
import { AppError, type ErrorBody, issuesToErrors } from '../core/errors.ts';
import { requireSegment } from '../segments/index.ts';
import { reserveKeys, type SqlExecutor, type Store, writingEvents } from '../store/index.ts';
import { type JourneyDefinition, journeyDefinitionSchema, type Trigger } from './definition.ts';
import { graphProblems } from './graph.ts';
import { referenceProblems, segmentsRead } from './references.ts';
import { firstFireAt } from './schedule-entry.ts';
import { journeyWrites } from './serial.ts';
import { exitProperties, insertJourneyEvents } from './sql.ts';

export const journeyStatuses = ['draft', 'published', 'paused', 'archived'] as const;
export type JourneyStatus = (typeof journeyStatuses)[number];

export const journeyInputSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).optional(),
  definition: journeyDefinitionSchema,
});
export type JourneyInput = z.infer<typeof journeyInputSchema>;

export interface Journey {
  journeyId: number;
  name: string;
  description: string | null;
  status: JourneyStatus;
  /** Latest published version (0: never published). New entries use it; people inside stay on theirs. */
  version: number;
  /** The definition being edited (equal to the latest version once published). */
  definition: JourneyDefinition;
  createdAt: number;
  updatedAt: number;
  publishedAt: number | null;
}

type JourneyRow = {
  journey_id: number;
  name: string;
  description: string | null;
  status: JourneyStatus;
  draft: unknown;
  version: number;
  created_at: number;
  updated_at: number;
  published_at: number | null;
};

const toJourney = (r: JourneyRow): Journey => ({
  journeyId: Number(r.journey_id),
  name: r.name,
  description: r.description,
  status: r.status,
  version: Number(r.version),
  definition: journeyDefinitionSchema.parse(typeof r.draft === 'string' ? JSON.parse(r.draft) : r.draft),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  publishedAt: r.published_at === null ? null : Number(r.published_at),
});

const columns = 'journey_id, name, description, status, draft, version, created_at, updated_at, published_at';

export async function listJourneys(db: SqlExecutor, workspaceId: number): Promise<Journey[]> {
  const rows = await db.query<JourneyRow>(
    `SELECT ${columns} FROM journeys WHERE workspace_id = $1 AND status <> 'archived' ORDER BY journey_id`,
    [workspaceId],
  );
  return rows.map(toJourney);
}

/**
 * What each journey that is not archived may still run: its definition (a draft's, or the latest
 * version's) and every older version people are still inside, since an edit leaves them on theirs.
 * What these name must not be deleted, archived or changed under them.
 */
export async function definitionsInUse(
  db: SqlExecutor,
  workspaceId: number,
): Promise<{ journey: Journey; definitions: JourneyDefinition[] }[]> {
  const journeys = await listJourneys(db, workspaceId);
  const older = await db.query<{ journey_id: number; version: number }>(
    `SELECT DISTINCT i.journey_id, i.version FROM journey_instances i
       JOIN journeys j ON j.workspace_id = i.workspace_id AND j.journey_id = i.journey_id AND i.version <> j.version
     WHERE i.workspace_id = $1 AND i.status = 'active'`,
    [workspaceId],
  );
  return Promise.all(
    journeys.map(async (journey) => {
      const versions = older.filter((r) => Number(r.journey_id) === journey.journeyId).map((r) => Number(r.version));
      const definitions = await Promise.all(versions.map((v) => versionDefinition(db, workspaceId, journey.journeyId, v)));
      return { journey, definitions: [journey.definition, ...definitions] };
    }),
  );
}

/** The journeys, archived ones aside, that read segment `segmentId` (entry, condition, recommendation) in a definition in use. */
export async function journeysReadingSegment(db: SqlExecutor, workspaceId: number, segmentId: number): Promise<Journey[]> {
  return (await definitionsInUse(db, workspaceId))
    .filter(({ definitions }) => definitions.some((d) => d.nodes.some((n) => segmentsRead(n).includes(segmentId))))
    .map(({ journey }) => journey);
}

export async function requireJourney(db: SqlExecutor, workspaceId: number, journeyId: number): Promise<Journey> {
  const [row] = await db.query<JourneyRow>(`SELECT ${columns} FROM journeys WHERE workspace_id = $1 AND journey_id = $2`, [
    workspaceId,
    journeyId,
  ]);
  if (!row) throw new AppError('not_found', `no journey ${journeyId}`, 'id');
  return toJourney(row);
}

export async function createJourney(store: Store, workspaceId: number, input: JourneyInput, now: number): Promise<Journey> {
  const journeyId = await reserveKeys(store, 'journey_id', 1);
  await store.query(
    `INSERT INTO journeys (workspace_id, journey_id, name, description, status, draft, version, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'draft', $5, 0, $6, $6)`,
    [workspaceId, journeyId, input.name, input.description ?? null, JSON.stringify(input.definition), now],
  );
  return requireJourney(store, workspaceId, journeyId);
}

/** Everything that stops a definition from running, at once: graph problems and what it names that is missing. */
export async function publishProblems(store: Store, workspaceId: number, def: JourneyDefinition) {
  return [...graphProblems(def), ...(await referenceProblems(store, workspaceId, def))];
}

function refuse(problems: ReturnType<typeof graphProblems>, action: 'published' | 'resumed' = 'published'): never {
  throw new AppError('invalid_request', `the journey cannot be ${action}: ${problems[0]!.message}`, problems[0]!.path, problems);
}

/**
 * Saves an edit. A draft just changes; a running (or paused) journey gets a new published
 * version: new entries use it, people already inside finish on the version they entered.
 */
export function updateJourney(store: Store, workspaceId: number, journeyId: number, input: JourneyInput, now: number): Promise<Journey> {
  return journeyWrites(store, async () => {
    const current = await requireJourney(store, workspaceId, journeyId);
    if (current.status === 'archived') throw new AppError('conflict', `journey ${journeyId} is archived`, 'id');
    if (current.status !== 'draft') {
      const problems = await publishProblems(store, workspaceId, input.definition);
      if (problems.length > 0) refuse(problems);
    }
    await store.transaction(async (tx) => {
      await tx.query(
        `UPDATE journeys SET name = $3, description = $4, draft = $5, updated_at = $6 WHERE workspace_id = $1 AND journey_id = $2`,
        [workspaceId, journeyId, input.name, input.description ?? null, JSON.stringify(input.definition), now],
      );
      if (current.status !== 'draft') await publishVersion(store, tx, workspaceId, current, input.definition, now);
    });
    return requireJourney(store, workspaceId, journeyId);
  });
}

/** Validates the draft and starts the journey (first version), or publishes the draft as a new version. */
export function publishJourney(store: Store, workspaceId: number, journeyId: number, now: number): Promise<Journey> {
  return journeyWrites(store, async () => {
    const j = await requireJourney(store, workspaceId, journeyId);
    if (j.status === 'archived') throw new AppError('conflict', `journey ${journeyId} is archived`, 'id');
    const problems = await publishProblems(store, workspaceId, j.definition);
    if (problems.length > 0) refuse(problems);
    await store.transaction((tx) => publishVersion(store, tx, workspaceId, j, j.definition, now));
    return requireJourney(store, workspaceId, journeyId);
  });
}

let statusChanges = 0;
/**
 * How many times this process has published, paused, resumed or archived a journey: the event
 * fast path keeps the list of published journeys while this stays the same (and for at most a
 * second, for changes made by other processes on PostgreSQL).
 */
export const journeyStatusChanges = () => statusChanges;

const triggerOf = (def: JourneyDefinition): Trigger | undefined => def.nodes.find((n) => n.type === 'entry')?.trigger;

/**
 * Makes `def` the next version, inside the caller's transaction. The version number comes from
 * the UPDATE (which on PostgreSQL also locks the row), so two publishes can never claim the same one.
 */
async function publishVersion(store: Store, tx: SqlExecutor, workspaceId: number, j: Journey, def: JourneyDefinition, now: number) {
  // Inline integers: DuckDB cannot prepare UPDATE … RETURNING.
  const [bumped] = await tx.query<{ version: number }>(
    `UPDATE journeys SET version = version + 1 WHERE workspace_id = ${Number(workspaceId)} AND journey_id = ${Number(j.journeyId)} RETURNING version`,
  );
  const version = Number(bumped!.version);
  const trigger = triggerOf(def)!;
  // Cursors start fresh when the journey first runs or its trigger changes; otherwise entry carries on.
  const previous = version > 1 ? triggerOf(await versionDefinition(store, workspaceId, j.journeyId, version - 1)) : undefined;
  const restart = JSON.stringify(previous) !== JSON.stringify(trigger);
  await tx.query('INSERT INTO journey_versions (workspace_id, journey_id, version, definition, published_at) VALUES ($1, $2, $3, $4, $5)', [
    workspaceId,
    j.journeyId,
    version,
    JSON.stringify(def),
    now,
  ]);
  const status = j.status === 'paused' ? 'paused' : 'published';
  const sets = ['status = $3', 'published_at = COALESCE(published_at, $4)', 'updated_at = $4'];
  const params: (number | string | null)[] = [workspaceId, j.journeyId, status, now];
  if (restart) {
    params.push(trigger.kind === 'event' ? now : null, trigger.kind === 'schedule' ? firstFireAt(trigger, now) : null);
    sets.push('entry_cursor = $5', 'next_fire_at = $6', 'events_watermark = COALESCE(events_watermark, $4)');
  }
  await tx.query(`UPDATE journeys SET ${sets.join(', ')} WHERE workspace_id = $1 AND journey_id = $2`, params);
  statusChanges++;
}

/**
 * Pauses or resumes. While paused nobody enters and nobody moves; at resume, waits that came due
 * go on, goals reached meanwhile still count, but triggers that fired meanwhile (events, segment
 * entries, schedule runs) do not enrol anyone: a pause is the operator's stop button.
 * Resuming checks what the running version names, as publishing does: a journey published before
 * those checks existed may send a template that is gone, and would fail every such message.
 */
export function setJourneyRunning(store: Store, workspaceId: number, journeyId: number, running: boolean, now: number): Promise<Journey> {
  return journeyWrites(store, async () => {
    const j = await requireJourney(store, workspaceId, journeyId);
    const from = running ? 'paused' : 'published';
    if (j.status !== from) throw new AppError('conflict', `journey ${journeyId} is ${j.status}, not ${from}`, 'id');
    const sets = ['status = $3', 'updated_at = $4'];
    const params: (number | string | null)[] = [workspaceId, journeyId, running ? 'published' : 'paused', now];
    if (running) {
      const definition = await versionDefinition(store, workspaceId, journeyId, j.version);
      const problems = await referenceProblems(store, workspaceId, definition);
      if (problems.length > 0) refuse(problems, 'resumed');
      const trigger = triggerOf(definition)!;
      const cursor = await triggerCursorNow(store, workspaceId, trigger, now);
      params.push(cursor.entryCursor, cursor.nextFireAt);
      sets.push('entry_cursor = COALESCE($5, entry_cursor)', 'next_fire_at = $6');
    }
    await store.query(`UPDATE journeys SET ${sets.join(', ')} WHERE workspace_id = $1 AND journey_id = $2`, params);
    statusChanges++;
    return requireJourney(store, workspaceId, journeyId);
  });
}

/**
 * Running and paused journeys, in every workspace, that name a template, campaign or segment that
 * is missing (or a template of another channel): in their current version, what publishing and
 * resuming refuse, or in an older version people are still inside (its problems say which). Only a
 * store written before those checks can hold one; `serve` names them at start, so an operator
 * learns of them before their messages fail one by one.
 */
export async function journeysWithProblems(
  store: Store,
): Promise<{ workspaceId: number; journeyId: number; name: string; status: string; problems: ErrorBody[] }[]> {
  const rows = await store.query<{ workspace_id: number; journey_id: number; name: string; status: string; version: number }>(
    "SELECT workspace_id, journey_id, name, status, version FROM journeys WHERE status IN ('published', 'paused') ORDER BY workspace_id, journey_id",
  );
  const older = await store.query<{ workspace_id: number; journey_id: number; version: number }>(
    `SELECT DISTINCT i.workspace_id, i.journey_id, i.version FROM journey_instances i
       JOIN journeys j ON j.workspace_id = i.workspace_id AND j.journey_id = i.journey_id AND i.version <> j.version
     WHERE i.status = 'active' AND j.status IN ('published', 'paused') ORDER BY i.version`,
  );
  const found = [];
  for (const r of rows) {
    const [workspaceId, journeyId] = [Number(r.workspace_id), Number(r.journey_id)];
    const problemsOf = async (version: number) =>
      referenceProblems(store, workspaceId, await versionDefinition(store, workspaceId, journeyId, version));
    const problems = await problemsOf(Number(r.version));
    for (const o of older) {
      if (Number(o.workspace_id) !== workspaceId || Number(o.journey_id) !== journeyId) continue;
      const version = Number(o.version);
      for (const p of await problemsOf(version)) problems.push({ ...p, message: `version ${version} (people still inside): ${p.message}` });
    }
    if (problems.length > 0) found.push({ workspaceId, journeyId, name: r.name, status: r.status, problems });
  }
  return found;
}

/** Entry cursors that skip everything the trigger brought before `now`. */
async function triggerCursorNow(store: Store, workspaceId: number, trigger: Trigger, now: number) {
  switch (trigger.kind) {
    case 'event':
      return { entryCursor: now, nextFireAt: null };
    case 'segment':
      return { entryCursor: (await requireSegment(store, workspaceId, trigger.segmentId)).refreshNo, nextFireAt: null };
    case 'schedule':
      return { entryCursor: now, nextFireAt: firstFireAt(trigger, now) };
    case 'api':
      return { entryCursor: null, nextFireAt: null };
    default: {
      const unknown: never = trigger;
      throw new Error(`unknown trigger ${JSON.stringify(unknown)}`);
    }
  }
}

const definitions = new WeakMap<Store | SqlExecutor, Map<string, JourneyDefinition>>();

/** A published version's definition (versions never change, so they are cached). */
export async function versionDefinition(
  db: SqlExecutor,
  workspaceId: number,
  journeyId: number,
  version: number,
): Promise<JourneyDefinition> {
  let cache = definitions.get(db);
  if (!cache) {
    cache = new Map();
    definitions.set(db, cache);
  }
  const key = `${workspaceId}/${journeyId}/${version}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const [row] = await db.query<{ definition: unknown }>(
    'SELECT definition FROM journey_versions WHERE workspace_id = $1 AND journey_id = $2 AND version = $3',
    [workspaceId, journeyId, version],
  );
  if (!row) throw new AppError('not_found', `journey ${journeyId} has no version ${version}`, 'version');
  const def = journeyDefinitionSchema.parse(typeof row.definition === 'string' ? JSON.parse(row.definition) : row.definition);
  cache.set(key, def);
  return def;
}

/** Validation for the API's dry run: schema and graph problems, all at once. */
export async function validateJourney(store: Store, workspaceId: number, body: unknown) {
  const parsed = journeyDefinitionSchema.safeParse(body);
  if (!parsed.success) return issuesToErrors(parsed.error.issues, ['definition']);
  return publishProblems(store, workspaceId, parsed.data);
}

/** Archives a journey: it stops, and everyone still inside leaves (reason `archived`). */
export function archiveJourney(store: Store, workspaceId: number, journeyId: number, now: number): Promise<void> {
  return journeyWrites(store, async () => {
    await requireJourney(store, workspaceId, journeyId);
    await writingEvents(store, workspaceId, now, async (tx) => {
      const active = `journey_instances WHERE workspace_id = $1 AND journey_id = $2 AND status = 'active'`;
      await insertJourneyEvents(tx, { dialect: store.dialect, workspaceId, now }, [
        {
          name: 'Journey Exited',
          from: `(SELECT user_key, instance_id, node_id, 'j' || journey_id || '.i' || instance_id || '.exit' AS message_id FROM ${active}) x`,
          params: [workspaceId, journeyId],
          properties: exitProperties(journeyId, "'archived'"),
        },
      ]);
      await tx.query(
        `UPDATE journey_instances SET status = 'exited', exit_reason = 'archived', exited_at = $3, due_at = NULL
      WHERE workspace_id = $1 AND journey_id = $2 AND status = 'active'`,
        [workspaceId, journeyId, now],
      );
      await tx.query(`UPDATE journeys SET status = 'archived', updated_at = $3 WHERE workspace_id = $1 AND journey_id = $2`, [
        workspaceId,
        journeyId,
        now,
      ]);
    });
    statusChanges++;
  });
}
