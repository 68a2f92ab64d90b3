import type { SqlExecutor } from './port.ts';

/**
 * Reserves `count` consecutive keys of a named counter and returns the first. One statement for
 * any number of keys: DuckDB's `nextval` costs about 60 µs per row, which made key allocation
 * the largest cost of an ingest batch full of new people. Reserved keys that a rolled-back batch
 * never used are simply skipped (keys need to be unique, not dense).
 *
 * Called outside the write transaction where possible, so PostgreSQL holds the counter's row
 * lock only for this statement.
 */
export async function reserveKeys(
  db: SqlExecutor,
  name: 'user_key' | 'segment_id' | 'journey_id' | 'journey_instance',
  count: number,
): Promise<number> {
  // DuckDB cannot prepare UPDATE … RETURNING, so the (checked) values are written inline.
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`cannot reserve ${count} keys`);
  const [row] = await db.query<{ first: number }>(
    `UPDATE key_ranges SET next_value = next_value + ${count} WHERE name = '${name}' RETURNING next_value - ${count} AS first`,
  );
  if (!row) throw new Error(`no key range named ${name}`);
  return Number(row.first);
}

/** Keys reserved ahead, per store handle and counter: [next, end), and the reservation under way. */
const reservedAhead = new WeakMap<SqlExecutor, Map<string, { next: number; end: number; refill: Promise<void> | null }>>();

/**
 * Like reserveKeys, but taken from a block reserved ahead for this store handle: one counter
 * UPDATE per `block` keys instead of one per call, for paths that need a few keys often (an
 * ingest batch with a new person, a fast-path admission; on DuckDB that UPDATE was a statement
 * each). Callers that find the block empty wait for one reservation (on DuckDB, two UPDATEs of
 * the counter row at once would conflict). Keys this process never hands out are skipped, like those of a
 * rolled-back batch. `store` must not be a transaction: the block outlives it.
 */
export async function takeKeys(store: SqlExecutor, name: 'user_key' | 'journey_instance', count: number, block = 1_000): Promise<number> {
  let byName = reservedAhead.get(store);
  if (!byName) {
    byName = new Map();
    reservedAhead.set(store, byName);
  }
  let h = byName.get(name);
  if (!h) {
    h = { next: 0, end: 0, refill: null };
    byName.set(name, h);
  }
  const held = h;
  while (held.end - held.next < count) {
    held.refill ??= (async () => {
      const size = Math.max(count, block);
      const first = await reserveKeys(store, name, size);
      held.next = first;
      held.end = first + size;
    })().finally(() => {
      held.refill = null;
    });
    await held.refill;
  }
  const first = held.next;
  held.next += count;
  return first;
}
