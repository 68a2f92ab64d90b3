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
  /** Computed-trait refreshes, per workspace. */
  computedTraits: 7301,
} as const;
