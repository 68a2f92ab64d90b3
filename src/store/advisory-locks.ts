import type { Store } from './port.ts';

/**
 * The classes of PostgreSQL advisory locks (their first key; the second is a workspace or journey
 * id), in one list so that no two uses share a class by accident: a lock taken for one job would
 * silently make another wait or skip its turn. DuckDB has one writing process and needs none.
 */
export const advisoryLock = {
  /** Schema migrations (second key 0): processes starting together apply them one at a time. */
  migrations: 7000,
  /** Identity resolution of an ingest batch or import, per workspace. */
  identities: 7001,
  /** Advancing a journey (engine tick, event fast path), per journey. */
  journey: 7002,
  /** The membership job (tiers, points expiry), per workspace. */
  memberJobs: 7006,
  /** Coupon lifecycle sync (redeemed, expired), per workspace. */
  couponSync: 7007,
  /** A new store's default workspace and demo data (second key 0): made by one process only. */
  firstStart: 7008,
  /** A person whose messages a dispatcher is claiming (second key: the person's key folded into 32 bits). */
  dispatchPerson: 7010,
  /** The profile jobs' turn (computed traits, predictions), per workspace. */
  profileJobs: 7009,
  /** Computed-trait refreshes, per workspace. */
  computedTraits: 7301,
} as const;

/**
 * Runs `fn` holding the advisory lock (`lock`, `key`) on a connection of its own, waiting for it
 * while another process holds it (PostgreSQL; the lock goes with the connection if the process
 * dies). On DuckDB, whose file has one writing process, it just runs `fn`.
 */
export async function whileLocked<T>(store: Store, lock: number, key: number, fn: () => Promise<T>): Promise<T> {
  if (store.dialect !== 'postgres') return fn();
  return store.session(async (s) => {
    await s.query('SELECT pg_advisory_lock($1, $2)', [lock, key]);
    try {
      return await fn();
    } finally {
      await s.query('SELECT pg_advisory_unlock($1, $2)', [lock, key]);
    }
  });
}
