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
