import type { ColumnSpec, SqlExecutor, Store } from '../store/index.ts';
import { advisoryLock, columnTypes, takeKeys } from '../store/index.ts';
import { recordMergesAndConflicts } from './identity-records.ts';
import type { NormalizedEvent } from './normalized-event.ts';
import { personRowTables } from './person-tables.ts';
import { type Resolution, resolveIdentities } from './resolve-identities.ts';

export interface WriteResult {
  /** Message ids written by this batch (the others were duplicates). */
  storedIds: Set<string>;
  stored: number;
  duplicates: number;
  merges: number;
  conflicts: number;
  /** When `turn` was given: the receive time the stored events were written with (see writeBatch). */
  receivedAt: number | null;
}

const eventColumns: ColumnSpec[] = [
  { name: 'workspace_id', type: 'int' },
  { name: 'message_id', type: 'text' },
  { name: 'user_key', type: 'bigint' },
  { name: 'type', type: 'text' },
  { name: 'event', type: 'text' },
  { name: 'ts', type: 'bigint' },
  { name: 'received_at', type: 'bigint' },
  { name: 'sent_at', type: 'bigint' },
  { name: 'user_id', type: 'text' },
  { name: 'anonymous_id', type: 'text' },
  { name: 'order_id', type: 'text' },
  { name: 'total', type: 'double' },
  { name: 'currency', type: 'text' },
  { name: 'product_id', type: 'text' },
  { name: 'category', type: 'text' },
  { name: 'source', type: 'text' },
  { name: 'properties', type: 'json' },
  { name: 'context', type: 'json' },
  { name: 'integrations', type: 'json' },
];

const itemColumns: ColumnSpec[] = [
  { name: 'workspace_id', type: 'int' },
  { name: 'message_id', type: 'text' },
  { name: 'user_key', type: 'bigint' },
  { name: 'event', type: 'text' },
  { name: 'ts', type: 'bigint' },
  { name: 'order_id', type: 'text' },
  { name: 'product_id', type: 'text' },
  { name: 'category', type: 'text' },
  { name: 'price', type: 'double' },
  { name: 'quantity', type: 'int' },
];

const userColumns: ColumnSpec[] = [
  { name: 'workspace_id', type: 'int' },
  { name: 'user_key', type: 'bigint' },
  { name: 'created_at', type: 'bigint' },
  { name: 'updated_at', type: 'bigint' },
  { name: 'merged_into', type: 'bigint' },
  { name: 'traits', type: 'json' },
];

const identityColumns: ColumnSpec[] = [
  { name: 'workspace_id', type: 'int' },
  { name: 'type', type: 'text' },
  { name: 'value', type: 'text' },
  { name: 'user_key', type: 'bigint' },
  { name: 'created_at', type: 'bigint' },
];

/** Drops repeated message ids inside the batch (first wins) and those already stored. */
async function dropDuplicates(store: Store, tx: SqlExecutor, workspaceId: number, events: readonly NormalizedEvent[]) {
  const seen = new Set<string>();
  const unique: NormalizedEvent[] = [];
  for (const e of events) {
    if (seen.has(e.messageId)) continue;
    seen.add(e.messageId);
    unique.push(e);
  }
  const stored = await store.messageIds.findStored(tx, workspaceId, [...seen]);
  return stored.size === 0 ? unique : unique.filter((e) => !stored.has(e.messageId));
}

/** Line items that name a product but no category take the catalog's category path. */
async function fillCategoriesFromCatalog(tx: SqlExecutor, workspaceId: number, events: readonly NormalizedEvent[]) {
  const missing = new Set<string>();
  for (const e of events) for (const item of e.items) if (item.category === null) missing.add(item.productId);
  if (missing.size === 0) return;
  const rows = await tx.query<{ product_id: string; category_path: string }>(
    `SELECT product_id, category_path FROM products WHERE workspace_id = $1 AND product_id IN (SELECT unnest($2::text[]))`,
    [workspaceId, [...missing]],
  );
  const byId = new Map(rows.map((r) => [r.product_id, r.category_path]));
  for (const e of events) {
    for (const item of e.items) if (item.category === null) item.category = byId.get(item.productId) ?? null;
    if (e.items.length === 1 && e.category === null) e.category = e.items[0]!.category;
  }
}

/**
 * Moves everything of merged-away people to their survivors, set-at-a-time: one UPDATE per
 * table for all merges of the batch (each is a scan of the table on DuckDB, so never one per
 * merge), then records the merges and conflicts.
 */
async function applyMerges(store: Store, tx: SqlExecutor, workspaceId: number, r: Resolution, now: number) {
  if (r.merges.length > 0) {
    const from = r.merges.map((m) => m.from);
    const into = r.merges.map((m) => m.into);
    const mapping = 'FROM (SELECT unnest($2::bigint[]) AS from_key, unnest($3::bigint[]) AS into_key) m';
    for (const table of personRowTables) {
      await tx.query(
        `UPDATE ${table} SET user_key = m.into_key ${mapping} WHERE ${table}.workspace_id = $1 AND ${table}.user_key = m.from_key`,
        [workspaceId, from, into],
      );
    }
    // The survivor keeps its own traits; a merged person's traits fill the gaps.
    const rows = await tx.query<{ user_key: number; traits: Record<string, unknown> }>(
      'SELECT user_key, traits FROM users WHERE workspace_id = $1 AND user_key IN (SELECT unnest($2::bigint[]))',
      [workspaceId, [...from, ...into]],
    );
    const traits = new Map(rows.map((row) => [row.user_key, row.traits]));
    for (const m of r.merges) traits.set(m.into, { ...(traits.get(m.from) ?? {}), ...(traits.get(m.into) ?? {}) });
    const survivors = [...new Set(into)];
    await tx.query(
      `UPDATE users SET traits = CAST(s.t AS ${columnTypes[store.dialect].json}), updated_at = $4
       FROM (SELECT unnest($2::bigint[]) AS k, unnest($3::text[]) AS t) s
       WHERE users.workspace_id = $1 AND users.user_key = s.k`,
      [workspaceId, survivors, survivors.map((k) => JSON.stringify(traits.get(k) ?? {})), now],
    );
    await tx.query(
      `UPDATE users SET merged_into = m.into_key, updated_at = $4 ${mapping} WHERE users.workspace_id = $1 AND users.user_key = m.from_key`,
      [workspaceId, from, into, now],
    );
  }
  await recordMergesAndConflicts(tx, workspaceId, r, now);
}

/** Merges identify traits into profiles: later events win, per top-level trait. */
async function applyTraits(
  store: Store,
  tx: SqlExecutor,
  workspaceId: number,
  events: readonly NormalizedEvent[],
  userKeys: number[],
  newUsers: Set<number>,
  now: number,
) {
  const patches = new Map<number, Record<string, unknown>>();
  events.forEach((e, i) => {
    if (!e.traits) return;
    const key = userKeys[i]!;
    patches.set(key, { ...(patches.get(key) ?? {}), ...e.traits });
  });
  const newUserTraits = new Map<number, Record<string, unknown>>();
  const existing = [...patches.keys()].filter((k) => !newUsers.has(k));
  for (const k of patches.keys()) if (newUsers.has(k)) newUserTraits.set(k, patches.get(k)!);
  if (existing.length > 0) {
    const current = await tx.query<{ user_key: number; traits: Record<string, unknown> }>(
      'SELECT user_key, traits FROM users WHERE workspace_id = $1 AND user_key IN (SELECT unnest($2::bigint[]))',
      [workspaceId, existing],
    );
    const merged = current.map((c) => ({ key: c.user_key, traits: JSON.stringify({ ...c.traits, ...patches.get(c.user_key) }) }));
    await tx.query(
      `UPDATE users SET traits = CAST(s.t AS ${columnTypes[store.dialect].json}), updated_at = $4
       FROM (SELECT unnest($2::bigint[]) AS k, unnest($3::text[]) AS t) s
       WHERE users.workspace_id = $1 AND users.user_key = s.k`,
      [workspaceId, merged.map((m) => m.key), merged.map((m) => m.traits), now],
    );
  }
  return newUserTraits;
}

/**
 * Writes one batch of one workspace in one transaction: dedupe, identity resolution, events,
 * line items, profile traits. Nothing is acknowledged until this resolves.
 *
 * `requestedAt` dates what the write records (people, identities, merges, the dedupe window).
 * `turn` (live traffic): the events are stamped received when the write's turn comes — on
 * PostgreSQL after the workspace's lock, which a large write or import of another process may hold
 * for long — rather than when the request came. Readers of new events (journey engine, segments,
 * traits) find them by receive time and move their cursors only as far as the turns show committed
 * (SettledEvents, docs/operations.md): events stamped before the turn would commit behind them.
 * What the write records then dates from its turn too.
 */
export async function writeBatch(
  store: Store,
  workspaceId: number,
  batch: readonly NormalizedEvent[],
  requestedAt: number,
  turn?: () => number,
): Promise<WriteResult> {
  let storedIds: string[] = [];
  let resolution: Resolution | null = null;
  const result = await store.transaction(async (tx) => {
    // Several PostgreSQL processes may ingest at once; identity resolution must see one order.
    if (store.dialect === 'postgres') await tx.query(`SELECT pg_advisory_xact_lock(${advisoryLock.identities}, $1)`, [workspaceId]);
    const receivedAt = turn ? turn() : null;
    // Everything this write records (people, identities, merges) dates from its turn too.
    const now = receivedAt ?? requestedAt;
    const events = await dropDuplicates(store, tx, workspaceId, batch);
    if (events.length === 0)
      return { storedIds: new Set<string>(), stored: 0, duplicates: batch.length, merges: 0, conflicts: 0, receivedAt };
    const r = await resolveIdentities(tx, workspaceId, events, store.identityCache, (n) => takeKeys(store, 'user_key', n));
    resolution = r;
    await fillCategoriesFromCatalog(tx, workspaceId, events);
    const newUsers = new Set(r.newUsers);
    const newUserTraits = await applyTraits(store, tx, workspaceId, events, r.userKeys, newUsers, now);
    // New people are never merged away in their own batch (a stored person absorbs them).
    await tx.append(
      'users',
      userColumns,
      r.newUsers.map((k) => [workspaceId, k, now, now, null, newUserTraits.get(k) ?? {}]),
    );
    await tx.append(
      'identities',
      identityColumns,
      r.newIdentities.map((i) => [workspaceId, i.claim.type, i.claim.value, i.userKey, now]),
    );
    await applyMerges(store, tx, workspaceId, r, now);
    await tx.append(
      'events',
      eventColumns,
      events.map((e, i) => [
        workspaceId,
        e.messageId,
        r.userKeys[i],
        e.type,
        e.event,
        e.ts,
        receivedAt === null ? e.receivedAt : Math.max(e.receivedAt, receivedAt),
        e.sentAt,
        e.userId,
        e.anonymousId,
        e.orderId,
        e.total,
        e.currency,
        e.productId,
        e.category,
        e.source,
        e.properties,
        e.context,
        e.integrations,
      ]),
    );
    const items: unknown[][] = [];
    events.forEach((e, i) => {
      for (const it of e.items) {
        items.push([
          workspaceId,
          e.messageId,
          r.userKeys[i],
          e.event ?? e.type,
          e.ts,
          e.orderId,
          it.productId,
          it.category,
          it.price,
          it.quantity,
        ]);
      }
    });
    await tx.append('event_items', itemColumns, items);
    storedIds = events.map((e) => e.messageId);
    return {
      storedIds: new Set(storedIds),
      stored: events.length,
      duplicates: batch.length - events.length,
      merges: r.merges.length,
      conflicts: r.conflicts.length,
      receivedAt,
    };
  });
  // Only after the commit: a failed transaction must not make a retry look like a duplicate,
  // nor leave the cache pointing at people who were never stored.
  if (storedIds.length > 0) store.messageIds.remember(workspaceId, storedIds, result.receivedAt ?? requestedAt);
  const cache = store.identityCache;
  if (cache && resolution) {
    const r: Resolution = resolution;
    for (const m of r.merges) cache.redirect(m.from, m.into);
    for (const [identity, userKey] of r.owners) cache.set(workspaceId, identity, userKey);
    for (const [userKey, userId] of r.userIds) cache.setUserId(userKey, userId);
  }
  return result;
}
