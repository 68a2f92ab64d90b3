import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import { columnTypes, type Store } from '../store/index.ts';
import { admitCandidates, entryNode } from './enroll.ts';
import { requireJourney, versionDefinition } from './journeys-repo.ts';

export interface ApiEntry {
  userKey: number;
  /** Keyed journeys: the instance key (e.g. an order id). */
  key?: string;
  properties?: Record<string, unknown>;
  total?: number;
  /** The same key twice enrols once (retries are safe). */
  idempotencyKey?: string;
}

/** Enrols one person through an API-triggered journey, under the same rules as any trigger. */
export async function enrollViaApi(store: Store, workspaceId: number, journeyId: number, entry: ApiEntry, now: number) {
  const j = await requireJourney(store, workspaceId, journeyId);
  if (j.status !== 'published')
    throw new AppError('conflict', `journey ${journeyId} is ${j.status}; only a published journey takes entries`, 'id');
  const definition = await versionDefinition(store, workspaceId, journeyId, j.version);
  const trigger = entryNode(definition).trigger;
  if (trigger.kind !== 'api')
    throw new AppError('conflict', `journey ${journeyId} is entered by its ${trigger.kind} trigger, not through the API`, 'id');
  // The key is `key`, or the keyed property of `properties` (e.g. properties.order_id).
  const fromProperties = trigger.key ? entry.properties?.[trigger.key] : undefined;
  const key = entry.key ?? (typeof fromProperties === 'string' || typeof fromProperties === 'number' ? String(fromProperties) : undefined);
  if (trigger.key && !key)
    throw new AppError('invalid_request', `this journey is keyed by ${trigger.key}: give key or properties.${trigger.key}`, 'key');
  if (!trigger.key && entry.key) throw new AppError('invalid_request', 'this journey is not keyed: leave out key', 'key');
  const entryKey = `a.${entry.idempotencyKey ?? randomUUID()}`;
  const journey = { journeyId, version: j.version, publishedAt: j.publishedAt ?? now, entryCursor: null, nextFireAt: null };
  const entered = await admitCandidates(store, { workspaceId, journey, definition, now }, (tx) =>
    tx.query(`INSERT INTO candidates VALUES ($1, $2, $3, CAST($4 AS ${columnTypes[store.dialect].json}), $5, $6)`, [
      entry.userKey,
      key ?? '',
      entryKey,
      JSON.stringify(entry.properties ?? {}),
      entry.total ?? null,
      now,
    ]),
  );
  const [row] = await store.query<{ instance_id: number }>(
    'SELECT instance_id FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 AND entry_key = $3',
    [workspaceId, journeyId, entryKey],
  );
  return { entered: entered > 0, instanceId: row ? Number(row.instance_id) : null };
}
