import type { IdentityType } from '../core/identities.ts';
import type { Store } from '../store/index.ts';

export interface PersonEvent {
  messageId: string;
  type: string;
  event: string | null;
  timestamp: string;
  receivedAt: string;
  properties: Record<string, unknown> | null;
}

export interface Person {
  userKey: number;
  identities: { type: IdentityType; value: string }[];
  traits: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  /** Computed traits and predictions (null until the first computed-traits refresh), e.g. lifecycle, rfm_score, p_alive. */
  computed: Record<string, unknown> | null;
  /** Segments the person is currently in. */
  segments: { segmentId: number; name: string; enteredAt: string }[];
  events: PersonEvent[];
}

/**
 * Finds a person by any identity (default: their userId) and returns identities, traits and the
 * most recent events. A person who was merged into another resolves to the survivor.
 */
export async function getPerson(
  store: Store,
  workspaceId: number,
  lookup: { type: IdentityType; value: string },
  eventLimit: number,
): Promise<Person | null> {
  const [hit] = await store.query<{ user_key: number }>(
    'SELECT user_key FROM identities WHERE workspace_id = $1 AND type = $2 AND value = $3',
    [workspaceId, lookup.type, lookup.value],
  );
  if (!hit) return null;
  const userKey = hit.user_key;
  const [user] = await store.query<{ traits: Record<string, unknown>; created_at: number; updated_at: number }>(
    'SELECT traits, created_at, updated_at FROM users WHERE workspace_id = $1 AND user_key = $2',
    [workspaceId, userKey],
  );
  const identities = await store.query<{ type: IdentityType; value: string }>(
    'SELECT type, value FROM identities WHERE workspace_id = $1 AND user_key = $2 ORDER BY type, value',
    [workspaceId, userKey],
  );
  const events = await store.query<{
    message_id: string;
    type: string;
    event: string | null;
    ts: number;
    received_at: number;
    properties: Record<string, unknown> | null;
  }>(
    `SELECT message_id, type, event, ts, received_at, properties FROM events
     WHERE workspace_id = $1 AND user_key = $2 ORDER BY ts DESC, received_at DESC LIMIT $3`,
    [workspaceId, userKey, eventLimit],
  );
  const segments = await store.query<{ segment_id: number; name: string; entered_at: number }>(
    `SELECT s.segment_id, s.name, m.entered_at FROM segment_members m
     JOIN segments s ON s.workspace_id = m.workspace_id AND s.segment_id = m.segment_id
     WHERE m.workspace_id = $1 AND m.user_key = $2 ORDER BY s.segment_id`,
    [workspaceId, userKey],
  );
  return {
    userKey,
    identities,
    traits: user?.traits ?? {},
    createdAt: new Date(user?.created_at ?? 0).toISOString(),
    updatedAt: new Date(user?.updated_at ?? 0).toISOString(),
    computed: await computedTraitsOf(store, workspaceId, userKey),
    segments: segments.map((m) => ({
      segmentId: Number(m.segment_id),
      name: m.name,
      enteredAt: new Date(Number(m.entered_at)).toISOString(),
    })),
    events: events.map((e) => ({
      messageId: e.message_id,
      type: e.type,
      event: e.event,
      timestamp: new Date(e.ts).toISOString(),
      receivedAt: new Date(e.received_at).toISOString(),
      properties: e.properties,
    })),
  };
}

/**
 * A person's computed traits and predictions as one flat record (what segments, journeys and
 * templates see), or null when neither has been computed yet.
 */
export async function computedTraitsOf(store: Store, workspaceId: number, userKey: number): Promise<Record<string, unknown> | null> {
  const [traits] = await store.query('SELECT * FROM computed_traits WHERE workspace_id = $1 AND user_key = $2', [workspaceId, userKey]);
  const [predictions] = await store.query('SELECT * FROM customer_predictions WHERE workspace_id = $1 AND user_key = $2', [
    workspaceId,
    userKey,
  ]);
  if (!traits && !predictions) return null;
  const { workspace_id: _w, user_key: _k, computed_at: traitsAt, ...rest } = traits ?? {};
  const { workspace_id: _w2, user_key: _k2, computed_at: predictedAt, ...predicted } = predictions ?? {};
  return { ...rest, ...predicted, traits_computed_at: traitsAt ?? null, predictions_computed_at: predictedAt ?? null };
}

export interface MergeAuditEntry {
  fromUserKey: number;
  intoUserKey: number;
  via: { type: string; value: string };
  messageId: string;
  mergedAt: string;
}

export interface ConflictEntry {
  type: string;
  value: string;
  ownerUserKey: number;
  claimantUserKey: number;
  resolution: string;
  messageId: string;
  recordedAt: string;
}

/** The merge audit trail and recorded conflicts that involve a person. */
export async function identityHistory(store: Store, workspaceId: number, userKey: number) {
  const merges = await store.query<{
    from_user_key: number;
    into_user_key: number;
    via_type: string;
    via_value: string;
    message_id: string;
    merged_at: number;
  }>(`SELECT * FROM identity_merges WHERE workspace_id = $1 AND (from_user_key = $2 OR into_user_key = $2) ORDER BY merged_at`, [
    workspaceId,
    userKey,
  ]);
  const conflicts = await store.query<{
    type: string;
    value: string;
    owner_user_key: number;
    claimant_user_key: number;
    resolution: string;
    message_id: string;
    recorded_at: number;
  }>(`SELECT * FROM identity_conflicts WHERE workspace_id = $1 AND (owner_user_key = $2 OR claimant_user_key = $2) ORDER BY recorded_at`, [
    workspaceId,
    userKey,
  ]);
  return {
    merges: merges.map<MergeAuditEntry>((m) => ({
      fromUserKey: m.from_user_key,
      intoUserKey: m.into_user_key,
      via: { type: m.via_type, value: m.via_value },
      messageId: m.message_id,
      mergedAt: new Date(m.merged_at).toISOString(),
    })),
    conflicts: conflicts.map<ConflictEntry>((c) => ({
      type: c.type,
      value: c.value,
      ownerUserKey: c.owner_user_key,
      claimantUserKey: c.claimant_user_key,
      resolution: c.resolution,
      messageId: c.message_id,
      recordedAt: new Date(c.recorded_at).toISOString(),
    })),
  };
}
