import type { Store } from '../store/index.ts';
import { compileSegment } from './compile.ts';
import type { Condition } from './definition.ts';

/** What a list of people shows: the key, the main identities and the traits. */
export interface MemberView {
  userKey: number;
  userId: string | null;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
  enteredAt?: number;
}

/** Identities and traits for a few people (a sample or one page of members). */
export async function describePeople(store: Store, workspaceId: number, userKeys: readonly number[]): Promise<Map<number, MemberView>> {
  const out = new Map<number, MemberView>();
  if (userKeys.length === 0) return out;
  const keys = [...userKeys];
  const people = await store.query<{ user_key: number; traits: Record<string, unknown> | string }>(
    'SELECT user_key, traits FROM users WHERE workspace_id = $1 AND user_key IN (SELECT unnest($2::BIGINT[]))',
    [workspaceId, keys],
  );
  for (const p of people) {
    const traits = typeof p.traits === 'string' ? (JSON.parse(p.traits) as Record<string, unknown>) : p.traits;
    out.set(Number(p.user_key), { userKey: Number(p.user_key), userId: null, email: null, phone: null, traits });
  }
  const identities = await store.query<{ user_key: number; type: string; value: string }>(
    `SELECT user_key, type, min(value) AS value FROM identities
     WHERE workspace_id = $1 AND user_key IN (SELECT unnest($2::BIGINT[])) AND type IN ('user_id', 'email', 'phone')
     GROUP BY user_key, type`,
    [workspaceId, keys],
  );
  for (const i of identities) {
    const view = out.get(Number(i.user_key));
    if (!view) continue;
    if (i.type === 'user_id') view.userId = i.value;
    else if (i.type === 'email') view.email = i.value;
    else if (i.type === 'phone') view.phone = i.value;
  }
  return out;
}

export interface Estimate {
  size: number;
  sample: MemberView[];
  /** The SQL that ran (as the operator's definition compiled for this engine). */
  sql: string;
}

/**
 * Size and a sample of a draft definition, without saving anything: one query counts the
 * members and returns the first few (a window count over the matches, then a top-N), so an
 * editor can call it on every change.
 */
export async function estimateSegment(
  store: Store,
  workspaceId: number,
  definition: Condition,
  now: number,
  sampleSize = 10,
): Promise<Estimate> {
  const compiled = compileSegment(definition, { dialect: store.dialect, workspaceId, now });
  const rows = await store.query<{ user_key: number; size: number }>(
    `SELECT m.user_key, count(*) OVER () AS size FROM (${compiled.sql}) m ORDER BY m.user_key LIMIT ${Math.max(1, Math.trunc(sampleSize))}`,
    compiled.params,
  );
  const size = rows.length > 0 ? Number(rows[0]!.size) : 0;
  const views = await describePeople(
    store,
    workspaceId,
    rows.map((r) => Number(r.user_key)),
  );
  return { size, sample: rows.map((r) => views.get(Number(r.user_key))!).filter(Boolean), sql: compiled.sql };
}

/** One page of current members, by person key (pass the last key of a page as `after`). */
export async function listMembers(
  store: Store,
  workspaceId: number,
  segmentId: number,
  page: { after?: number; limit: number },
): Promise<{ members: MemberView[]; next: number | null }> {
  const rows = await store.query<{ user_key: number; entered_at: number }>(
    `SELECT user_key, entered_at FROM segment_members WHERE workspace_id = $1 AND segment_id = $2 AND user_key > $3
     ORDER BY user_key LIMIT ${Math.trunc(page.limit) + 1}`,
    [workspaceId, segmentId, page.after ?? -1],
  );
  const more = rows.length > page.limit;
  const pageRows = rows.slice(0, page.limit);
  const views = await describePeople(
    store,
    workspaceId,
    pageRows.map((r) => Number(r.user_key)),
  );
  const members = pageRows.map((r) => ({ ...views.get(Number(r.user_key))!, enteredAt: Number(r.entered_at) }));
  return { members, next: more ? Number(pageRows[pageRows.length - 1]!.user_key) : null };
}

export interface SegmentChange {
  refreshNo: number;
  userKey: number;
  change: 'entered' | 'exited';
  at: number;
}

/**
 * Entries and exits after a cursor, oldest first: how journeys (and integrations) follow a
 * segment. The cursor is the last change read (refresh number, person key); a person enters or
 * exits at most once per refresh, so the pair is unique.
 */
export async function listChanges(
  store: Store,
  workspaceId: number,
  segmentId: number,
  page: { afterRefresh: number; afterUserKey?: number; limit: number },
): Promise<SegmentChange[]> {
  const rows = await store.query<{ refresh_no: number; user_key: number; change: 'entered' | 'exited'; changed_at: number }>(
    `SELECT refresh_no, user_key, change, changed_at FROM segment_changes
     WHERE workspace_id = $1 AND segment_id = $2 AND (refresh_no > $3 OR (refresh_no = $3 AND user_key > $4))
     ORDER BY refresh_no, user_key LIMIT ${Math.trunc(page.limit)}`,
    [workspaceId, segmentId, page.afterRefresh, page.afterUserKey ?? Number.MAX_SAFE_INTEGER],
  );
  return rows.map((r) => ({ refreshNo: Number(r.refresh_no), userKey: Number(r.user_key), change: r.change, at: Number(r.changed_at) }));
}
