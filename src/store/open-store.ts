import { join } from 'node:path';
import type { Clock } from '../core/clock.ts';
import { openDuckDbStore } from './duckdb/duckdb-store.ts';
import { migrate } from './migrations.ts';
import type { Store } from './port.ts';
import { openPostgresStore } from './postgres/postgres-store.ts';

export interface StoreConfig {
  /** `postgres://…` for PostgreSQL; empty for the embedded DuckDB file in `dataDir`. */
  url?: string;
  dataDir: string;
  dedupeDays: number;
  /** Where the store reports problems it recovers from (e.g. a dropped PostgreSQL connection). */
  warn?: (message: string) => void;
  /** DuckDB worker threads (default: one per core); PostgreSQL ignores it. */
  duckdbThreads?: number;
  /**
   * Load the in-memory dedupe window and identity cache (DuckDB) that events written through the
   * ingestion path need; default true. A command that writes no such events (import, keys) skips
   * them: on a large store they are seconds and gigabytes.
   */
  warmCaches?: boolean;
}

/** Opens the configured store and brings its schema up to date. */
export async function openStore(config: StoreConfig, clock: Clock): Promise<Store> {
  const url = config.url ?? '';
  let store: Store;
  if (/^postgres(ql)?:\/\//.test(url)) {
    store = await openPostgresStore({ url, onIdleError: (err) => config.warn?.(`PostgreSQL connection dropped: ${err.message}`) });
  } else {
    const file = url.startsWith('duckdb:') ? url.slice('duckdb:'.length) : join(config.dataDir, 'shopflow.duckdb');
    store = await openDuckDbStore({
      file,
      dedupeDays: config.dedupeDays,
      ...(config.duckdbThreads ? { threads: config.duckdbThreads } : {}),
    });
  }
  try {
    await migrate(store, clock.now());
    if (config.warmCaches !== false) {
      await store.messageIds.warm(store, clock.now());
      await store.identityCache?.warm(store);
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
